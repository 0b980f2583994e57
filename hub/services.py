"""The hub's Open311 services: one per 小类 of the catalogue, with attribute definitions from data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from citybot.catalogue import Catalogue, Subcategory

ATTRIBUTES_FILE = Path(__file__).with_name("service_attributes.yml")
MAX_ATTRIBUTE_CHARS = 500


@dataclass(frozen=True)
class Services:
    catalogue: Catalogue
    attributes: dict[str, list[dict]]  # service_code -> attribute definitions

    @classmethod
    def build(cls, catalogue: Catalogue, attributes_file: Path = ATTRIBUTES_FILE) -> Services:
        doc = yaml.safe_load(attributes_file.read_text(encoding="utf-8")) or {}
        common = doc.get("all") or []
        attrs = {s.code: [*common, *(doc.get(s.code) or [])] for s in catalogue.subcategories(include_retired=True)}
        return cls(catalogue, attrs)

    def get(self, code: str) -> Subcategory | None:
        sub = self.catalogue.by_code(code)
        return sub if sub and not sub.retired else None

    def listing(self) -> list[dict]:
        return [{"service_code": s.code, "service_name": s.name, "description": f"{s.category} - {s.name}",
                 "metadata": True, "type": "realtime", "keywords": ",".join(s.keywords), "group": s.category}
                for s in self.catalogue.subcategories()]

    def definition(self, code: str) -> dict:
        attrs = [{"variable": True, "code": a["code"], "datatype": a.get("datatype", "string"),
                  "required": bool(a.get("required", False)),
                  "datatype_description": a.get("datatype_description", ""), "order": i + 1,
                  "description": a.get("description", ""), "values": a.get("values") or []}
                 for i, a in enumerate(self.attributes.get(code, []))]
        return {"service_code": code, "attributes": attrs}

    def check_attributes(self, code: str, given: dict[str, str]) -> dict[str, str | float]:
        """Validated attribute values, or ValueError naming the first bad one."""
        defs = {a["code"]: a for a in self.attributes.get(code, [])}
        out: dict[str, str | float] = {}
        for key, value in given.items():
            spec = defs.get(key)
            if spec is None:
                raise ValueError(f"attribute[{key}] is not defined for service {code}")
            if len(value) > MAX_ATTRIBUTE_CHARS:
                raise ValueError(f"attribute[{key}] is longer than {MAX_ATTRIBUTE_CHARS} characters")
            if spec.get("datatype") == "number":
                try:
                    number = float(value)
                except ValueError:
                    raise ValueError(f"attribute[{key}] must be a number") from None
                if number != number or number in (float("inf"), float("-inf")):
                    raise ValueError(f"attribute[{key}] must be a finite number")
                out[key] = number
            else:
                out[key] = value
        for key, spec in defs.items():
            if spec.get("required") and key not in out:
                raise ValueError(f"attribute[{key}] is required for service {code}")
        return out
