"""The one answer shape of the NLU, whichever way it was reached (worker process or Rasa's /model/parse):

    {"text", "intent": {"name", "confidence"}, "intent_ranking": [...top 5], "entities": [...],
     "category": {"category", "subcategory", "service_code", "confidence", "alternatives", "referral"},
     "location": {"text", "city", "district", "road", "cross_road", "number", "landmark", "position"} | None,
     "emergency": {"kinds", "lines", "evidence", "source"} | None}

Standard library only (used in both virtualenvs).
"""

from __future__ import annotations

from typing import Any

OTHER = "其他"
CATEGORIES = ("市容环境", "街面秩序", "园林绿化", "市政设施", OTHER)


def empty_category() -> dict:
    return {"category": OTHER, "subcategory": None, "service_code": None, "confidence": 0.0,
            "alternatives": [], "referral": None}


def shape(parse_data: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    intent = parse_data.get("intent") or {}
    category = parse_data.get("category") or empty_category()
    if category.get("category") not in CATEGORIES:
        category = {**empty_category(), "confidence": 0.0}
    return {
        "text": parse_data.get("text", text),
        "intent": {"name": intent.get("name"), "confidence": float(intent.get("confidence") or 0.0)},
        "intent_ranking": [
            {"name": r.get("name"), "confidence": float(r.get("confidence") or 0.0)}
            for r in (parse_data.get("intent_ranking") or [])[:5]
        ],
        "entities": [
            {k: v for k, v in e.items() if k not in ("processors",)} for e in parse_data.get("entities") or []
        ],
        "category": category,
        "location": parse_data.get("location"),
        "emergency": parse_data.get("emergency"),
    }


def empty_answer(text: str = "") -> dict[str, Any]:
    """The answer for a message with nothing to understand (empty, whitespace, control characters only)."""
    return {"text": text, "intent": {"name": None, "confidence": 0.0}, "intent_ranking": [], "entities": [],
            "category": empty_category(), "location": None, "emergency": None}
