"""The decision core: features → model → underwriting rules → priced products → outcome.

Pure (no database, no vendors): `decide` gets the feature vector and the versions to use and
returns everything the record keeps. The live path and `replay` both call it, so a replay
with the same versions and features recomputes the very same answer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from functools import cache
from typing import Any

from decisioning import pricing
from models.errors import ModelError
from models.scoring import ScoringModel, score_with_shadow
from ruleengine.rulebook import RuleBook

APPROVE, DECLINE, REFER = "approve", "decline", "refer"
NO_PRODUCT = {
    "id": "DECISION_NO_PRODUCT", "reason_code": "NO_PRODUCT",
    "reason_zh": "没有符合条件的金融方案", "reason_en": "No financial plan fits the application",
}


@dataclass
class Outcome:
    """What one decision concluded, JSON-ready (money as strings, exact)."""

    outcome: str
    rules_version: str
    model_version: str | None
    features: dict[str, Any]
    fired_rules: list[dict[str, Any]]
    model: dict[str, Any] | None
    challenger: dict[str, Any] | None
    challenger_version: str | None
    offers: list[dict[str, Any]]
    reasons: list[dict[str, Any]]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def comparable(self) -> dict[str, Any]:
        """The parts a replay must reproduce exactly (timings excluded)."""
        d = asdict(self)
        d.pop("timings_ms")
        return d


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _flat_dict(obj: Any) -> dict[str, Any]:
    """A flat dataclass (fields of plain values: `Offer`, `FiredRule`) as a dict, JSON-ready.
    `dataclasses.asdict` deep-copies every value recursively; on the decision path that was
    most of the cost of turning a dozen offers and fired rules into the record."""
    return {name: _json_safe(getattr(obj, name)) for name in _field_names(type(obj))}


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value


def rules_version_of(book: RuleBook) -> str:
    """One string naming every ruleset version serving now (sorted, stable)."""
    return book.serving().label


def _score(model: ScoringModel | None, challenger: ScoringModel | None,
           features: Mapping[str, Any], n_reasons: int = 4) -> tuple[dict | None, dict | None]:
    if model is None:
        return None, None
    try:
        shadow = score_with_shadow(model, challenger, features, n_reasons=n_reasons)
    except ModelError:
        return None, None  # the rules refer an unscored application (UW_MODEL_UNAVAILABLE)

    def as_dict(s) -> dict[str, Any] | None:
        if s is None:
            return None
        return {"pd": s.pd, "score": s.score, "grade": s.grade, "version": s.version,
                "reasons": [{"feature": r.feature, "contribution": r.contribution,
                             "reason_zh": r.text_zh, "reason_en": r.text_en} for r in s.reasons]}

    return as_dict(shadow.champion), as_dict(shadow.challenger)


def _conclude(underwriting: str, offered: bool) -> str:
    """The outcome from the underwriting result and whether any product was offered."""
    if underwriting == "decline":
        return DECLINE
    if underwriting == "refer":
        return REFER
    return APPROVE if offered else REFER


def approved_plans(rows: Sequence[Mapping[str, Any]], book: RuleBook
                   ) -> list[dict[str, Any] | None]:
    """For each scored decision vector (model outputs included), the plan `decide` would
    recommend if it approves it — priced, as `decide` prices it — or None when it would not
    approve. One trip to the rules engine for all rows, and only the recommended plan is
    priced: what a re-apply search needs to confirm its options on the live durable path."""
    plans: list[dict[str, Any] | None] = []
    for full, (underwriting, matches) in zip(rows, book.underwrite_many(rows), strict=True):
        if _conclude(underwriting.outcome, bool(matches)) != APPROVE:
            plans.append(None)
            continue
        plan = next((m for m in matches if m.recommended), matches[0])
        plans.append(_flat_dict(pricing.price(full, [plan])[0]))
    return plans


def decide(features: Mapping[str, Any], book: RuleBook, model: ScoringModel | None,
           challenger: ScoringModel | None = None, *, n_reasons: int = 4) -> Outcome:
    """Decide one application from its feature vector (``n_reasons`` model reasons; 0 for
    a what-if that nobody reads the reasons of, such as a re-apply option)."""
    t0 = time.perf_counter()
    # read before the rules run: a caller that finds the book serving the same set after
    # them knows these are the versions used (`DecisionService.decide` re-runs otherwise)
    rules_version = rules_version_of(book)
    scored, shadow = _score(model, challenger, features, n_reasons)
    t1 = time.perf_counter()
    full = dict(features)
    full.update(model_pd=scored and scored["pd"], model_score=scored and scored["score"],
                risk_grade=scored and scored["grade"])
    # underwriting and (unless it declines, or nothing was scored) the product matches
    [(underwriting, matches)] = book.underwrite_many([full], products=scored is not None)
    t2 = time.perf_counter()
    offers = [_flat_dict(o) for o in pricing.price(full, matches or [])]
    t3 = time.perf_counter()

    fired = [_flat_dict(f) for f in underwriting.fired]
    outcome = _conclude(underwriting.outcome, bool(offers))
    reasons = [{"source": "rule", **{k: f[k] for k in ("id", "reason_code", "reason_zh",
                                                       "reason_en")}} for f in fired]
    if outcome == REFER and underwriting.outcome == "pass":
        reasons.append({"source": "decision", **NO_PRODUCT})
    if scored:
        reasons += [{"source": "model", "id": r["feature"], "reason_code": "MODEL_FACTOR",
                     "reason_zh": r["reason_zh"], "reason_en": r["reason_en"]}
                    for r in scored["reasons"]]
    return Outcome(
        outcome=outcome,
        rules_version=rules_version,
        model_version=scored["version"] if scored else None,
        features=full,
        fired_rules=fired,
        model=scored,
        challenger=shadow,
        challenger_version=shadow["version"] if shadow else None,
        offers=offers,
        reasons=reasons,
        timings_ms={"score": (t1 - t0) * 1e3, "rules": (t2 - t1) * 1e3,
                    "products": (t3 - t2) * 1e3},
    )
