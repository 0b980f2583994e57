"""The dialogue stack for tests (citybot.stack), and the skip when it cannot run here."""

from __future__ import annotations

from pathlib import Path

from citybot.stack import CITYBOT, RASA, ROOT, Stack, _wait, find_model, free_port, png  # noqa: F401


def model_or_skip() -> Path:
    """The model for a test that needs the real Rasa stack; skips with the reason when it cannot run here."""
    import pytest

    if not RASA.exists():
        pytest.skip(f"the Rasa virtualenv is missing ({RASA})")
    model = find_model()
    if model is None:
        pytest.skip("no trained model with the dialogue domain (train one: `citybot train`)")
    return model
