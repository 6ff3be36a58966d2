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
    time columns and ``bad`` the target labels that mean bad (all optional; command-line
    options win)."""

    columns: dict[str, FeatureSpec] = field(default_factory=dict)
    target: str | None = None
    time: str | None = None
    bad: tuple[str, ...] | None = None


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


def behaviour_features(columns: Sequence[str] | None = None,
                       cat: Mapping[str, Any] | None = None) -> list[FeatureSpec]:
    """The behaviour score's default inputs: every loan-entity catalog feature (the post-loan
    evidence plus the application score at booking), those in ``columns`` when given."""
    cat = catalog_or_default(cat)
    return [spec_from_catalog(n, cat) for n, fd in cat.items()
            if fd.entity == "loan" and (columns is None or n in columns)]


MAPPING_KEYS = {"name", "dtype", "direction", "categories", "label_zh", "label_en"}


def load_mapping(path: str | Path, cat: Mapping[str, Any] | None = None) -> ColumnMapping:
    """Parse a mapping file; every refusal reads ``mapping file PATH:LINE: reason``.

    Format (YAML)::

        target: defaulted                      # a 0/1 column (1 = bad), or:
        target: {column: creditability, bad: [bad]}   # text labels, those listed are bad
        time: app_date                         # optional
        columns:
          sms_cnt: sms_collection_30d          # their column → catalog feature
          purpose: category                    # a new feature: just its dtype
          region_risk:                         # a new feature with more detail
            name: region_risk_index            # optional, default: the column name
            dtype: float                       # int | float | bool | category
            direction: 1                       # -1 | 0 | 1 (monotone risk direction)
            categories: [a, b]                 # category dtype only; default: learnt
            label_zh: 区域风险指数               # optional reason-code labels
            label_en: Regional risk index
    """
    from ruleengine.yaml_lines import LineDict, load_yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read mapping file {path}: {exc}") from None
    doc, issues = load_yaml(text, str(path))
    if issues:
        raise ConfigError(f"mapping file {issues[0]}")

    def where(line: int) -> str:
        return f"mapping file {path}:{line}:"

    if not isinstance(doc, LineDict) or not isinstance(doc.get("columns"), LineDict):
        line = doc.line_of("columns") if isinstance(doc, LineDict) else 1
        raise ConfigError(f"{where(line)} expected a top-level 'columns' mapping "
                          "(your column: catalog feature or dtype)")
    unknown_top = set(doc) - {"columns", "target", "time"}
    if unknown_top:
        key = sorted(map(str, unknown_top))[0]
        raise ConfigError(f"{where(doc.line_of(key))} unknown key {key!r} "
                          "(expected columns, target, time)")
    target, bad = _mapping_target(doc, where)
    time = doc.get("time")
    if time is not None and not isinstance(time, str):
        raise ConfigError(f"{where(doc.line_of('time'))} time must be a column name")
    columns = doc["columns"]
    cols: dict[str, FeatureSpec] = {}
    lines: dict[str, int] = {}
    for column, raw in columns.items():
        line = columns.line_of(column)
        column = str(column)
        cols[column] = _mapped_spec(column, raw, line, where, cat)
        lines[cols[column].name] = min(lines.get(cols[column].name, line), line)
    names = [s.name for s in cols.values()]
    dupes = [n for n in names if names.count(n) > 1]
    if dupes:
        last = max(columns.line_of(c) for c, s in cols.items() if s.name == dupes[0])
        raise ConfigError(f"{where(last)} several columns map to {dupes[0]!r} "
                          f"(first at line {lines[dupes[0]]})")
    return ColumnMapping(columns=cols, target=target, time=time, bad=bad)


def _mapping_target(doc: Any, where: Any) -> tuple[str | None, tuple[str, ...] | None]:
    """``target: col`` or ``target: {column: col, bad: [labels]}``."""
    raw = doc.get("target")
    line = doc.line_of("target")
    if raw is None or isinstance(raw, str):
        return raw, None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where(line)} target must be a column name or "
                          "{column: NAME, bad: [LABEL, ...]}")
    extra = set(raw) - {"column", "bad"}
    if extra or not isinstance(raw.get("column"), str):
        raise ConfigError(f"{where(line)} target needs column: NAME and optionally bad: "
                          f"[LABEL, ...]" + (f"; unknown keys {sorted(map(str, extra))}"
                                             if extra else ""))
    bad = raw.get("bad")
    if bad is None:
        return raw["column"], None
    labels = bad if isinstance(bad, list) else [bad]
    if not labels or any(isinstance(b, dict | list) or b is None for b in labels):
        raise ConfigError(f"{where(raw.line_of('bad'))} target bad: must list the label(s) "
                          "that mean bad, e.g. bad: [bad]")
    return raw["column"], tuple(str(b) for b in labels)


def _mapped_spec(column: str, raw: Any, line: int, where: Any,
                 cat: Mapping[str, Any] | None) -> FeatureSpec:
    """One ``columns:`` entry as a FeatureSpec (a catalog feature or a declared new one)."""
    here = f"{where(line)} column {column!r}"
    if raw is None or raw == {}:
        raise ConfigError(f"{here} needs a catalog feature name or a dtype, e.g. "
                          f"'{column}: category' or '{column}: {{dtype: float, direction: 1}}'")
    if isinstance(raw, str):
        if raw in DTYPES:  # `purpose: category`: a new feature named after the column
            raw = {"dtype": raw}
        else:
            try:
                return _replace(spec_from_catalog(raw, cat), source_column=column)
            except UnknownFeatureError:
                raise UnknownFeatureError(
                    f"{here}: {raw!r} is neither a feature in the catalog nor a dtype "
                    f"({', '.join(DTYPES)}); declare a new feature as '{column}: float' or "
                    f"'{column}: {{dtype: float, direction: 1}}'"
                ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{here} needs a catalog feature name, a dtype or a mapping")
    unknown = set(raw) - MAPPING_KEYS
    if unknown:
        raise ConfigError(f"{here} has unknown keys {sorted(map(str, unknown))} "
                          f"(allowed: {', '.join(sorted(MAPPING_KEYS))})")
    name = str(raw.get("name", column))
    if not _NAME.match(name):
        raise ConfigError(
            f"{here} needs name: of ASCII letters, digits and _ (the model's feature name)"
        )
    if "dtype" not in raw:  # a catalog feature with its own labels, e.g. {name: x}
        try:
            spec = spec_from_catalog(name, cat)
        except UnknownFeatureError:
            raise UnknownFeatureError(
                f"{here}: {name!r} is not in the feature catalog; give its dtype "
                f"({', '.join(DTYPES)}), e.g. '{column}: {{dtype: float, direction: 1}}'"
            ) from None
    else:
        if raw["dtype"] not in DTYPES:
            raise ConfigError(f"{here} dtype must be one of {', '.join(DTYPES)}, "
                              f"not {raw['dtype']!r}")
        if raw.get("direction", 0) not in (-1, 0, 1):
            raise ConfigError(f"{here} direction must be -1, 0 or 1")
        cats = raw.get("categories") or ()
        if cats and (raw["dtype"] != "category" or not isinstance(cats, list)):
            raise ConfigError(f"{here} categories: must be a list, for dtype category only")
        spec = FeatureSpec(
            name=name,
            dtype=raw["dtype"],
            direction=int(raw.get("direction", 0)),
            categories=tuple(str(c) for c in cats),
            label_zh=name,
            label_en=name,
            in_catalog=False,
        )
    return _replace(
        spec,
        source_column=column,
        label_zh=str(raw.get("label_zh", spec.label_zh)),
        label_en=str(raw.get("label_en", spec.label_en)),
    )


def _replace(spec: FeatureSpec, **changes: Any) -> FeatureSpec:
    return FeatureSpec(**{**asdict(spec), **changes})


#: the largest magnitude the estimators can hold (they fit in float32)
FLOAT32_MAX = float(np.finfo(np.float32).max)


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
    # 'inf' (or 1e39) reads as a number but no estimator takes it: sklearn and LightGBM work
    # in float32 and raised a traceback from deep in the fit
    huge = out.abs() > FLOAT32_MAX
    if huge.any():
        raise BadColumnError(
            f"column {col!r}: {sorted(set(values[huge].astype(str).head(50)))[:3]} are not "
            f"finite numbers within ±{FLOAT32_MAX:.1e} ({spec.name} is {spec.dtype})"
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
