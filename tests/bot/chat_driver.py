"""Drive `citybot chat` (or `citybot run`, whose foreground is the chat) as a subprocess with piped stdin/stdout,
the way a newcomer types into it. Used by tests/bot/test_terminal.py and tests/test_supervisor.py."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from pathlib import Path

CASE_ID = re.compile(r"案件编号[：:]\s*(\d{8,})")
BUTTON = re.compile(r"\[(\d+)\] (\S+)")


class ChatProcess:
    def __init__(self, argv: list[str], *, env: dict, cwd: Path):
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, encoding="utf-8", bufsize=1)
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.mark = 0  # output before this line index belongs to earlier turns

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._q.put(line)
        self._q.put(None)

    def _drain(self, wait: float) -> bool:
        """Move output into `lines`, waiting up to `wait` s for the first line; False at end of output."""
        try:
            line = self._q.get(timeout=wait)
        except queue.Empty:
            return True
        while True:
            if line is None:
                return False
            self.lines.append(line)
            try:
                line = self._q.get_nowait()
            except queue.Empty:
                return True

    def output(self, since: int = 0) -> str:
        self._drain(0)
        return "".join(self.lines[since:])

    def wait_for(self, pattern: str | re.Pattern, *, timeout: float = 120, since: int | None = None) -> re.Match:
        """Wait until the output (from line `since`, default: the last thing said) matches `pattern`."""
        rx = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
        start = self.mark if since is None else since
        deadline = time.monotonic() + timeout
        alive = True
        while True:
            m = rx.search("".join(self.lines[start:]))
            if m:
                return m
            if not alive or time.monotonic() > deadline:
                raise AssertionError(f"{rx.pattern!r} not seen in {timeout:.0f}s; output:\n{''.join(self.lines)}")
            alive = self._drain(min(1.0, max(0.05, deadline - time.monotonic())))

    def say(self, text: str) -> None:
        self._drain(0)
        self.mark = len(self.lines)
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        self.proc.stdin.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


TURN_END = re.compile(r"案件编号[：:]\s*\d{8,}|已有市民反映|在哪里|确认提交|输入编号选择")


def drive_report(chat: ChatProcess, text: str, *, place: str, choose: str = "井盖") -> str:
    """Report `text`, answer what the bot asks (category buttons, place, confirmation) until a case number
    appears; returns it."""
    chat.say(text)
    for _ in range(8):
        chat.wait_for(TURN_END, timeout=180)
        time.sleep(0.5)  # the rest of this turn's replies
        said = chat.output(chat.mark)
        m = CASE_ID.search(said)
        if m:
            return m.group(1)
        buttons = BUTTON.findall(said)
        if "确认提交" in said:
            pick = next((n for n, title in buttons if "确认" in title), None)
            chat.say(pick or "确认")
        elif "在哪里" in said:
            chat.say(place)
        elif buttons:
            chat.say(next((n for n, title in buttons if choose in title), buttons[0][0]))
        else:
            raise AssertionError(f"unexpected bot turn:\n{said}")
    raise AssertionError(f"the report was not filed:\n{chat.output()}")
