# citybot's images: one family, built from the lock files on one Python (3.11).
#
#   target `app`  (the default): hub, actions, bot, notifier, staff CLI, migrations -- requirements/app.lock
#   target `rasa`: the Rasa server with citybot's NLU components -- requirements/rasa.lock, the same set as
#                  .venv-rasa. The model is trained in this image's own environment at build time (stage
#                  rasa-train), so the environment that trains is the one that serves.
#   target `ingest`: the app plus Rasa's environment and that model, for `citybot ingest` / `classify` / `eval`
#                  (their NLU worker runs in /opt/rasa, as locally in .venv-rasa).
#
#   docker compose build                  # both, as docker-compose.yml names them
#   docker build --target rasa -t citybot-rasa .
#
# tests/test_images.py reads this file: it builds the file set each target copies and runs every command's
# --help and every module's import over exactly those files, and checks each image's imports against its lock.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS python
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    HOME=/home/citybot
RUN useradd --system --create-home --home-dir /home/citybot citybot
WORKDIR /app

# -- Rasa -----------------------------------------------------------------------------------------------------
# Rasa 3.6 declares Python < 3.11; rasa.lock pins a set verified on 3.11 (requirements/README.md), installed
# with --no-deps. A compiler is needed for the one pinned package without a cp311 wheel (multidict 5.2).
FROM python AS rasa-venv
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
COPY requirements/rasa.lock requirements/rasa.lock
RUN python -m venv /opt/rasa \
    && /opt/rasa/bin/pip install --no-deps --ignore-requires-python -r requirements/rasa.lock

FROM python AS rasa-env
COPY --from=rasa-venv /opt/rasa /opt/rasa
ENV PATH=/opt/rasa/bin:$PATH PYTHONPATH=/app TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0
# What the pipeline's custom components import: nlu/ (components, text, location, category model, the jieba
# dictionary and gazetteer), the catalogue and the place normaliser (stdlib + yaml only) with its data.
COPY citybot/__init__.py citybot/catalogue.py citybot/places.py citybot/retry.py citybot/
COPY data/categories.yml data/categories.yml
COPY nlu nlu
COPY endpoints.docker.yml credentials.yml ./

FROM rasa-env AS rasa-train
COPY domain domain
COPY data data
RUN rasa train --config nlu/config.yml --domain domain --data data/nlu data/rules data/stories \
        --out models --fixed-model-name citybot

FROM rasa-env AS rasa
COPY --from=rasa-train /app/models models
USER citybot
EXPOSE 5005
ENTRYPOINT ["rasa"]
CMD ["run", "--enable-api", "--model", "models/citybot.tar.gz", "--endpoints", "endpoints.docker.yml", \
     "--credentials", "credentials.yml"]

# -- the application ------------------------------------------------------------------------------------------
FROM python AS app-files
COPY requirements/app.lock requirements/app.lock
RUN pip install -r requirements/app.lock
COPY pyproject.toml README.md ./
COPY citybot citybot
COPY hub hub
COPY hubapi hubapi
COPY hotline hotline
COPY nlu nlu
COPY actions actions
COPY bot bot
COPY data data
RUN pip install --no-deps -e . && mkdir -p /app/var && chown citybot /app/var

# hotline ingestion: the NLU worker runs with Rasa's environment and the model trained in it
FROM app-files AS ingest
COPY --from=rasa-venv /opt/rasa /opt/rasa
COPY --from=rasa-train /app/models models
ENV RASA_VENV=/opt/rasa TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0
USER citybot
ENTRYPOINT ["citybot"]
CMD ["ingest", "--help"]

FROM app-files AS app
USER citybot
EXPOSE 8311 5055 8080
ENTRYPOINT ["citybot"]
CMD ["--help"]
