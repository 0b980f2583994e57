import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from stack import Stack, model_or_skip  # noqa: E402


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One dialogue stack (hub + action server + Rasa on loopback) for the tests of this directory."""
    model = model_or_skip()
    with Stack(tmp_path_factory.mktemp("stack"), model) as s:
        yield s
