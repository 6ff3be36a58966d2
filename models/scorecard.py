"""Points score and risk grades: how a calibrated PD becomes what pricing rules read.

Points: ``score = offset + factor · ln(odds)``, odds = good:bad = (1 − PD) / PD, with
**600 points at odds 50:1** and **20 points to double the odds** (factor = 20 / ln 2 ≈ 28.85,
offset = 600 − factor · ln 50 ≈ 487.12), rounded to an integer and clipped to [300, 900].

Grades A (best) … E are score bands fitted to the portfolio at training time (``GradeSpec``):

- ``pd:1,2.5,5,10`` — PD cut-offs in percent (the standard bands below): a grade means the
  same risk in every model version, so price grids keep their meaning across champions;
- ``quantile:20,40,60,80`` — cumulative shares (percent, best first) of the training
  applicants' out-of-fold scores: A is the best 20 %, and so on;
- ``auto`` (default) — the PD bands when they spread the training portfolio (no grade holds
  more than half of it), else the quantile bands: on a 30 % bad-rate portfolio the standard
  bands put most applicants in E, which makes pricing by grade useless.

=====  ==========  =============
grade  score       PD (standard bands)
=====  ==========  =============
A      ≥ 620       < 1 %
B      593 – 619   1 – 2.5 %
C      572 – 592   2.5 – 5 %
D      551 – 571   5 – 10 %
E      ≤ 550       ≥ 10 %
=====  ==========  =============

Both are stored in the version folder (``scorecard.json``, with how the bands were learnt)
and read back from there; the product rules read only the letter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from models.errors import ConfigError

DEFAULT_BANDS = (("A", 620), ("B", 593), ("C", 572), ("D", 551), ("E", None))
GRADE_LETTERS = ("A", "B", "C", "D", "E")
STANDARD_PD_CUTOFFS = (0.01, 0.025, 0.05, 0.10)
DEFAULT_QUANTILES = (0.2, 0.4, 0.6, 0.8)
#: A behaviour model's default bands: most loans on the books are fine, so the grades split the
#: training snapshots' calibrated PD into the best half (A), the next quarter (B), 15 % (C),
#: 7 % (D) and the riskiest 3 % (E) — the early-warning tiers collections work from. The
#: application PD bands would put nearly every loan in one grade (6-month PDs are small for
#: current loans, large for delinquent ones).
BEHAVIOUR_QUANTILES = (0.5, 0.75, 0.9, 0.97)
#: ``auto`` keeps the PD bands unless one grade would hold more than this share.
AUTO_MAX_SHARE = 0.5


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
    grading: dict[str, Any] = field(default_factory=lambda: {"method": "pd", "cutoffs": list(
        STANDARD_PD_CUTOFFS)}, compare=False)  # how the bands were chosen (for reports)

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

    def pd_at(self, score: float) -> float:
        """The PD a points score stands for (inverse of the points scale)."""
        return 1.0 / (1.0 + math.exp((score - self.offset) / self.factor))

    def band_table(self) -> list[dict[str, Any]]:
        """Per grade: score range and the PD range it stands for."""
        rows = []
        for i, (g, lo) in enumerate(self.bands):
            hi = self.bands[i - 1][1] - 1 if i else None  # type: ignore[operator]
            rows.append({"grade": g, "min_score": lo, "max_score": hi,
                         "pd_from": self.pd_at(hi + 0.5) if hi is not None else 0.0,
                         "pd_to": self.pd_at(lo - 0.5) if lo is not None else 1.0})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_score": self.base_score, "base_odds": self.base_odds, "pdo": self.pdo,
            "min_score": self.min_score, "max_score": self.max_score,
            "factor": self.factor, "offset": self.offset,
            "bands": [{"grade": g, "min_score": m} for g, m in self.bands],
            "grading": self.grading,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scorecard:
        bands = tuple((b["grade"], b["min_score"]) for b in d["bands"])
        mins = [m for _, m in bands[:-1]]
        if (bands[-1][1] is not None or any(m is None for m in mins)
                or mins != sorted(mins, reverse=True)):
            raise ValueError("grade bands must have descending minimums and an open last band")
        grading = d.get("grading") or {"method": "pd", "cutoffs": list(STANDARD_PD_CUTOFFS)}
        return cls(d["base_score"], d["base_odds"], d["pdo"], d["min_score"], d["max_score"],
                   bands, grading)


@dataclass(frozen=True)
class GradeSpec:
    """How to fit the grade bands: ``method`` is ``auto``, ``pd`` (``values`` = PD cut-offs
    between A|B, B|C, C|D, D|E) or ``quantile`` (``values`` = cumulative shares of training
    applicants, best first). ``parse("pd:1,2.5,5,10")`` reads the CLI form (percent)."""

    method: str = "auto"
    values: tuple[float, ...] = ()
    why: str = ""  # recorded with the bands instead of the generic reason

    def __post_init__(self) -> None:
        if self.method not in ("auto", "pd", "quantile"):
            raise ConfigError(f"grades must be auto, pd:… or quantile:…, not {self.method!r}")
        v = list(self.values)
        ok = len(v) == len(GRADE_LETTERS) - 1 and all(0 < x < 1 for x in v) and v == sorted(set(v))
        if self.method != "auto" and not ok:
            raise ConfigError(
                f"grades {self.method}: needs {len(GRADE_LETTERS) - 1} increasing values "
                "strictly between 0 and 100 (percent)"
            )

    @classmethod
    def parse(cls, text: str) -> GradeSpec:
        text = (text or "auto").strip()
        if text == "auto":
            return cls()
        method, _, rest = text.partition(":")
        try:
            values = tuple(float(x) / 100 for x in rest.split(",") if x.strip())
        except ValueError:
            raise ConfigError(f"grades {text!r}: values must be numbers (percent)") from None
        return cls(method.strip(), values)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "values": list(self.values)}


def _pd_bands(base: Scorecard, cutoffs: Sequence[float]) -> tuple[tuple[str, int | None], ...]:
    mins = [base.points_one(math.log(p / (1 - p))) for p in cutoffs]
    return _bands(mins)


def _quantile_bands(scores: np.ndarray, shares: Sequence[float]
                    ) -> tuple[tuple[str, int | None], ...]:
    s = np.asarray(scores, float)
    mins = [int(np.quantile(s, 1 - q, method="higher")) for q in shares]
    return _bands(mins)


def _bands(mins: Sequence[int]) -> tuple[tuple[str, int | None], ...]:
    """Strictly descending minimums (ties from heavy score ties are pushed one point apart)."""
    out: list[int] = []
    for m in mins:
        out.append(min(int(m), out[-1] - 1) if out else int(m))
    return (*zip(GRADE_LETTERS, out, strict=False), (GRADE_LETTERS[-1], None))


def fit_grades(base: Scorecard, scores: np.ndarray, spec: GradeSpec = GradeSpec()) -> Scorecard:
    """``base`` with bands fitted by ``spec`` to the training applicants' ``scores`` (points,
    shape (n,)); ``grading`` records the method, cut-offs, resulting shares and why."""
    scores = np.asarray(scores, float)

    def shares(card: Scorecard) -> list[float]:
        g = card.grades(scores)
        return [float(np.mean(g == letter)) for letter in GRADE_LETTERS]

    why = ""
    if spec.method in ("auto", "pd"):
        cutoffs = spec.values or STANDARD_PD_CUTOFFS
        card = replace(base, bands=_pd_bands(base, cutoffs),
                       grading={"method": "pd", "cutoffs": list(cutoffs)})
        top = max(shares(card))
        if spec.method == "pd" or top <= AUTO_MAX_SHARE:
            why = "PD cut-offs" + (" (standard bands spread the portfolio)"
                                   if spec.method == "auto" else " (as requested)")
            return replace(card, grading={**card.grading, "requested": spec.method,
                                          "shares": shares(card), "why": why})
        why = (f"the standard PD bands would put {top:.0%} of the training applicants in one "
               f"grade, so score quantiles were learnt instead")
    qs = spec.values if spec.method == "quantile" else DEFAULT_QUANTILES
    card = replace(base, bands=_quantile_bands(scores, qs),
                   grading={"method": "quantile", "cumulative_shares": list(qs)})
    return replace(card, grading={**card.grading, "requested": spec.method,
                                  "shares": shares(card),
                                  "why": why or spec.why or "score quantiles (as requested)"})
