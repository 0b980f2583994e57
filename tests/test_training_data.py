"""The NLU training data is consistent with the catalogue: every label exists, enough examples per 小类,
no example appears twice (Rasa would train on contradictions), and no annotation characters by accident."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from citybot import catalogue

DATA = Path(__file__).resolve().parent.parent / "data" / "nlu"
HELDOUT = Path(__file__).resolve().parent / "nlu" / "heldout_tickets.jsonl"  # never trained on
_ANNOTATION = re.compile(r"\[[^\]]+\]\((?:case_id|location|rating)\)")


def _blocks():
    for path in sorted(DATA.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in doc.get("nlu", []):
            if "intent" in block:
                examples = [ln.strip()[2:].strip() for ln in block["examples"].splitlines() if ln.strip().startswith("- ")]
                yield path.name, block, examples


def test_every_label_is_in_the_catalogue_with_enough_examples():
    cat = catalogue.load()
    per_sub: Counter = Counter()
    other = 0
    for name, block, examples in _blocks():
        meta = block.get("metadata") or {}
        if meta.get("intent_only") and not meta.get("subcategory"):
            continue  # intent examples without a 小类 ("我要投诉"): the category model does not see them
        if block["intent"] == "report_problem":
            code = meta.get("subcategory")
            assert cat.by_code(code), f"{name}: unknown subcategory {code!r}"
            per_sub[code] += 0 if meta.get("intent_only") else len(examples)
        elif block["intent"] == "not_city_management":
            assert meta.get("referral") in cat.referrals, f"{name}: unknown referral {meta.get('referral')!r}"
            other += len(examples)
    missing = {s.code: per_sub[s.code] for s in cat.subcategories() if per_sub[s.code] < 40}
    assert not missing, f"小类 with fewer than 40 examples: {missing}"
    assert other >= 300


def test_no_example_appears_twice():
    seen: dict[str, str] = {}
    clashes = []
    for name, block, examples in _blocks():
        label = f"{block['intent']}:{(block.get('metadata') or {})}"
        for ex in examples:
            key = re.sub(r"[\s，。！？!?,.、~～]", "", ex)
            if key in seen and seen[key] != label:
                clashes.append((ex, seen[key], label))
            seen.setdefault(key, label)
    assert not clashes, f"{len(clashes)} examples carry two labels, e.g. {clashes[:3]}"


@pytest.mark.parametrize("path", sorted(DATA.glob("*.yml")), ids=lambda p: p.name)
def test_brackets_are_only_entity_annotations(path):
    text = path.read_text(encoding="utf-8")
    doc = yaml.safe_load(text) or {}
    for block in doc.get("nlu", []):
        if "intent" not in block:  # regex and lookup blocks are patterns, not examples
            continue
        for line in (block.get("examples") or "").splitlines():
            stripped = _ANNOTATION.sub("", line)
            assert not re.search(r"[\[\]{}()]", stripped), f"{path.name}: stray bracket in {line!r}"


def test_heldout_tickets_are_not_training_data():
    """tests/nlu/heldout_tickets.jsonl measures generality (tests/nlu/test_nlu_heldout.py): none of it may be trained on."""
    def key(text: str) -> str:
        return re.sub(r"[\W_]+", "", text)

    records = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines()]
    assert len(records) >= 1000
    trained = {key(example) for _, _, examples in _blocks() for example in examples}
    leaked = [r["id"] for r in records if key(r["text"]) in trained]
    assert not leaked, f"held-out tickets found in data/nlu (move them out or write new ones): {leaked[:10]}"
