"""`citybot train`, `citybot classify` and `citybot eval` (app venv; Rasa itself runs in .venv-rasa).

train     rasa train in .venv-rasa, only when the content hash of the NLU/dialogue inputs changed (--force)
classify  JSONL {"id","text"} (file or stdin) -> JSONL {"id","category","subcategory","confidence",
          "alternatives","location"}; a malformed line gets {"id", "error"} and a message on stderr
eval      accuracy, macro-F1, per-class P/R/F1 and the confusion matrix for JSONL {"text","label"} (--json);
          小类 accuracy where records have "subcategory" (or from --subtypes, joined by id); place scores with
          --places (records {"id","spans","main","none"}, the scoring rule of the evaluation README)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "citybot"
# What the trained model depends on; a change to any of these retrains.
HASHED = (
    "data/nlu", "data/rules", "data/stories", "domain", "nlu/config.yml", "data/categories.yml",
    "nlu/components", "nlu/text.py", "nlu/location.py", "nlu/category_model.py", "nlu/dictgen.py", "nlu/dict",
    "nlu/gazetteer", "citybot/catalogue.py", "citybot/places.py", "requirements/rasa.lock",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the Rasa model when its data or config changed")
    p.add_argument("--force", action="store_true", help="train even when the model is up to date")
    p.set_defaults(func=_train)

    p = sub.add_parser("classify", help="classify JSONL {id,text} messages (category, subcategory, location)")
    p.add_argument("file", nargs="?", help="input JSONL (default: stdin)")
    p.add_argument("--model", help="model archive (default models/citybot.tar.gz)")
    p.set_defaults(func=_classify)

    p = sub.add_parser("eval", help="accuracy, macro-F1, per-class F1 and confusion for JSONL {text,label}")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--model", help="model archive (default models/citybot.tar.gz)")
    p.add_argument("--subtypes", metavar="FILE", help="JSONL {id, subcategory}: gold 小类 joined to FILE by id")
    p.add_argument("--places", metavar="FILE", help="JSONL {id, spans, main, none}: gold places joined by id")
    p.set_defaults(func=_eval)


# -- train ---------------------------------------------------------------------------------------------

def _settings_paths() -> tuple[Path, Path]:
    from citybot.settings import get_settings

    s = get_settings()
    return Path(s.models_dir), Path(s.rasa_venv)


def content_hash(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in HASHED:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def model_path(models_dir: Path | None = None) -> Path:
    return (models_dir or _settings_paths()[0]) / f"{MODEL_NAME}.tar.gz"


def train(force: bool = False, quiet: bool = False) -> Path:
    """Train when needed; returns the model archive path. Raises RuntimeError when rasa train fails."""
    from nlu import dictgen

    models_dir, rasa_venv = _settings_paths()
    dictgen.write()  # the jieba dictionary follows the catalogue
    digest = content_hash()
    archive, stamp = model_path(models_dir), models_dir / f"{MODEL_NAME}.hash"
    if not force and archive.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        if not quiet:
            print(f"model up to date: {archive}")
        return archive
    rasa = rasa_venv / "bin" / "rasa"
    if not rasa.exists():
        raise RuntimeError(f"{rasa} is missing; run `make rasa-venv`")
    data = [str(ROOT / d) for d in ("data/nlu", "data/rules", "data/stories") if (ROOT / d).is_dir()]
    cmd = [str(rasa), "train", "--config", "nlu/config.yml", "--domain", "domain", "--data", *data,
           "--out", str(models_dir), "--fixed-model-name", MODEL_NAME, "--force"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    models_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"training the NLU model ({archive.name}) ...", file=sys.stderr)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0 or not archive.exists():
        sys.stderr.write(proc.stdout[-6000:])
        raise RuntimeError(f"rasa train failed (exit {proc.returncode})")
    stamp.write_text(digest + "\n")
    print(f"trained {archive} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return archive


def _train(args: argparse.Namespace) -> int:
    try:
        train(force=args.force)
    except RuntimeError as exc:
        print(f"citybot train: {exc}", file=sys.stderr)
        return 1
    return 0


# -- classify / eval --------------------------------------------------------------------------------------

def read_jsonl(lines, need: tuple[str, ...]) -> list[tuple[int, dict | None, str | None]]:
    """[(line number, record or None, error or None)] for the non-blank lines."""
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            out.append((n, None, f"line {n}: invalid JSON ({exc})"))
            continue
        if not isinstance(record, dict):
            out.append((n, None, f"line {n}: expected a JSON object"))
            continue
        missing = [k for k in need if not isinstance(record.get(k), str)]
        if missing:
            out.append((n, record, f"line {n}: {', '.join(missing)} must be a string"))
            continue
        out.append((n, record, None))
    return out


def classify_texts(texts: list[str], model: str | None = None) -> list[dict]:
    """Full NLU answers for many texts via one worker process."""
    import asyncio

    from nlu.client import NLUClient

    async def run() -> list[dict]:
        client = await NLUClient.start(model or model_path())
        try:
            return await client.parse_many(texts)
        finally:
            await client.close()

    return asyncio.run(run()) if texts else []


def _result(record_id, answer: dict) -> dict:
    c = answer["category"]
    return {"id": record_id, "category": c["category"], "subcategory": c["subcategory"],
            "confidence": c["confidence"], "alternatives": c["alternatives"], "location": answer["location"]}


def _classify(args: argparse.Namespace) -> int:
    from nlu.client import NLUError

    if args.file:
        try:
            lines = Path(args.file).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            print(f"citybot classify: {exc}", file=sys.stderr)
            return 2
    else:
        lines = sys.stdin
    records = read_jsonl(lines, ("text",))
    good = [(n, r) for n, r, e in records if e is None]
    try:
        answers = iter(classify_texts([r["text"] for _, r in good], args.model))
    except NLUError as exc:
        print(f"citybot classify: {exc}", file=sys.stderr)
        return 1
    failures = 0
    for n, record, error in records:
        rid = record.get("id") if isinstance(record, dict) else None
        if error:
            failures += 1
            print(f"citybot classify: {error}", file=sys.stderr)
            row = {"id": rid, "error": error}
        else:
            row = _result(rid, next(answers))
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 1 if failures and failures == len(records) else 0


def _eval(args: argparse.Namespace) -> int:
    from citybot import catalogue
    from nlu.client import NLUError
    from nlu.metrics import evaluate, place_scores, render, render_extra, subcategory_accuracy

    try:
        lines = Path(args.file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        print(f"citybot eval: {exc}", file=sys.stderr)
        return 2
    records = read_jsonl(lines, ("text", "label"))
    for _, _, error in records:
        if error:
            print(f"citybot eval: skipped {error}", file=sys.stderr)
    good = [r for _, r, e in records if e is None]
    if not good:
        print("citybot eval: no usable lines", file=sys.stderr)
        return 2
    try:
        answers = classify_texts([r["text"] for r in good], args.model)
    except NLUError as exc:
        print(f"citybot eval: {exc}", file=sys.stderr)
        return 1
    report = evaluate([r["label"] for r in good], [a["category"]["category"] for a in answers],
                      catalogue.load().labels)
    try:
        subtypes = _by_id(args.subtypes) if args.subtypes else {}
        gold_places = _by_id(args.places) if args.places else {}
    except (OSError, ValueError) as exc:
        print(f"citybot eval: {exc}", file=sys.stderr)
        return 2
    for record in good:
        if "subcategory" not in record and str(record.get("id")) in subtypes:
            record["subcategory"] = subtypes[str(record.get("id"))].get("subcategory")
    with_sub = [(r, a) for r, a in zip(good, answers) if isinstance(r.get("subcategory"), str)]
    if with_sub:
        report["subcategory"] = subcategory_accuracy([r["subcategory"] for r, _ in with_sub],
                                                     [a["category"]["subcategory"] for _, a in with_sub])
    if args.places:
        pairs = [(gold_places[str(r.get("id"))], a) for r, a in zip(good, answers) if str(r.get("id")) in gold_places]
        report["places"] = place_scores([g for g, _ in pairs],
                                        [(a.get("location") or {}).get("text") for _, a in pairs])
    print(json.dumps(report, ensure_ascii=False) if args.json else render(report) + render_extra(report))
    return 0


def _by_id(path: str) -> dict[str, dict]:
    """A JSONL file of records with an "id", keyed by it (as a string)."""
    out = {}
    for n, record, error in read_jsonl(Path(path).read_text(encoding="utf-8").splitlines(), ()):
        if error or "id" not in record:
            raise ValueError(f"{path}: line {n}: {error or 'no id'}")
        out[str(record["id"])] = record
    return out
