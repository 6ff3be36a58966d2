"""Synthetic feature frames for tests, benchmarks and backtest demos (the real store lands later).

* :func:`boundary_frame` aims at the rules: values sit on, next to and between the thresholds
  the rules compare against, with missing values mixed in — what a parity test needs.
* :func:`applications` looks like a book of applications: one latent risk per row drives the
  risk features (in their catalog direction) and ``bad_12m`` / ``true_pd``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ruleengine.conditions import All, AnyOf, Leaf, thresholds
from ruleengine.rulesets import RuleSet


def _typed(fd: Any, values: np.ndarray, missing: np.ndarray) -> pd.Series:
    """A column as the feature store would hand it over: float64 with NaN, nullable boolean,
    or a categorical with the catalog's categories."""
    if fd.dtype == "category":
        codes = np.where(missing, -1, values.astype(np.int64))
        return pd.Series(pd.Categorical.from_codes(codes, list(fd.categories)))
    if fd.dtype == "bool":
        return pd.Series(pd.array(np.where(missing, None, values.astype(bool)), dtype="boolean"))
    return pd.Series(np.where(missing, np.nan, values.astype(np.float64)))


def boundary_frame(
    ruleset: RuleSet,
    catalog: Mapping[str, Any],
    n: int,
    seed: int = 0,
    missing: float = 0.15,
    aimed: float = 0.5,
) -> pd.DataFrame:
    """``n`` rows over the features ``ruleset`` reads, concentrated on its thresholds.

    A share ``aimed`` of the rows is steered towards one random rule: each leaf on the way is
    given a value that satisfies it (an exact boundary where there is one), so conjunctions of
    many conditions fire too; the other features keep their random boundary values.
    """
    rng = np.random.default_rng(seed)
    points: dict[str, list[Any]] = defaultdict(list)
    for rule in ruleset.rules:
        for feature, value in thresholds(rule.when):
            points[feature].append(value)
    codes: dict[str, np.ndarray] = {}
    gaps: dict[str, np.ndarray] = {}
    for name in ruleset.features:
        fd = catalog[name]
        gaps[name] = rng.random(n) < missing
        if fd.dtype == "category":
            codes[name] = rng.integers(0, len(fd.categories), n).astype(np.float64)
        elif fd.dtype == "bool":
            codes[name] = (rng.random(n) < 0.5).astype(np.float64)
        else:
            marks = np.array(sorted(set(points[name])) or [0.0])
            codes[name] = _numbers(fd.dtype, marks, n, rng)
    for i in np.flatnonzero(rng.random(n) < aimed):
        rule = ruleset.rules[int(rng.integers(len(ruleset.rules)))]
        for leaf in _chosen_leaves(rule.when, rng):
            value = _satisfying(catalog[leaf.feature], leaf, rng)
            gaps[leaf.feature][i] = value is None
            if value is not None:
                codes[leaf.feature][i] = value
    columns = {name: _typed(catalog[name], codes[name], gaps[name]) for name in ruleset.features}
    return pd.DataFrame(columns)


def _chosen_leaves(cond: Any, rng: np.random.Generator) -> list[Leaf]:
    """Leaves to satisfy so that ``cond`` holds (one branch of each ``any``; skip ``not``)."""
    if isinstance(cond, Leaf):
        return [cond]
    if isinstance(cond, All):
        return [leaf for item in cond.items for leaf in _chosen_leaves(item, rng)]
    if isinstance(cond, AnyOf):
        return _chosen_leaves(cond.items[int(rng.integers(len(cond.items)))], rng)
    return []


def _satisfying(fd: Any, leaf: Leaf, rng: np.random.Generator) -> float | None:
    """A value (float, category code or 0/1) for which ``leaf`` holds; None means missing."""
    op, v = leaf.op, leaf.value
    if op == "is missing":
        return None
    if fd.dtype == "category":
        index = {c: float(i) for i, c in enumerate(fd.categories)}
        if op in ("==", "in"):
            options = [v] if op == "==" else list(v)
        else:
            excluded = {v} if op == "!=" else set(v)
            options = [c for c in fd.categories if c not in excluded] or list(fd.categories)
        return index[options[int(rng.integers(len(options)))]]
    if fd.dtype == "bool":
        if op == "==":
            return float(v)
        if op == "!=":
            return float(not v)
        return float(rng.random() < 0.5)
    step = 1.0 if fd.dtype == "int" else None

    def above(x: float) -> float:
        return x + step if step else float(np.nextafter(x, np.inf))

    def below(x: float) -> float:
        return x - step if step else float(np.nextafter(x, -np.inf))

    match op:
        case "<" | "<=" | ">" | ">=" | "==":
            x = float(v)
            return {"<": below(x), ">": above(x)}.get(op, x)
        case "!=":
            return above(float(v))
        case "between":
            return float(v[int(rng.integers(2))])
        case "in":
            return float(v[int(rng.integers(len(v)))])
        case "not in":
            return above(float(max(v)))
    return float(rng.choice([0.0, 1.0]))  # is present


def _numbers(dtype: str, marks: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    marks = marks.astype(np.float64)
    lo, hi = float(marks.min()), float(marks.max())
    span = max(hi - lo, 1.0)
    exact = rng.choice(marks, n)
    kind = rng.random(n)
    if dtype == "int":
        near = exact + rng.choice([-1.0, 1.0], n)
        spread = rng.integers(int(lo - span / 2 - 3), int(hi + span / 2 + 4), n).astype(np.float64)
        out = np.where(kind < 0.35, exact, np.where(kind < 0.6, near, spread))
        return np.clip(out, -(2.0**53), 2.0**53)
    up, down = np.nextafter(exact, np.inf), np.nextafter(exact, -np.inf)
    spread = rng.uniform(lo - span / 2 - 1, hi + span / 2 + 1, n)
    rounded = np.round(spread, 2)
    tiny = rng.choice([1e-12, -1e-10, 0.0, 1e-9], n)
    out = np.select(
        [kind < 0.3, kind < 0.4, kind < 0.5, kind < 0.75, kind < 0.95],
        [exact, up, down, spread, rounded],
        tiny,
    )
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def applications(n: int, catalog: Mapping[str, Any], seed: int = 0) -> pd.DataFrame:
    """``n`` plausible applications with every application / decision feature of the catalog,
    plus ``application_id``, ``applied_at``, ``bad_12m`` and ``true_pd``."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)  # latent risk: higher is riskier
    true_pd = _sigmoid(-2.9 + 1.0 * z)

    def poisson(mean: float, slope: float) -> np.ndarray:
        return rng.poisson(mean * np.exp(slope * z)).astype(np.float64)

    def flag(base: float, slope: float) -> np.ndarray:
        return rng.random(n) < _sigmoid(base + slope * z)

    price = np.round(rng.lognormal(np.log(180_000), 0.45, n), -2)
    ratio = np.clip(rng.beta(3, 7, n) + 0.08, 0.05, 0.6)
    loan = np.round(price * (1 - ratio), -2)
    income = np.round(rng.lognormal(np.log(26_000), 0.4, n) * np.exp(-0.1 * z), -1)
    term = rng.choice([12, 24, 36], n, p=[0.2, 0.35, 0.45])
    sms30 = poisson(0.02, 0.9)
    sms90 = sms30 + poisson(0.04, 0.9)
    inq1 = poisson(0.3, 0.6)
    inq3 = inq1 + poisson(0.8, 0.6)
    inq6 = inq3 + poisson(1.0, 0.5)
    liveness = np.round(rng.beta(30, 2, n), 4)
    model_pd = np.clip(true_pd * np.exp(rng.normal(0, 0.25, n)), 1e-4, 0.999)
    score = np.round(600 - 50 * np.log2(model_pd / (1 - model_pd) * 19))
    known: dict[str, np.ndarray] = {
        "age_at_application": np.clip(np.round(rng.normal(37, 8, n)), 18, 70),
        "vehicle_price": price,
        "loan_amount": loan,
        "loan_to_value": np.round(loan / price, 4),
        "down_payment_ratio": np.round(ratio, 4),
        "monthly_income": income,
        "installment_to_income": np.round(loan * (1 + 0.07 * term / 12) / term / income, 4),
        "term_months": term,
        "sms_collection_30d": sms30,
        "sms_collection_90d": sms90,
        "sms_collection_180d": sms90 + poisson(0.2, 0.8),
        "sms_lending_platforms_180d": poisson(0.8, 0.6),
        "contacts_blacklisted": poisson(0.03, 1.0),
        "contacts_loan_company": poisson(0.6, 0.5),
        "device_shared_customers": poisson(0.02, 1.0),
        "gps_pings_90d": poisson(60, 0.0),
        "gps_share_in_home_city_90d": np.round(rng.beta(9 - z.clip(-2, 2), 1.5), 4),
        "home_to_dealer_km": np.round(rng.exponential(25, n), 1),
        "photo_gps_points": poisson(30, 0.0),
        "photo_home_median_km": np.round(rng.exponential(12, n), 1),
        "id_card_verified": flag(4.5, -0.6),
        "liveness_score": liveness,
        "liveness_passed": liveness >= 0.75,
        "four_element_match": flag(4.5, -0.6),
        "bureau_report_available": flag(2.8, -0.3),
        "bureau_inquiries_1m": inq1,
        "bureau_inquiries_3m": inq3,
        "bureau_inquiries_6m": inq6,
        "bureau_inquiries_12m": inq6 + poisson(1.5, 0.4),
        "bureau_worst_status_24m": np.minimum(poisson(0.08, 1.0), 7),
        "bureau_overdue_amount": np.where(
            flag(-4.0, 1.2), np.round(rng.exponential(3000, n), 2), 0.0
        ),
        "bureau_card_utilisation": np.round(rng.beta(2 + z.clip(-1.5, 3), 4), 4),
        "bureau_open_loans": poisson(1.5, 0.3),
        "bureau_months_since_oldest": poisson(70, -0.2),
        "tp_score": np.clip(np.round(rng.normal(660 - 45 * z, 35)), 300, 950),
        "tp_blacklisted": flag(-5.0, 1.2),
        "tp_multi_lending": poisson(1.5, 0.5),
        "model_pd": model_pd,
        "model_score": score,
        "risk_grade": np.digitize(-score, [-700, -640, -590, -540]),
    }
    no_bureau = ~known["bureau_report_available"]
    columns: dict[str, pd.Series] = {}
    for fd in catalog.values():
        if fd.entity not in ("application", "decision"):
            continue
        miss = rng.random(n) < (0.0 if fd.missing.startswith("never") else 0.02)
        if fd.source == "bureau_pboc" and fd.name != "bureau_report_available":
            miss |= no_bureau
        if fd.name in known:
            values = known[fd.name]
        elif fd.dtype == "category":
            values = rng.integers(0, len(fd.categories), n)
        elif fd.dtype == "bool":
            values = flag(3.0, -0.5) if fd.direction <= 0 else flag(-3.0, 0.5)
        elif fd.unit == "ratio":
            values = np.round(_sigmoid(rng.normal(0.4 * fd.direction * z, 1.0, n)), 4)
        elif fd.dtype == "int":
            values = poisson(1.0, 0.45 * fd.direction)
        else:
            values = np.round(rng.exponential(1.0, n) * np.exp(0.5 * fd.direction * z), 2)
        columns[fd.name] = _typed(fd, np.asarray(values), miss)
    frame = pd.DataFrame(columns)
    frame.insert(0, "application_id", [f"A{i:08d}" for i in range(n)])
    days = pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    frame.insert(1, "applied_at", pd.Timestamp("2024-01-01") + days)
    frame["true_pd"] = true_pd
    frame["bad_12m"] = rng.random(n) < true_pd
    return frame
