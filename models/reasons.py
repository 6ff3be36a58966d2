"""Reason codes: which features pushed one applicant's PD up, fast enough for the request path.

LightGBM's ``pred_contrib`` (path-dependent TreeSHAP) costs ~0.6–2 ms for one row. ``TreeShap``
computes the *same* SHAP values from tables precomputed once per model (Fast TreeSHAP "v2"):

- For a leaf ℓ whose path tests the distinct features F_ℓ (d = |F_ℓ|), the tree's
  path-dependent value function is v(S) = v_ℓ · Π_{j∈F_ℓ} (o_j if j ∈ S else z_j), where
  z_j is the product of the path's cover ratios on feature j and o_j ∈ {0, 1} says whether the
  row satisfies all of the path's conditions on j. The leaf's share of feature i's SHAP value
  therefore depends on the row only through the bit pattern (o_j)_{j∈F_ℓ}.
- So for every leaf and every one of its 2^d patterns we precompute the d Shapley values
  (a polynomial product per pattern, vectorised over leaves with the same d).
- Per row: each (leaf, path feature) condition is an interval test (or a category lookup),
  the bits form each leaf's pattern (a bincount), one gather reads the table entries and a
  reduceat sums them per feature.

No DataFrame, no Python loop over trees: ~10 numpy calls over Σ_ℓ d_ℓ elements. The result
equals ``pred_contrib`` to float rounding (tests check it), so the top reasons agree except
for exact ties. ``max_depth`` bounds d and so the table size (Σ_ℓ 2^d_ℓ · d_ℓ floats).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.features import FeatureSpec

MAX_PATH_FEATURES = 14  # 2^14·14 floats for one leaf: beyond this, use pred_contrib instead


class UnsupportedTree(ValueError):
    """The model uses a split type the tables do not cover (fall back to ``pred_contrib``)."""


@dataclass
class _PathState:
    lo: float
    hi: float
    nan_ok: bool
    cat: np.ndarray | None  # allowed codes 0..K-1, [K] = any larger code, [K+1] = NaN/negative
    z: float


def _shapley_tables(values: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """SHAP values per pattern for leaves with the same d.

    ``values``: (n,) leaf values; ``zeros``: (n, d) zero fractions. Returns (n, 2^d, d):
    entry [ℓ, p, i] is feature i's share for bit pattern p (bit i of p = o_i)."""
    n, d = zeros.shape
    patterns = ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(float)  # (P, d)
    weights = np.array(
        [math.factorial(k) * math.factorial(d - 1 - k) / math.factorial(d) for k in range(d)]
    )
    out = np.empty((n, 2**d, d))
    for i in range(d):
        poly = np.ones((n, 2**d, 1))  # coefficients of t^k of Π_{j≠i} (z_j + o_j t)
        for j in range(d):
            if j == i:
                continue
            nxt = np.zeros(poly.shape[:2] + (poly.shape[2] + 1,))
            nxt[..., :-1] += poly * zeros[:, None, j, None]
            nxt[..., 1:] += poly * patterns[None, :, j, None]
            poly = nxt
        out[:, :, i] = (
            values[:, None] * (patterns[None, :, i] - zeros[:, i, None]) * (poly @ weights)
        )
    return out


class TreeShap:
    """Exact path-dependent TreeSHAP for single rows from precomputed per-leaf tables.

    ``contributions(x)`` takes the model's encoded row (shape (n_features,), float, NaN =
    missing, categories as codes) and returns SHAP values in raw-margin units, shape
    (n_features,), with ``expected_value + contributions(x).sum() == raw margin``."""

    def __init__(self, booster: Any):
        dump = booster.dump_model()
        self.n_features = int(booster.num_feature())
        self.expected_value = 0.0
        cat_k = self._category_sizes(dump)
        feat, lo, hi, nan_ok, cat_row, leaf_of, pos = [], [], [], [], [], [], []
        self._cat_tables: list[np.ndarray] = []
        leaves: list[tuple[float, list[float]]] = []
        for tree in dump["tree_info"]:
            root = tree["tree_structure"]
            if "leaf_index" in root:
                self.expected_value += float(root["leaf_value"])
                continue
            total = float(root["internal_count"])
            stack: list[tuple[dict, dict[int, _PathState]]] = [(root, {})]
            while stack:
                node, state = stack.pop()
                if "leaf_index" in node:
                    v = float(node["leaf_value"])
                    self.expected_value += v * node["leaf_count"] / total
                    if len(state) > MAX_PATH_FEATURES:
                        raise UnsupportedTree(f"a leaf tests {len(state)} features")
                    ell = len(leaves)
                    for p, (f, s) in enumerate(sorted(state.items())):
                        feat.append(f)
                        lo.append(s.lo)
                        hi.append(s.hi)
                        nan_ok.append(s.nan_ok)
                        leaf_of.append(ell)
                        pos.append(p)
                        if s.cat is None:
                            cat_row.append(-1)
                        else:
                            cat_row.append(len(self._cat_tables))
                            self._cat_tables.append(s.cat)
                    leaves.append((v, [s.z for _, s in sorted(state.items())]))
                    continue
                for side in ("left_child", "right_child"):
                    stack.append((node[side], self._extend(node, side, state, cat_k)))
        self._build(leaves, feat, lo, hi, nan_ok, cat_row, leaf_of, pos)

    @staticmethod
    def _category_sizes(dump: dict) -> dict[int, int]:
        sizes: dict[int, int] = {}

        def visit(node: dict) -> None:
            if "leaf_index" in node:
                return
            if node["decision_type"] == "==":
                cats = [int(c) for c in str(node["threshold"]).split("||")]
                f = node["split_feature"]
                sizes[f] = max(sizes.get(f, 0), max(cats) + 1)
            visit(node["left_child"])
            visit(node["right_child"])

        for tree in dump["tree_info"]:
            visit(tree["tree_structure"])
        return sizes

    @staticmethod
    def _extend(node: dict, side: str, state: dict[int, _PathState], cat_k: dict[int, int]
                ) -> dict[int, _PathState]:
        f = node["split_feature"]
        child = node[side]
        child_count = child.get("internal_count", child.get("leaf_count"))
        ratio = child_count / node["internal_count"]
        left = side == "left_child"
        prev = state.get(f)
        new = dict(state)
        if node["decision_type"] == "==":
            k = cat_k[f]
            allowed = np.ones(k + 2, bool) if prev is None or prev.cat is None else prev.cat.copy()
            in_set = np.zeros(k + 2, bool)
            in_set[[int(c) for c in str(node["threshold"]).split("||")]] = True
            allowed &= in_set if left else ~in_set  # NaN / negative / unseen codes go right
            new[f] = _PathState(-np.inf, np.inf, False, allowed,
                                (prev.z if prev else 1.0) * ratio)
            return new
        if node["decision_type"] != "<=":
            raise UnsupportedTree(f"decision type {node['decision_type']!r}")
        missing = node["missing_type"]
        thr = float(node["threshold"])
        if missing == "NaN":
            nan_here = bool(node["default_left"]) == left
        elif missing == "None":  # NaN is read as 0.0
            nan_here = (thr >= 0.0) == left
        else:
            raise UnsupportedTree(f"missing type {missing!r}")
        s = prev or _PathState(-np.inf, np.inf, True, None, 1.0)
        new[f] = _PathState(
            s.lo if left else max(s.lo, thr),
            min(s.hi, thr) if left else s.hi,
            s.nan_ok and nan_here,
            None,
            s.z * ratio,
        )
        return new

    def _build(self, leaves, feat, lo, hi, nan_ok, cat_row, leaf_of, pos) -> None:
        # Items are stored sorted by feature: the row expands with one np.repeat and the
        # per-feature sums are one reduceat; leaf patterns are a bincount over leaf ids.
        feat = np.asarray(feat, np.intp)
        order = np.argsort(feat, kind="stable")
        feat = feat[order]
        leaf_of = np.asarray(leaf_of, np.intp)[order]
        pos = np.asarray(pos, np.intp)[order]
        self._lo = np.asarray(lo, float)[order]
        self._hi = np.asarray(hi, float)[order]
        self._nan_ok = np.asarray(nan_ok, bool)[order]
        self._counts = np.bincount(feat, minlength=self.n_features)
        self._present = np.flatnonzero(self._counts)
        self._fstarts = np.r_[0, np.cumsum(self._counts[self._present])[:-1]].astype(np.intp)
        d = np.array([len(z) for _, z in leaves], np.intp)
        # table layout: leaf ℓ owns a block of 2^d·d floats at base[ℓ]; entry p·d + i
        size = (2**d) * d
        self._leaf_base = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.intp)
        self._leaf_d = d
        self._n_leaves = len(leaves)
        table = np.zeros(int(size.sum()))
        values = np.array([v for v, _ in leaves])
        for dd in np.unique(d):
            if dd == 0:
                continue
            idx = np.flatnonzero(d == dd)
            zeros = np.array([leaves[i][1] for i in idx])
            block = _shapley_tables(values[idx], zeros).reshape(len(idx), -1)
            where = self._leaf_base[idx][:, None] + np.arange(block.shape[1])
            table[where.ravel()] = block.ravel()
        self._table = table
        self._leaf_of = leaf_of
        self._pos = pos
        self._bit = (1 << pos).astype(float)
        cat_row = np.asarray(cat_row, np.intp)[order]
        self._cat_items = np.flatnonzero(cat_row >= 0)
        if len(self._cat_items):
            width = max(t.shape[0] for t in self._cat_tables)
            tab = np.zeros((len(self._cat_tables), width), bool)
            ks = np.zeros(len(self._cat_tables), np.intp)
            for r, t in enumerate(self._cat_tables):
                k = t.shape[0] - 2
                tab[r, : k + 1] = t[: k + 1]
                tab[r, width - 1] = t[k + 1]  # NaN column last
                ks[r] = k
            self._cat_tab = tab
            self._cat_rows = cat_row[self._cat_items]
            self._cat_k = ks[self._cat_rows]
        del self._cat_tables

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP values of one encoded row, shape (n_features,)."""
        xv = np.repeat(x, self._counts)
        with np.errstate(invalid="ignore"):
            o = (xv > self._lo) & (xv <= self._hi)
        nan = np.isnan(xv)
        o[nan] = self._nan_ok[nan]
        if len(self._cat_items):
            c = xv[self._cat_items]
            off = np.isnan(c) | (c < 0)  # NaN / negative: the NaN column
            col = np.where(off, self._cat_tab.shape[1] - 1,
                           np.minimum(np.where(off, 0.0, c).astype(np.intp), self._cat_k))
            o[self._cat_items] = self._cat_tab[self._cat_rows, col]
        pattern = np.bincount(self._leaf_of, weights=o * self._bit, minlength=self._n_leaves)
        start = self._leaf_base + pattern.astype(np.intp) * self._leaf_d
        vals = self._table.take(start.take(self._leaf_of) + self._pos)
        out = np.zeros(self.n_features)
        out[self._present] = np.add.reduceat(vals, self._fstarts)
        return out


@dataclass(frozen=True, slots=True)
class Reason:
    """One adverse factor: ``contribution`` is its SHAP value in log-odds (raw margin) units;
    ``value`` is the applicant's value as shown in the texts."""

    feature: str
    contribution: float
    text_zh: str
    text_en: str
    value: Any = None


def format_value(spec: FeatureSpec, value: float) -> tuple[str, str]:
    """(zh, en) rendering of an encoded value."""
    if value != value:  # NaN
        return "缺失", "not available"
    if spec.dtype == "category":
        label = spec.categories[int(value)] if 0 <= int(value) < len(spec.categories) else "?"
        return label, label
    if spec.dtype == "bool":
        return ("是", "yes") if value >= 0.5 else ("否", "no")
    if spec.dtype == "int" or float(value).is_integer():
        text = f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
        return text, text
    text = f"{value:.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return text, text


def top_reasons(
    contrib: np.ndarray, x: np.ndarray, specs: Sequence[FeatureSpec], k: int = 4
) -> list[Reason]:
    """The ``k`` largest positive (PD-raising) contributions, largest first, as Reasons."""
    if k <= 0:
        return []
    k = min(k, len(contrib))
    idx = np.argpartition(-contrib, k - 1)[:k]
    idx = idx[np.argsort(-contrib[idx], kind="stable")]
    out = []
    for j in idx:
        c = float(contrib[j])
        if c <= 0:
            break
        spec = specs[j]
        zh, en = format_value(spec, float(x[j]))
        out.append(Reason(spec.name, c, f"{spec.label_zh}：{zh}", f"{spec.label_en}: {en}",
                          _display_value(spec, float(x[j]))))
    return out


def _display_value(spec: FeatureSpec, value: float) -> Any:
    if value != value:
        return None
    if spec.dtype == "category":
        return spec.categories[int(value)] if 0 <= int(value) < len(spec.categories) else None
    if spec.dtype == "bool":
        return bool(value >= 0.5)
    return int(value) if spec.dtype == "int" else value


def top_k_indices(contrib: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest positive entries per row of ``contrib`` (n, p) → (n, k),
    −1 where fewer than ``k`` are positive. Used to compare reason sets in batch."""
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    vals = np.take_along_axis(contrib, order, axis=1)
    return np.where(vals > 0, order, -1)
