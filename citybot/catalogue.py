"""The category catalogue (data/categories.yml): 大类 -> 小类 with service codes, departments and time limits.

Loaded by the hub (its Open311 services), the NLU (its labels) and the bot alike. It imports only the
standard library and PyYAML so that it also runs inside the Rasa virtualenv (pydantic 1 there).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "categories.yml"

# The one label for "not a city-management matter".
OTHER = "其他"
LEVELS = ("街道", "区", "市")


class CatalogueError(ValueError):
    """The catalogue file is malformed."""


@dataclass(frozen=True)
class TimeLimit:
    """A handling limit in working time: either hours or days (working days)."""

    hours: int = 0
    days: int = 0

    def describe(self) -> str:
        return f"{self.hours}个工作小时" if self.hours else f"{self.days}个工作日"


@dataclass(frozen=True)
class Subcategory:
    code: str
    name: str
    category: str  # the 大类 name; Open311 service `group`
    keywords: tuple[str, ...]
    department: str
    level: str
    time_limit: TimeLimit
    retired: bool = False


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    description: str
    subcategories: tuple[Subcategory, ...]


@dataclass(frozen=True)
class Referral:
    line: str
    note: str


@dataclass(frozen=True)
class Catalogue:
    categories: tuple[Category, ...]
    referrals: dict[str, Referral] = field(default_factory=dict)

    @functools.cached_property
    def _by_code(self) -> dict[str, Subcategory]:
        return {s.code: s for c in self.categories for s in c.subcategories}

    @functools.cached_property
    def _by_name(self) -> dict[str, Subcategory]:
        return {s.name: s for c in self.categories for s in c.subcategories}

    @property
    def category_names(self) -> list[str]:
        return [c.name for c in self.categories]

    @property
    def labels(self) -> list[str]:
        """The classifier's top-level labels: the four 大类 and 其他."""
        return self.category_names + [OTHER]

    def subcategories(self, *, include_retired: bool = False) -> list[Subcategory]:
        return [s for s in self._by_code.values() if include_retired or not s.retired]

    def by_code(self, code: str) -> Subcategory | None:
        return self._by_code.get(code)

    def by_name(self, name: str) -> Subcategory | None:
        return self._by_name.get(name)

    def lookup(self, code_or_name: str) -> Subcategory | None:
        """A 小类 by its service code or its Chinese name."""
        return self.by_code(code_or_name) or self.by_name(code_or_name)

    def referral(self, key: str | None) -> Referral:
        return self.referrals.get(key or "default") or self.referrals["default"]


def _subcategory(raw: dict, category: str) -> Subcategory:
    try:
        limit = raw["time_limit"]
        time_limit = TimeLimit(hours=int(limit.get("hours", 0)), days=int(limit.get("days", 0)))
        if bool(time_limit.hours) == bool(time_limit.days):
            raise CatalogueError(f"{raw['code']}: time_limit needs exactly one of hours or days")
        level = raw.get("level", "街道")
        if level not in LEVELS:
            raise CatalogueError(f"{raw['code']}: level must be one of {LEVELS}")
        return Subcategory(
            code=str(raw["code"]),
            name=str(raw["name"]),
            category=category,
            keywords=tuple(str(k) for k in raw.get("keywords", ())),
            department=str(raw["department"]),
            level=level,
            time_limit=time_limit,
            retired=bool(raw.get("retired", False)),
        )
    except KeyError as missing:
        raise CatalogueError(f"subcategory {raw!r} lacks {missing}") from None


def parse(doc: dict) -> Catalogue:
    categories = []
    for raw in doc.get("categories", ()):
        subs = tuple(_subcategory(s, raw["name"]) for s in raw.get("subcategories", ()))
        categories.append(Category(raw["code"], raw["name"], raw.get("description", ""), subs))
    codes = [s.code for c in categories for s in c.subcategories]
    if len(codes) != len(set(codes)):
        raise CatalogueError("duplicate service codes in the catalogue")
    referrals = {k: Referral(v["line"], v.get("note", "")) for k, v in (doc.get("referrals") or {}).items()}
    if "default" not in referrals:
        referrals["default"] = Referral("12345 政务服务便民热线", "")
    return Catalogue(tuple(categories), referrals)


@functools.lru_cache(maxsize=8)
def load(path: str | Path | None = None) -> Catalogue:
    """Load (and cache) the catalogue; `path` defaults to the repository's data/categories.yml."""
    p = Path(path) if path else DEFAULT_PATH
    with p.open(encoding="utf-8") as fh:
        return parse(yaml.safe_load(fh))
