"""The custom actions' words come from the domain's responses (domain/texts.yml, the one home of every sentence the
dialogue says); this module renders them. An action chooses a response and fills its `{name}` values with facts
(case numbers, names, dates, places), so a wording is changed in the domain, never in code.

Rendering happens here rather than in Rasa so that one message can join a few responses (the emergency line and
its advice, a case's status and its details) and so that action tests see the words the citizen will see.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

DOMAIN_DIR = Path(__file__).resolve().parent.parent / "domain"


class Texts:
    def __init__(self, responses: dict[str, list[dict]]):
        self.responses = responses

    @classmethod
    def load(cls, domain_dir: Path = DOMAIN_DIR) -> "Texts":
        responses: dict[str, list[dict]] = {}
        for path in sorted(Path(domain_dir).glob("*.yml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            responses.update(doc.get("responses") or {})
        return cls(responses)

    def _variant(self, name: str) -> dict:
        try:
            return self.responses[name][0]
        except (KeyError, IndexError):
            raise KeyError(f"no response {name!r} in the domain") from None

    def render(self, name: str, **values: Any) -> str:
        """The response's text with its `{name}` values filled (a missing value is an error, not a silent '{x}')."""
        return str(self._variant(name).get("text") or "").format_map(values)

    def buttons(self, name: str) -> list[dict]:
        return [dict(b) for b in self._variant(name).get("buttons") or ()]


@functools.lru_cache(maxsize=1)
def get() -> Texts:
    """The domain's responses, read once on first use."""
    return Texts.load()


def render(name: str, **values: Any) -> str:
    return get().render(name, **values)


def say(dispatcher, name: str, *, buttons: list[dict] | None = None, before: str = "", **values: Any) -> str:
    """Utter the response `name` (its own buttons unless others are given), after the text `before` (another
    rendered response) in the same message; returns the text said."""
    text = before + render(name, **values)
    dispatcher.utter_message(text=text, buttons=get().buttons(name) if buttons is None else buttons)
    return text
