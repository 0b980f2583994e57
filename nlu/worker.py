"""The NLU worker: `python -m nlu.worker [--model models/citybot.tar.gz]`, run inside .venv-rasa.

Loads the trained Rasa model once, in process, then answers JSON lines on stdin with JSON lines on stdout:
    request  {"id": any, "text": "..."}
    answer   {"id": ..., <nlu.shape fields>}           or   {"id": ..., "error": "..."} for a malformed line
The first line written is {"ready": true, "model": ..., "load_s": ...} (or {"ready": false, "error": ...}).
Anything Rasa/TensorFlow print goes to stderr; stdout carries only answers. Threads are pinned to one core.
"""

from __future__ import annotations

import os

# Before TensorFlow is imported: one core, quiet.
for _key, _value in {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "OMP_NUM_THREADS": "1",
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}.items():
    os.environ.setdefault(_key, _value)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "citybot.tar.gz"


def _answer_stream():
    """A private handle on the real stdout; fd 1 itself is pointed at stderr so stray prints cannot corrupt it."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def handle_line(line: str, parse) -> dict:
    from nlu.shape import empty_answer
    from nlu.text import normalize

    try:
        request = json.loads(line)
    except ValueError as exc:
        return {"id": None, "error": f"invalid JSON: {exc}"}
    if not isinstance(request, dict):
        return {"id": None, "error": "a request must be a JSON object with a \"text\" string"}
    rid = request.get("id")
    text = request.get("text")
    if not isinstance(text, str):
        return {"id": rid, "error": "\"text\" must be a string"}
    # "/intent" would be taken as a command by Rasa; a citizen's text never is one.
    text = text.lstrip("/")
    if not normalize(text):
        return {"id": rid, **empty_answer(text)}
    try:
        return {"id": rid, **parse(text)}
    except Exception as exc:  # noqa: BLE001 - one bad message must not end the worker
        logging.getLogger("nlu.worker").exception("parse failed")
        return {"id": rid, "error": f"internal error: {type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlu.worker")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    args = parser.parse_args(argv)
    out = _answer_stream()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for name in ("rasa", "tensorflow", "absl", "jieba", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:  # Rasa logs every parse through structlog at debug level unless its CLI configured it
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    except ImportError:
        pass

    started = time.perf_counter()
    try:
        from rasa.core.agent import Agent

        from nlu.shape import shape

        agent = Agent.load(args.model)
        loop = asyncio.new_event_loop()

        def parse(text: str) -> dict:
            return shape(loop.run_until_complete(agent.parse_message(text)), text)

        parse("预热")  # the first call builds TF functions
    except Exception as exc:  # noqa: BLE001 - reported to the client, which raises
        out.write(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}, ensure_ascii=False) + "\n")
        return 1
    load_s = round(time.perf_counter() - started, 3)
    out.write(json.dumps({"ready": True, "model": args.model, "load_s": load_s, "pid": os.getpid()}) + "\n")

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = handle_line(line, parse)
        except Exception as exc:  # noqa: BLE001 - one bad message must not end the worker
            logging.getLogger("nlu.worker").exception("parse failed")
            answer = {"id": None, "error": f"internal error: {type(exc).__name__}: {exc}"}
        if "error" in answer:
            print(f"nlu.worker: {answer['error']}", file=sys.stderr)
        out.write(json.dumps(answer, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
