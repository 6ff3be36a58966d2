"""Batch TreeSHAP equal bit for bit to LightGBM's ``predict(pred_contrib=True)``, in numpy.

LightGBM's contributions cost ~70–90 µs a row for the behaviour champion (57 trees) against
~0.4 µs for its prediction; the nightly job explains every loan it acts on. ``PathShap``
gives the *same floats*, not merely equal to rounding, because it performs the same IEEE
operations in the same order:

- LightGBM walks each tree depth first, the row's own ("hot") child before the other
  ("cold") one, keeping a path of unique features; at every leaf it adds one term per path
  feature to that feature's running total. A leaf's terms depend on the row only through
  which of the nodes on the leaf's path the row agrees with (one bit per node): so for every
  leaf and every one of its 2^depth bit patterns the terms are computed once per model, with
  the path arithmetic (extend, unwind, unwound sum) written out operation by operation, as
  numpy element-wise operations over the patterns (each element is the scalar IEEE result).
- Per row, the order in which a tree adds to one feature is the depth-first order of the
  leaves whose paths hold that feature, and that order follows from the row's left/right
  decisions at the tree's nodes. Rows with the same decisions share one order; each distinct
  decision vector's order is found once, and every row's terms are then added tree by tree,
  in that order, to running totals that start at zero — LightGBM's own sequence of additions.

Only numerical splits (missing type None, Zero or NaN) are covered; a model with a
categorical split, a linear tree, a leaf deeper than `MAX_DEPTH` or tables beyond `MAX_TABLE`
raises `Unsupported` at construction and the caller keeps ``pred_contrib``. The tables take
~0.3 s for 57 trees, so the engine uses them once built (`ScoringModel.warm_batch`, which
the nightly worker calls), not on a report's first 2,000-row sample.
``bench/postloan_parity.py`` and ``tests/models/test_pathshap.py`` check the equality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (1e-35f): |x| <= it is 0.0
MAX_DEPTH = 16  # 2^depth patterns per leaf are tabulated
MAX_TABLE = 1 << 23  # floats (64 MB) in all the tables: beyond, keep pred_contrib
_NONE, _ZERO, _NAN = 0, 1, 2


class Unsupported(ValueError):
    """A split or tree kind this module does not reproduce (keep ``pred_contrib``)."""


@dataclass
class _Tree:
    nodes: np.ndarray  # global internal node ids of this tree
    # per leaf: path nodes (local positions in `nodes`), padded with -1, and the side taken
    path: np.ndarray  # (leaves, depth) int
    went_left: np.ndarray  # (leaves, depth) bool
    # per item (leaf, unique path feature), ordered by (feature, leaf): the sorted layout
    item_leaf: np.ndarray
    item_index: np.ndarray  # offset into the value table for pattern 0
    item_stride: np.ndarray  # terms per pattern of the item's leaf
    group_feature: np.ndarray  # feature of each group (items of one feature), ascending
    group_start: np.ndarray
    group_size: np.ndarray
    item_group: np.ndarray  # group of each item (non-decreasing)


def _extend(path: list[list[Any]], depth: int, zero: Any, one: np.ndarray, feature: int,
            pw: list[Any]) -> None:
    """LightGBM's ExtendPath, element-wise over the patterns."""
    if depth < len(path):
        path[depth] = [feature, zero, one]
    else:
        path.append([feature, zero, one])
    shape = one.shape
    while len(pw) <= depth:
        pw.append(np.zeros(shape))
    pw[depth] = np.full(shape, 1.0 if depth == 0 else 0.0)
    d1 = float(depth + 1)
    for i in range(depth - 1, -1, -1):
        pw[i + 1] = pw[i + 1] + one * pw[i] * float(i + 1) / d1
        pw[i] = zero * pw[i] * float(depth - i) / d1


def _unwind(path: list[list[Any]], depth: int, index: int, pw: list[Any]) -> None:
    """LightGBM's UnwindPath (the pweights stay in place; the elements shift down)."""
    _, zero, one = path[index]
    nxt = pw[depth]
    d1 = float(depth + 1)
    hot = one != 0
    for i in range(depth - 1, -1, -1):
        tmp = pw[i]
        a = nxt * d1 / (float(i + 1) * one)
        nxt = np.where(hot, tmp - a * zero * float(depth - i) / d1, nxt)
        pw[i] = np.where(hot, a, pw[i] * d1 / (zero * float(depth - i)))
    for i in range(index, depth):
        path[i] = list(path[i + 1])


def _unwound_sum(path: list[list[Any]], depth: int, index: int, pw: list[Any]) -> np.ndarray:
    """LightGBM's UnwoundPathSum."""
    _, zero, one = path[index]
    nxt = pw[depth]
    d1 = float(depth + 1)
    hot = one != 0
    total = np.zeros(one.shape)
    for i in range(depth - 1, -1, -1):
        tmp = nxt * d1 / (float(i + 1) * one)
        total = total + np.where(hot, tmp, pw[i] / zero / (float(depth - i) / d1))
        nxt = np.where(hot, pw[i] - tmp * zero * (float(depth - i) / d1), nxt)
    return total


def _leaf_terms(steps: list[tuple[int, float, bool]], leaf_value: float
                ) -> tuple[list[int], np.ndarray]:
    """(features, terms (2^m, features)) of one leaf. ``steps``: per path node (feature,
    the path child's data count / the node's, whether the row goes there = bit 0)."""
    m = len(steps)
    patterns = np.arange(2**m)
    ones = np.ones(2**m)
    path: list[list[Any]] = []
    pw: list[Any] = []
    _extend(path, 0, 1.0, ones, -1, pw)
    depth = 0
    for j, (feature, ratio, _) in enumerate(steps):
        cold = ((patterns >> j) & 1).astype(bool)
        at = next((k for k in range(depth + 1) if path[k][0] == feature), None)
        zero_in, one_in = 1.0, ones
        if at is not None:
            zero_in, one_in = path[at][1], path[at][2]
            _unwind(path, depth, at, pw)
            depth -= 1
        depth += 1
        _extend(path, depth, ratio * zero_in, np.where(cold, 0.0, one_in), feature, pw)
    features, terms = [], []
    for i in range(1, depth + 1):
        w = _unwound_sum(path, depth, i, pw)
        feature, zero, one = path[i]
        features.append(feature)
        terms.append(w * (one - zero) * leaf_value)
    return features, (np.stack(terms, axis=1) if terms else np.zeros((2**m, 0)))


def _check(dump: dict) -> None:
    """Raise `Unsupported` before any table is built (a categorical split, a linear tree,
    a path too deep, tables too large)."""
    size = 0
    for info in dump["tree_info"]:
        stack = [(info["tree_structure"], 0, frozenset())]
        while stack:
            node, depth, features = stack.pop()
            if "leaf_index" in node:
                if depth > MAX_DEPTH:
                    raise Unsupported(f"a leaf at depth {depth}")
                size += 2**depth * len(features)
                continue
            if node["decision_type"] != "<=":
                raise Unsupported(f"decision type {node['decision_type']!r}")
            if node["missing_type"] not in ("None", "Zero", "NaN"):
                raise Unsupported(f"missing type {node['missing_type']!r}")
            inner = features | {node["split_feature"]}
            stack += [(node["left_child"], depth + 1, inner),
                      (node["right_child"], depth + 1, inner)]
    if size > MAX_TABLE:
        raise Unsupported(f"{size:,} table entries")


def _exact_values(text: str) -> list[tuple[list[float], list[float]]]:
    """(thresholds by split index, leaf values by leaf index) of each tree, from the model
    text: the JSON dump clips them to ±1e300 (a threshold of +inf — "any value but NaN" —
    reads 1e300 there, and a value above 1e300 would go the wrong way)."""
    trees: list[tuple[list[float], list[float]]] = []
    for block in text.split("end of trees")[0].split("\nTree=")[1:]:
        fields = dict(line.split("=", 1) for line in block.split("\n")[1:] if "=" in line)
        if fields.get("is_linear", "0").strip() != "0":
            raise Unsupported("linear tree")
        trees.append(([float(v) for v in fields.get("threshold", "").split()],
                      [float(v) for v in fields.get("leaf_value", "").split()]))
    return trees


class PathShap:
    """Exact LightGBM contributions for a batch of encoded rows (see the module doc)."""

    def __init__(self, booster: Any):
        dump = booster.dump_model()
        exact = _exact_values(booster.model_to_string())
        if len(exact) != len(dump["tree_info"]):
            raise Unsupported("the model text and its dump disagree")
        self.n_features = int(booster.num_feature())
        _check(dump)
        feat, thr, mtype, dleft = [], [], [], []
        table: list[np.ndarray] = []
        size = 0
        self._trees: list[_Tree] = []
        for info, (thresholds, leaf_values) in zip(dump["tree_info"], exact, strict=True):
            root = info["tree_structure"]
            if "leaf_index" in root:  # a one-leaf tree adds only to the bias column
                continue
            local: list[int] = []
            leaves: list[tuple[list[int], list[bool], list[int], int, int]] = []
            stack: list[tuple[dict, list[int], list[bool], list[tuple[int, float, bool]]]] = [
                (root, [], [], [])]
            while stack:
                node, nodes, sides, steps = stack.pop()
                if "leaf_index" in node:
                    with np.errstate(divide="ignore", invalid="ignore"):  # untaken branches
                        features, terms = _leaf_terms(steps, leaf_values[node["leaf_index"]])
                    leaves.append((nodes, sides, features, size, terms.shape[1]))
                    table.append(terms.ravel())
                    size += terms.size
                    continue
                missing = {"None": _NONE, "Zero": _ZERO, "NaN": _NAN}[node["missing_type"]]
                k = len(local)
                local.append(len(feat))
                feat.append(int(node["split_feature"]))
                thr.append(thresholds[node["split_index"]])
                mtype.append(missing)
                dleft.append(bool(node["default_left"]))
                w = float(node["internal_count"])
                for side, left in (("left_child", True), ("right_child", False)):
                    child = node[side]
                    count = child.get("internal_count", child.get("leaf_count"))
                    stack.append((child, nodes + [k], sides + [left],
                                  steps + [(int(node["split_feature"]), count / w, left)]))
            self._trees.append(self._layout(np.asarray(local, np.intp), leaves))
        self._feat = np.asarray(feat, np.intp)
        self._thr = np.asarray(thr, float)
        self._mtype = np.asarray(mtype, np.int8)
        self._default_left = np.asarray(dleft, bool)
        self._table = np.concatenate(table) if table else np.zeros(0)

    @staticmethod
    def _layout(nodes: np.ndarray, leaves: list) -> _Tree:
        depth = max(len(p) for p, *_ in leaves)
        path = np.full((len(leaves), depth), -1, np.intp)
        went_left = np.zeros((len(leaves), depth), bool)
        items = []
        for ell, (p, sides, features, base, stride) in enumerate(leaves):
            path[ell, :len(p)] = p
            went_left[ell, :len(p)] = sides
            items += [(f, ell, base + i, stride) for i, f in enumerate(features)]
        items.sort(key=lambda t: (t[0], t[1]))
        f = np.array([t[0] for t in items], np.intp)
        first = np.flatnonzero(np.r_[True, f[1:] != f[:-1]]) if len(f) else np.zeros(0, np.intp)
        return _Tree(nodes, path, went_left,
                     np.array([t[1] for t in items], np.intp),
                     np.array([t[2] for t in items], np.intp),
                     np.array([t[3] for t in items], np.intp),
                     f[first], first, np.diff(np.r_[first, len(f)]),
                     np.cumsum(np.r_[False, f[1:] != f[:-1]]) if len(f) else f)

    def _goes_left(self, X: np.ndarray) -> np.ndarray:
        """(rows, internal nodes): LightGBM's numerical decision at every node. A dense row
        reads |x| <= `ZERO_THRESHOLD` as 0.0; NaN is 0.0 too unless the node's missing type
        is NaN (then it goes the default side), and a 0.0 goes the default side at a node
        of missing type Zero."""
        nan = np.isnan(X)
        filled = np.where(nan | (np.abs(X) <= ZERO_THRESHOLD), 0.0, X)
        left = filled[:, self._feat] <= self._thr
        for kind, default_when in ((_ZERO, lambda f: np.abs(filled[:, f]) <= ZERO_THRESHOLD),
                                   (_NAN, lambda f: nan[:, f])):
            at = np.flatnonzero(self._mtype == kind)
            if len(at):
                if kind == _NAN:  # a value is compared as it is (NaN aside)
                    left[:, at] = np.where(nan[:, self._feat[at]], False,
                                           np.where(np.abs(X[:, self._feat[at]])
                                                    <= ZERO_THRESHOLD, 0.0,
                                                    X[:, self._feat[at]]) <= self._thr[at])
                left[:, at] = np.where(default_when(self._feat[at]), self._default_left[at],
                                       left[:, at])
        return left

    def contributions(self, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """(rows, n_features) contributions of encoded rows — ``pred_contrib`` without its
        last (bias) column."""
        X = np.asarray(X, dtype=np.float64)
        out = np.zeros((len(X), self.n_features))
        for start in range(0, len(X), chunk):
            out[start:start + chunk] = self._chunk(X[start:start + chunk])
        return out

    def _chunk(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        phi = np.zeros((self.n_features, n))  # feature-major: each addition is one row
        left_all = self._goes_left(X)
        for t in self._trees:
            left = left_all[:, t.nodes]
            # the decision vectors this chunk takes in this tree (packed into integers),
            # each one's depth-first order found once
            code = np.packbits(left, axis=1, bitorder="little")
            width = -(-code.shape[1] // 8) * 8
            code = np.pad(code, ((0, 0), (0, width - code.shape[1])))
            code = np.ascontiguousarray(code).view(np.uint64)
            _, first, inverse = np.unique(code, axis=0, return_index=True, return_inverse=True) \
                if code.shape[1] > 1 else np.unique(code[:, 0], return_index=True,
                                                    return_inverse=True)
            kinds = left[first]
            padded = np.concatenate([kinds, np.zeros((len(kinds), 1), bool)], axis=1)
            cold = padded[:, t.path] != t.went_left  # (kinds, leaves, depth); pads: False
            depth = t.path.shape[1]
            weights = np.left_shift(1, np.arange(depth, dtype=np.int64))
            pattern = (cold * weights).sum(axis=2)  # bit j: the row leaves the path at j
            key = (cold * weights[::-1]).sum(axis=2)  # depth-first order: hot side first
            # items sorted by (feature, depth-first position) for each decision vector
            by_leaf = key[:, t.item_leaf]
            order = np.lexsort((by_leaf, np.broadcast_to(t.item_group, by_leaf.shape)))
            vals = self._table[t.item_index + pattern[:, t.item_leaf] * t.item_stride]
            ordered = np.take_along_axis(vals, order, axis=1).T.take(inverse.reshape(-1),
                                                                     axis=1)
            for p in range(int(t.group_size.max())):
                g = t.group_size > p
                phi[t.group_feature[g]] += ordered[t.group_start[g] + p]
        return phi.T
