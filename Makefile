# citybot: `make run` starts everything on one machine; `make test` runs the test suite.
# Both bootstrap what they need, idempotently: the app virtualenv (.venv), the Rasa virtualenv (.venv-rasa)
# and a trained NLU/dialogue model (models/, retrained only when its data or config changed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
RASA_VENV := .venv-rasa
PIP_FLAGS := -q --disable-pip-version-check
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test train venv rasa-venv bench clean lint

run: train
	$(VENV)/bin/citybot run

test: train
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

train: venv rasa-venv
	$(VENV)/bin/citybot train

venv: $(VENV)/.installed
rasa-venv: $(RASA_VENV)/.installed

$(VENV)/.installed: requirements/app.lock requirements/test.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "citybot needs Python 3.11 (set PYTHON=...)")'
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements/app.lock -r requirements/test.lock
	$(VENV)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

# Rasa 3.6 declares Python < 3.11; the lock file pins a set verified to train and serve on 3.11
# (see requirements/README.md). --no-deps is safe because every version is pinned.
$(RASA_VENV)/.installed: requirements/rasa.lock
	test -x $(RASA_VENV)/bin/python || $(PYTHON) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install $(PIP_FLAGS) --no-deps --ignore-requires-python -r requirements/rasa.lock
	touch $@

bench: train
	for b in bench/*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(RASA_VENV) models var .pytest_cache
