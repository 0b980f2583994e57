"""The dialogue data in Rasa itself: `rasa data validate` on the merged domain, and the test stories with
`rasa test --fail-on-prediction-errors` against a trained model."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from stack import RASA, ROOT, find_model

pytestmark = pytest.mark.rasa


def domain_dir(tmp_path):
    """domain/ (domain/nlu.yml + domain/dialogue.yml); a checkout from before the move has root domain.yml."""
    if (ROOT / "domain" / "nlu.yml").exists():
        return ROOT / "domain"
    d = tmp_path / "domain"
    d.mkdir()
    shutil.copy(ROOT / "domain.yml", d / "nlu.yml")
    shutil.copy(ROOT / "domain" / "dialogue.yml", d / "dialogue.yml")
    return d


def rasa(*args, cwd) -> subprocess.CompletedProcess:
    if not RASA.exists():
        pytest.skip(f"the Rasa virtualenv is missing ({RASA})")
    return subprocess.run([str(RASA), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=280,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_rasa_data_validate(tmp_path):
    data = [ROOT / "data" / d for d in ("nlu", "rules", "stories")]
    out = rasa("data", "validate", "--config", ROOT / "nlu/config.yml", "--domain", domain_dir(tmp_path),
               "--data", *data, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "No story structure conflicts found" in out.stdout + out.stderr


def test_stories_predict_without_errors(tmp_path):
    model = find_model()
    if model is None:
        pytest.skip("no trained model with the dialogue domain (train one; see docs/dialogue.md)")
    out = rasa("test", "core", "-m", model, "--stories", ROOT / "tests/dialogue/stories",
               "--fail-on-prediction-errors", "--out", tmp_path / "results", cwd=tmp_path)
    failed = (tmp_path / "results" / "failed_test_stories.yml")
    detail = failed.read_text(encoding="utf-8") if failed.exists() else ""
    assert out.returncode == 0, detail[-3000:] + out.stdout[-2000:] + out.stderr[-2000:]
