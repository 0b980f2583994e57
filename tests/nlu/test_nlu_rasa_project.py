"""Rasa's own checks of the project, run in .venv-rasa: data validation and a fast NLU cross-validation."""

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.rasa, pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
RASA_VENV = ROOT / ".venv-rasa"


def require_rasa_venv() -> None:
    if not (RASA_VENV / "bin" / "rasa").exists():
        pytest.skip(f"the Rasa virtualenv is missing ({RASA_VENV}); `make rasa-venv` creates it")


def rasa(args, timeout, cwd=ROOT):
    require_rasa_venv()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([str(RASA_VENV / "bin" / "rasa"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def data_dirs():
    return [d for d in ("data/nlu", "data/rules", "data/stories") if (ROOT / d).is_dir()]


def test_rasa_data_validate():
    proc = rasa(["data", "validate", "--domain", "domain", "--config", "nlu/config.yml", "--data", *data_dirs()], 300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


def test_rasa_nlu_cross_validation_fast(tmp_path):
    out = tmp_path / "results"
    proc = rasa(["test", "nlu", "--cross-validation", "--folds", "2", "--config", "nlu/config.fast.yml",
                 "--nlu", "data/nlu", "--domain", "domain", "--out", str(out)], 600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    # report_problem vs not_city_management must be learnt well even by the fast config
    assert report["report_problem"]["f1-score"] > 0.8
    assert report["weighted avg"]["f1-score"] > 0.7
