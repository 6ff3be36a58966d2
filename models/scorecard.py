"""Points score and risk grades: how a calibrated PD becomes what pricing rules read.

Points: ``score = offset + factor · ln(odds)``, odds = good:bad = (1 − PD) / PD, with
**600 points at odds 50:1** and **20 points to double the odds** (factor = 20 / ln 2 ≈ 28.85,
offset = 600 − factor · ln 50 ≈ 487.12), rounded to an integer and clipped to [300, 900].

Grades are fixed score bands anchored on PD, so a grade means the same risk in every model
version (pricing rules keyed on the grade keep their meaning when the champion changes):

=====  ==========  =============
grade  score       PD (approx.)
=====  ==========  =============
A      ≥ 620       < 1 %
B      593 – 619   1 – 2.5 %
C      572 – 592   2.5 – 5 %
D      551 – 571   5 – 10 %
E      ≤ 550       ≥ 10 %
=====  ==========  =============

Both are stored in the version folder (``scorecard.json``) and read back from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_BANDS = (("A", 620), ("B", 593), ("C", 572), ("D", 551), ("E", None))


@dataclass(frozen=True)
class Scorecard:
    """Points scale plus grade bands. ``bands``: (grade, minimum score) from best to worst;
    the last grade has no minimum."""

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    min_score: int = 300
    max_score: int = 900
    bands: tuple[tuple[str, int | None], ...] = field(default=DEFAULT_BANDS)

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def points_from_logit(self, logit_bad: np.ndarray) -> np.ndarray:
        """Integer scores for calibrated log-odds of bad, shape (n,); ln(odds good:bad) = −logit."""
        s = np.rint(self.offset - self.factor * np.asarray(logit_bad, float))
        return np.clip(s, self.min_score, self.max_score).astype(np.int64)

    def points_one(self, logit_bad: float) -> int:
        s = round(self.offset - self.factor * logit_bad)
        return int(min(max(s, self.min_score), self.max_score))

    def points(self, pd_: np.ndarray) -> np.ndarray:
        """Scores for PDs (clipped to [1e-9, 1 − 1e-9]), shape (n,)."""
        p = np.clip(np.asarray(pd_, float), 1e-9, 1 - 1e-9)
        return self.points_from_logit(np.log(p / (1 - p)))

    def grades(self, scores: np.ndarray) -> np.ndarray:
        """Grade letters (object array) for integer scores, shape (n,)."""
        mins = np.array([m for _, m in self.bands[:-1]], float)
        letters = np.array([g for g, _ in self.bands], dtype=object)
        # mins descend; count how many minimums the score misses → band index
        idx = (np.asarray(scores, float)[:, None] < mins[None, :]).sum(axis=1)
        return letters[idx]

    def grade_one(self, score: int) -> str:
        for grade, minimum in self.bands:
            if minimum is None or score >= minimum:
                return grade
        return self.bands[-1][0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_score": self.base_score, "base_odds": self.base_odds, "pdo": self.pdo,
            "min_score": self.min_score, "max_score": self.max_score,
            "factor": self.factor, "offset": self.offset,
            "bands": [{"grade": g, "min_score": m} for g, m in self.bands],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scorecard:
        bands = tuple((b["grade"], b["min_score"]) for b in d["bands"])
        mins = [m for _, m in bands[:-1]]
        if (bands[-1][1] is not None or any(m is None for m in mins)
                or mins != sorted(mins, reverse=True)):
            raise ValueError("grade bands must have descending minimums and an open last band")
        return cls(d["base_score"], d["base_odds"], d["pdo"], d["min_score"], d["max_score"], bands)
