"""The conversation runner (`citybot eval-dialogue`) on citybot's own conversation set, through the real stack.

The set (tests/dialogue/conversations.yml) covers every kind: straight reports, a missing place, emergencies, other
matters, digressions, corrections, a second problem, follow-ups, duplicates and odd input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stack import CITYBOT, ROOT

pytestmark = pytest.mark.rasa

OWN_SET = Path(__file__).parent / "conversations.yml"


def eval_dialogue(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(CITYBOT), "eval-dialogue", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=1200)


def test_every_conversation_of_the_own_set_passes(stack):
    out = eval_dialogue(OWN_SET, "--rasa-url", stack.rasa_url, "--hub-url", stack.hub_url)
    sys.stdout.write(out.stdout[-20000:])
    total = sum(1 for line in OWN_SET.read_text(encoding="utf-8").splitlines() if line.startswith("- id:"))
    assert f"conversations: {total}/{total} passed" in out.stdout, out.stdout[-6000:] + out.stderr[-2000:]
    assert out.returncode == 0


def test_a_failing_conversation_is_reported_with_its_transcript(stack, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text('- id: X1\n  turns: ["你好"]\n  expect: {filed: [路灯故障]}\n', encoding="utf-8")
    out = eval_dialogue(bad, "--rasa-url", stack.rasa_url, "--hub-url", stack.hub_url)
    assert out.returncode == 1
    assert "FAIL X1" in out.stdout and "市民: 你好" in out.stdout and "机器人: " in out.stdout
    assert "conversations: 0/1 passed" in out.stdout


def test_a_file_that_is_not_a_conversation_set_gets_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("hello: [1, 2]\n", encoding="utf-8")
    out = eval_dialogue(bad, "--rasa-url", "http://127.0.0.1:9", "--hub-url", "http://127.0.0.1:9")
    assert out.returncode == 2 and "a conversation set is a YAML list" in out.stderr
