"""Fixtures for the NLU tests: a trained model (`citybot train`, a no-op when up to date) and one worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_VENV = ROOT / ".venv-rasa"


def rasa_python() -> Path:
    return RASA_VENV / "bin" / "python"


def require_rasa_venv() -> None:
    if not rasa_python().exists():
        pytest.skip(f"the Rasa virtualenv is missing ({RASA_VENV}); `make rasa-venv` creates it")


@pytest.fixture(scope="session")
def trained_model() -> Path:
    require_rasa_venv()
    from nlu.cli import train

    return train(quiet=True)


class SyncNLU:
    """NLUClient driven from synchronous tests: its own event loop, one worker for the whole session."""

    def __init__(self, model: Path):
        from nlu.client import NLUClient

        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(NLUClient.start(model))

    def parse(self, text: str) -> dict:
        return self.loop.run_until_complete(self.client.parse(text))

    def parse_many(self, texts: list[str]) -> list[dict]:
        return self.loop.run_until_complete(self.client.parse_many(texts))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(scope="session")
def nlu(trained_model: Path):
    client = SyncNLU(trained_model)
    yield client
    client.close()
