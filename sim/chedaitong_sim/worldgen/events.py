"""Small helpers shared by the raw-event generators (device, post-loan)."""

from __future__ import annotations

import numpy as np


def expand(counts: np.ndarray) -> np.ndarray:
    """Owner index of each generated row: [0,0,1,2,2,2] for counts [2,1,3]."""
    return np.repeat(np.arange(len(counts)), counts)


def rank_within(owner: np.ndarray) -> np.ndarray:
    """0-based position of each row inside its (contiguous, sorted) owner group."""
    n = len(owner)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Column-wise concatenation of dicts of equal keys."""
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def take(cols: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in cols.items()}


def sort_events(cols: dict[str, np.ndarray], owner: str = "cust") -> dict[str, np.ndarray]:
    """Stable order: owner, event time, upload time, then generation order."""
    order = np.lexsort((cols["uploaded_at"], cols["event_time"], cols[owner]))
    return take(cols, order)
