"""The NLU worker: `python -m nlu.worker [--model models/citybot.tar.gz]`, run inside .venv-rasa.

Loads the trained Rasa model once, in process, then answers JSON lines on stdin with JSON lines on stdout:
    request  {"id": any, "text": "..."}
    answer   {"id": ..., <nlu.shape fields>}           or   {"id": ..., "error": "..."} for a malformed line
    request  {"id": any, "texts": ["...", ...]}         a batch, run through the pipeline as one list
    answer   {"id": ..., "answers": [{<nlu.shape fields>} | {"error": "..."}, ...]}   (same order)
A batch answers exactly what the texts would one by one: every component sees the list at once (the featurizers,
the location extractor and the category model vectorise over it), except DIET, which Rasa runs one message at a
time (batching it changes confidences in the 7th decimal, float32 GEMM vs GEMV, so it is left alone).
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


def _prepare(text) -> tuple[str | None, dict | None]:
    """(text for the model, None) or (None, the answer without the model): not a string, or nothing to parse."""
    from nlu.shape import empty_answer
    from nlu.text import normalize

    if not isinstance(text, str):
        return None, {"error": "\"text\" must be a string"}
    # "/intent" would be taken as a command by Rasa; a citizen's text never is one.
    text = text.lstrip("/")
    if not normalize(text):
        return None, empty_answer(text)
    return text, None


def _internal_error(exc: Exception) -> dict:
    logging.getLogger("nlu.worker").exception("parse failed")
    return {"error": f"internal error: {type(exc).__name__}: {exc}"}


def parse_texts(texts: list, parse, parse_batch=None) -> list[dict]:
    """Answers for `texts`, in order; one bad text gets an error answer, never the others."""
    prepared = [_prepare(t) for t in texts]
    answers: list[dict | None] = [answer for _, answer in prepared]
    todo = [i for i, (text, _) in enumerate(prepared) if text is not None]
    if parse_batch is not None and len(todo) > 1:
        try:
            for i, answer in zip(todo, parse_batch([prepared[i][0] for i in todo])):
                answers[i] = answer
            todo = []
        except Exception:  # noqa: BLE001 - retried one by one below, so only the culprit gets the error
            logging.getLogger("nlu.worker").warning("batch parse failed; parsing its texts one by one")
    for i in todo:
        try:
            answers[i] = parse(prepared[i][0])
        except Exception as exc:  # noqa: BLE001 - one bad message must not end the worker
            answers[i] = _internal_error(exc)
    return answers


def handle_line(line: str, parse, parse_batch=None) -> dict:
    try:
        request = json.loads(line)
    except ValueError as exc:
        return {"id": None, "error": f"invalid JSON: {exc}"}
    if not isinstance(request, dict):
        return {"id": None, "error": "a request must be a JSON object with a \"text\" string"}
    rid = request.get("id")
    if "texts" in request:
        texts = request["texts"]
        if not isinstance(texts, list):
            return {"id": rid, "error": "\"texts\" must be a list of strings"}
        return {"id": rid, "answers": parse_texts(texts, parse, parse_batch)}
    return {"id": rid, **parse_texts([request.get("text")], parse)[0]}


def make_parsers(agent, loop):
    """(parse one text, parse a list of texts): both answer in the nlu.shape form."""
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT

    from nlu.shape import shape

    processor = agent.processor

    def parse(text: str) -> dict:
        return shape(loop.run_until_complete(agent.parse_message(text)), text)

    def parse_batch(texts: list[str]) -> list[dict]:
        # What MessageProcessor.parse_message does for one message, for a list: the NLU graph takes a list of
        # user messages, so each component runs once over all of them.
        messages = [UserMessage(text) for text in texts]
        tracker = DialogueStateTracker.from_events(messages[0].sender_id, [])
        target = processor.model_metadata.nlu_target
        results = processor.graph_runner.run(inputs={PLACEHOLDER_MESSAGE: messages, PLACEHOLDER_TRACKER: tracker},
                                             targets=[target])
        parsed = results[target]
        if len(parsed) != len(texts):
            raise RuntimeError(f"the pipeline returned {len(parsed)} messages for {len(texts)}")
        answers = []
        for text, message in zip(texts, parsed):
            data = {TEXT: "", INTENT: {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, ENTITIES: []}
            data.update(message.as_dict(only_output_properties=True))
            processor._update_full_retrieval_intent(data)
            answers.append(shape(data, text))
        return answers

    return parse, parse_batch


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

        agent = Agent.load(args.model)
        parse, parse_batch = make_parsers(agent, asyncio.new_event_loop())
        parse("预热")  # the first call builds TF functions
        parse_batch(["预热", "路灯坏了"])
    except Exception as exc:  # noqa: BLE001 - reported to the client, which raises
        out.write(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}, ensure_ascii=False) + "\n")
        return 1
    load_s = round(time.perf_counter() - started, 3)
    out.write(json.dumps({"ready": True, "model": args.model, "load_s": load_s, "pid": os.getpid()}) + "\n")

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = handle_line(line, parse, parse_batch)
        except Exception as exc:  # noqa: BLE001 - one bad message must not end the worker
            logging.getLogger("nlu.worker").exception("parse failed")
            answer = {"id": None, "error": f"internal error: {type(exc).__name__}: {exc}"}
        for item in [answer, *answer.get("answers", ())]:
            if "error" in item:
                print(f"nlu.worker: {item['error']}", file=sys.stderr)
        out.write(json.dumps(answer, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
