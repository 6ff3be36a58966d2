"""What the model sees: feature specs, column mappings, and the frame → numpy encoding.

The same encoding is used in training, batch scoring and single-row scoring, so a category
means the same integer code everywhere: codes are positions in ``FeatureSpec.categories``
(as LightGBM's native categorical handling expects), missing values are NaN, bools are 0/1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from models.errors import BadColumnError, ConfigError, UnknownFeatureError

DTYPES = ("int", "float", "bool", "category")
_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"0", "0.0", "false", "f", "no", "n"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # LightGBM and JSON-safe feature names


@dataclass(frozen=True)
class FeatureSpec:
    """One model input. ``direction`` is the declared risk direction (+1: higher value, higher
    risk) used as the monotone constraint; ``source_column`` is the input table's column when a
    mapping renamed it; ``in_catalog`` says whether the feature store defines it."""

    name: str
    dtype: str
    direction: int = 0
    categories: tuple[str, ...] = ()
    label_zh: str = ""
    label_en: str = ""
    source_column: str | None = None
    in_catalog: bool = True

    @property
    def monotone(self) -> int:
        """Constraint for LightGBM: categorical features cannot be constrained."""
        return 0 if self.dtype == "category" else int(self.direction)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["categories"] = list(self.categories)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSpec:
        return cls(**{**d, "categories": tuple(d.get("categories") or ())})


@dataclass(frozen=True)
class ColumnMapping:
    """A user's table described in catalog terms (parsed from a YAML mapping file).

    ``columns`` maps their column → feature spec; ``target``/``time`` name their label and
    time columns (optional; command-line options win)."""

    columns: dict[str, FeatureSpec] = field(default_factory=dict)
    target: str | None = None
    time: str | None = None


@lru_cache(maxsize=1)
def reason_labels() -> dict[str, dict[str, str]]:
    """Short zh/en labels per catalog feature, from ``reason_texts.yaml``."""
    with open(Path(__file__).with_name("reason_texts.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def catalog_or_default(cat: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``cat``, else the feature store's catalog: the one place models reads it (the
    import contract allows models this module of the feature store and nothing else)."""
    if cat is not None:
        return cat
    from featurestore.definitions import catalog

    return catalog()


def spec_from_catalog(name: str, cat: Mapping[str, Any] | None = None) -> FeatureSpec:
    """The catalog's definition of ``name`` as a model input."""
    cat = catalog_or_default(cat)
    if name not in cat:
        raise UnknownFeatureError(
            f"feature {name!r} is not in the feature catalog; map it in a --mapping file "
            "with its dtype and direction"
        )
    fd = cat[name]
    labels = reason_labels().get(name, {})
    return FeatureSpec(
        name=name,
        dtype=fd.dtype,
        direction=int(fd.direction),
        categories=tuple(fd.categories),
        label_zh=labels.get("zh", name),
        label_en=labels.get("en", fd.description.rstrip(".")),
    )


def default_features(cat: Mapping[str, Any] | None = None) -> list[FeatureSpec]:
    """Every application-entity catalog feature, in catalog order (the default model inputs)."""
    cat = catalog_or_default(cat)
    return [spec_from_catalog(n, cat) for n, fd in cat.items() if fd.entity == "application"]


def load_mapping(path: str | Path, cat: Mapping[str, Any] | None = None) -> ColumnMapping:
    """Parse a mapping file.

    Format (YAML)::

        target: defaulted            # optional
        time: app_date               # optional
        columns:
          sms_cnt: sms_collection_30d          # their column → catalog feature
          region_risk:                         # a feature the catalog does not know
            name: region_risk_index            # optional, default: the column name
            dtype: float                       # int | float | bool | category
            direction: 1                       # -1 | 0 | 1
            categories: [a, b]                 # category dtype only
            label_zh: 区域风险指数               # optional reason-code labels
            label_en: Regional risk index
    """
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read mapping file {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), dict):
        raise ConfigError(f"mapping file {path}: expected a top-level 'columns' mapping")
    cols: dict[str, FeatureSpec] = {}
    for column, raw in doc["columns"].items():
        column = str(column)
        if isinstance(raw, str):
            cols[column] = _replace(spec_from_catalog(raw, cat), source_column=column)
            continue
        if not isinstance(raw, dict):
            raise ConfigError(f"mapping file {path}: column {column!r} needs a name or a mapping")
        unknown = set(raw) - {"name", "dtype", "direction", "categories", "label_zh", "label_en"}
        if unknown:
            raise ConfigError(
                f"mapping file {path}: column {column!r} has unknown keys {sorted(unknown)}"
            )
        name = str(raw.get("name", column))
        if not _NAME.match(name):
            raise ConfigError(
                f"mapping file {path}: column {column!r} needs a name: of letters, digits and _"
            )
        if "dtype" not in raw:  # a catalog feature with its own labels, e.g. {name: x}
            spec = spec_from_catalog(name, cat)
        else:
            where = f"mapping file {path}: column {column!r}"
            if raw["dtype"] not in DTYPES:
                raise ConfigError(f"{where} dtype must be one of {DTYPES}")
            if raw.get("direction", 0) not in (-1, 0, 1):
                raise ConfigError(f"{where} direction must be -1, 0 or 1")
            spec = FeatureSpec(
                name=name,
                dtype=raw["dtype"],
                direction=int(raw.get("direction", 0)),
                categories=tuple(str(c) for c in raw.get("categories") or ()),
                label_zh=name,
                label_en=name,
                in_catalog=False,
            )
        spec = _replace(
            spec,
            source_column=column,
            label_zh=str(raw.get("label_zh", spec.label_zh)),
            label_en=str(raw.get("label_en", spec.label_en)),
        )
        cols[column] = spec
    names = [s.name for s in cols.values()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"mapping file {path}: several columns map to {dupes[0]!r}")
    return ColumnMapping(columns=cols, target=doc.get("target"), time=doc.get("time"))


def _replace(spec: FeatureSpec, **changes: Any) -> FeatureSpec:
    return FeatureSpec(**{**asdict(spec), **changes})


def coerce_column(values: pd.Series, spec: FeatureSpec) -> pd.Series:
    """``values`` converted to the spec's dtype (float with NaN, or Categorical).

    Raises BadColumnError naming the column and a few offending values when values do not fit
    (text in a numeric column, unknown categories, non-boolean flags)."""
    col = spec.source_column or spec.name
    if spec.dtype == "category":
        if isinstance(values.dtype, pd.CategoricalDtype) and tuple(
            values.cat.categories
        ) == spec.categories:
            return values
        text = values.astype("string")
        bad = text.notna() & ~text.isin(spec.categories)
        if bad.any():
            examples = sorted(set(text[bad].head(50)))[:3]
            raise BadColumnError(
                f"column {col!r}: values {examples} are not categories of {spec.name!r} "
                f"{list(spec.categories)}"
            )
        return pd.Series(
            pd.Categorical(text, categories=list(spec.categories)), index=values.index
        )
    if spec.dtype == "bool" and not pd.api.types.is_numeric_dtype(values):
        text = values.astype("string").str.strip().str.lower()
        out = pd.Series(np.nan, index=values.index)
        out[text.isin(_TRUE)] = 1.0
        out[text.isin(_FALSE)] = 0.0
        bad = text.notna() & out.isna()
        if bad.any():
            raise BadColumnError(
                f"column {col!r}: {sorted(set(values[bad].astype(str).head(50)))[:3]} are not "
                "boolean (use 0/1 or true/false)"
            )
        return out
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    out = pd.to_numeric(values, errors="coerce").astype(float)
    bad = values.notna() & out.isna()
    if bad.any():
        raise BadColumnError(
            f"column {col!r}: {sorted(set(values[bad].astype(str).head(50)))[:3]} are not "
            f"numbers ({spec.name} is {spec.dtype})"
        )
    if spec.dtype == "bool":
        flags = out.dropna()
        if not flags.isin([0.0, 1.0]).all():
            raise BadColumnError(f"column {col!r}: a bool feature must be 0/1")
    return out


def encode_frame(frame: pd.DataFrame, specs: Sequence[FeatureSpec]) -> np.ndarray:
    """Float64 matrix of shape (rows, len(specs)) in spec order; categories as integer codes.

    ``frame`` has one column per spec name. Unknown categories and missing values become NaN."""
    out = np.empty((len(frame), len(specs)), dtype=np.float64)
    for j, spec in enumerate(specs):
        col = frame[spec.name]
        if spec.dtype == "category":
            if not (
                isinstance(col.dtype, pd.CategoricalDtype)
                and tuple(col.cat.categories) == spec.categories
            ):
                cats = list(spec.categories)
                col = pd.Series(pd.Categorical(col.astype("string"), categories=cats))
            codes = col.cat.codes.to_numpy()
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            num = pd.to_numeric(col, errors="coerce")
            out[:, j] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    return out
