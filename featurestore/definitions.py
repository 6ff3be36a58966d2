"""Feature definitions, declared once in ``catalog.yaml`` and loaded as typed records.

Everything that names a feature (ingest, online and historical retrieval, rule validation,
monotone constraints for the model, docs) reads it from here, so a feature cannot mean two
things in two places.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")
DTYPES = frozenset({"int", "float", "bool", "category"})
ENTITIES = frozenset({"application", "loan", "decision"})


class CatalogError(ValueError):
    """The catalog file is malformed; the message names the feature and the field."""


@dataclass(frozen=True, slots=True)
class FeatureDef:
    name: str
    dtype: str
    entity: str
    source: str
    description: str
    missing: str
    direction: int
    owner: str
    unit: str | None = None
    categories: tuple[str, ...] = ()

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("int", "float")


class FeatureCatalog(Mapping[str, FeatureDef]):
    """Read-only mapping of feature name → definition, in catalog order."""

    def __init__(self, features: list[FeatureDef]):
        self._by_name = {f.name: f for f in features}

    def __getitem__(self, name: str) -> FeatureDef:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def for_entity(self, entity: str) -> list[FeatureDef]:
        """Definitions of one entity, in catalog order."""
        return [f for f in self._by_name.values() if f.entity == entity]


def _parse_feature(name: str, raw: object) -> FeatureDef:
    if not isinstance(raw, dict):
        raise CatalogError(f"feature {name!r}: expected a mapping of fields")
    known = set(FeatureDef.__dataclass_fields__) - {"name"}
    unknown = set(raw) - known
    if unknown:
        raise CatalogError(f"feature {name!r}: unknown field(s) {sorted(unknown)}")
    required = {"dtype", "entity", "source", "description", "missing", "direction", "owner"}
    absent = required - set(raw)
    if absent:
        raise CatalogError(f"feature {name!r}: missing field(s) {sorted(absent)}")
    if raw["dtype"] not in DTYPES:
        raise CatalogError(f"feature {name!r}: dtype must be one of {sorted(DTYPES)}")
    if raw["entity"] not in ENTITIES:
        raise CatalogError(f"feature {name!r}: entity must be one of {sorted(ENTITIES)}")
    if raw["direction"] not in (-1, 0, 1):
        raise CatalogError(f"feature {name!r}: direction must be -1, 0 or 1")
    categories = tuple(raw.get("categories") or ())
    if (raw["dtype"] == "category") != bool(categories):
        raise CatalogError(
            f"feature {name!r}: categories are required for, and only for, dtype category"
        )
    return FeatureDef(name=name, **{**raw, "categories": categories})


def load_catalog(path: Path | str = CATALOG_PATH) -> FeatureCatalog:
    """Parse and validate a catalog file."""
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), dict):
        raise CatalogError(f"{path}: expected a top-level 'features' mapping")
    return FeatureCatalog([_parse_feature(n, raw) for n, raw in doc["features"].items()])


@lru_cache(maxsize=1)
def catalog() -> FeatureCatalog:
    """The project's catalog (parsed once per process)."""
    return load_catalog()
