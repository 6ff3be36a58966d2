"""Re-apply guidance: the smallest honest changes that would turn a decline or referral into
an approval, with the plan and price the customer would then get.

Only what a customer can change honestly is searched — the down payment (and with it the
amount borrowed), the term, a cheaper vehicle from the dealer's own range, and identity
checks they have not completed yet. Age, income, bureau history and device signals are
copied unchanged into every candidate, so no option can ever depend on them.

The search is vectorised: every candidate of the grid becomes one row of a frame whose
application terms are recomputed by the feature store's own code
(`featurestore.compute.application_term_columns`), scored by the model in one batch and
run through the underwriting and product rulesets with the vector executor. The cheapest
approving candidates are then decided again one by one through `policy.decide` — the
durable-rules path that decides live — which also prices the resulting plan; a candidate
the two paths disagree on is dropped (and counted), never shown.

Pure (no database): `guide` is a function of the recorded features, the dealer's vehicle
range it is given and the versions in use, so a record's guidance can be replayed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application
from decisioning import policy
from featurestore import compute
from models.errors import ModelError
from models.scoring import ScoringModel
from ruleengine.conditions import features_read
from ruleengine.rulebook import RuleBook
from ruleengine.vector_executor import unique_rows
from servicing.money import to_cents

log = logging.getLogger(__name__)
GUIDANCE_VERSION = "guidance-1"
MAX_OPTIONS = 3
DOWN_PAYMENT_RATIOS = (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50)
AMOUNT_STEP = 1000  # suggested down payments are whole thousands of yuan, rounded up
MAX_VEHICLES = 6  # cheaper vehicles from the dealer's range tried per application
# Identity evidence a customer can still supply, when it is missing (never when it failed):
# the feature that is missing, the value it takes once done, and the words for the customer.
EVIDENCE = {
    "liveness": ({"liveness_passed": True, "liveness_score": 1.0},
                 "Complete the liveness (face) check in the app",
                 "在App中完成活体检测"),
    "id_check": ({"id_card_verified": True},
                 "Finish the ID-card check in the app",
                 "在App中完成身份证核验"),
    "bank_card": ({"four_element_match": True},
                  "Verify your bank card with its reserved phone number",
                  "完成银行卡（预留手机号）验证"),
}
# What a change costs the customer, roughly: extra cash as a share of the price, a different
# term, a different car, and finishing a check (cheap, so it is suggested first).
COST_TERM_PER_YEAR = 0.03
COST_VEHICLE = 0.05
COST_EVIDENCE = 0.005
# Application features recomputed from the changed terms (the rest are copied).
TERM_FEATURES = ("vehicle_price", "loan_amount", "loan_to_value", "down_payment_ratio",
                 "installment_to_income", "term_months")


@dataclass(frozen=True)
class Vehicle:
    """A vehicle in the dealer's range (what it has sold or filed applications for)."""

    brand: str
    model: str
    price: Decimal

    def as_dict(self) -> dict[str, str]:
        return {"vehicle_brand": self.brand, "vehicle_model": self.model,
                "vehicle_price": str(to_cents(self.price))}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Vehicle:
        return cls(d["vehicle_brand"], d["vehicle_model"], Decimal(str(d["vehicle_price"])))


@dataclass
class Guidance:
    """What the record keeps: the inputs a replay needs, the options, and how the search went
    (``disagreements``: candidates the vector and durable paths judged differently)."""

    options: list[dict[str, Any]]
    inputs: dict[str, Any]
    searched: int
    disagreements: int
    latency_ms: float

    def as_record(self) -> dict[str, Any]:
        return {"version": GUIDANCE_VERSION, "options": self.options, "inputs": self.inputs,
                "searched": self.searched, "disagreements": self.disagreements,
                "latency_ms": round(self.latency_ms, 3)}


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _terms_offered(book: RuleBook) -> list[int]:
    products = book.compiled("products").ruleset.products
    return sorted({t for p in products for t in p.terms})


def _grid(features: Mapping[str, Any], vehicle: dict[str, Any] | None,
          stock: Sequence[Vehicle], terms: Sequence[int]) -> pd.DataFrame:
    """Every candidate (vehicle × term × down payment × evidence subset) as one row of the
    customer-changeable inputs, with the cost of the change."""
    price = float(features["vehicle_price"])
    amount = float(features["loan_amount"])
    down = float(features["down_payment_ratio"] or 0.0) * price
    term = int(features["term_months"])
    current = vehicle or {"vehicle_brand": None, "vehicle_model": None}
    vehicles = [(current.get("vehicle_brand"), current.get("vehicle_model"), price)]
    vehicles += [(v.brand, v.model, float(v.price)) for v in stock if float(v.price) < price]
    evidence = [k for k, (setting, _, _) in EVIDENCE.items()
                if any(_missing(features.get(f)) for f in setting)]
    subsets = [tuple(k for i, k in enumerate(evidence) if mask >> i & 1)
               for mask in range(1 << len(evidence))]
    rows: list[tuple] = []
    for vi, (_, _, p) in enumerate(vehicles):
        downs = {round(down, 2)}
        downs |= {math.ceil(r * p / AMOUNT_STEP) * AMOUNT_STEP for r in DOWN_PAYMENT_RATIOS
                  if r * p > down}
        for t in terms:
            for d in sorted(downs):
                if d >= p:
                    continue
                loan = min(amount, p - d)
                if loan <= 0:
                    continue
                for sub in subsets:
                    cost = ((d - down) / price + abs(t - term) / 12 * COST_TERM_PER_YEAR
                            + (COST_VEHICLE + (price - p) / price if vi else 0.0)
                            + COST_EVIDENCE * len(sub))
                    rows.append((vi, p, d, loan, t, sub, cost))
    grid = pd.DataFrame(rows, columns=["vehicle", "vehicle_price", "down_payment",
                                       "loan_amount", "term_months", "evidence", "cost"])
    grid.attrs["vehicles"] = vehicles
    return grid


def _candidate_frame(features: Mapping[str, Any], grid: pd.DataFrame,
                     catalog: Mapping[str, Any], columns: set[str] | None = None
                     ) -> pd.DataFrame:
    """The full feature frame of the candidates: unchanged evidence copied, application
    terms recomputed by the feature store's code, supplied evidence set."""
    n = len(grid)
    entities = pd.DataFrame({
        "entity_id": np.arange(n).astype(str), "customer_id": "guidance",
        "as_of": pd.Timestamp("2000-01-01", tz="UTC"),
        "birth_date": pd.Timestamp("1970-01-01", tz="UTC"),  # age is copied, not recomputed
        "monthly_income": features.get("monthly_income"),
        "vehicle_price": grid["vehicle_price"].to_numpy(),
        "loan_amount": grid["loan_amount"].to_numpy(),
        "down_payment": grid["down_payment"].to_numpy(),
        "term_months": grid["term_months"].to_numpy(),
        "lease_type": features.get("lease_type"), "dealer_channel": features.get("dealer_channel"),
        "home_to_dealer_km": features.get("home_to_dealer_km"),
        **{c: features.get(c) for c in compute.PROFILE_CATEGORIES},
    })
    entities["monthly_income"] = pd.to_numeric(entities["monthly_income"], errors="coerce")
    entities["home_to_dealer_km"] = pd.to_numeric(entities["home_to_dealer_km"], errors="coerce")
    terms = compute.application_term_columns(entities)
    data: dict[str, Any] = {}
    for name, fd in catalog.items():
        if fd.entity != "application" or (columns is not None and name not in columns):
            continue
        v = features.get(name)
        if fd.dtype == "category":  # copied: no category is a customer-changeable term
            code = fd.categories.index(v) if v in fd.categories else -1
            data[name] = pd.Categorical.from_codes(np.full(n, code, dtype=np.int16),
                                                   categories=list(fd.categories))
        elif name in terms and name != "age_at_application":
            data[name] = np.asarray(terms[name], dtype="float64")
        else:
            data[name] = np.full(n, np.nan if _missing(v) else float(v))
    # decision-time facts the platform adds (consent, its own books): copied, never changed;
    # the model's outputs are scored on the grid by `_approves`
    for name, fd in catalog.items():
        if fd.entity == "decision" and name not in data and name not in MODEL_OUTPUTS \
                and fd.dtype != "category" and (columns is None or name in columns):
            v = features.get(name)
            data[name] = np.full(n, np.nan if _missing(v) else float(v))
    for key, (setting, _, _) in EVIDENCE.items():
        rows = np.fromiter((key in sub for sub in grid["evidence"]), dtype=bool, count=n)
        if rows.any():
            for f, value in setting.items():
                if f in data:
                    data[f] = np.where(rows, float(value), data[f])
    return pd.DataFrame(data)


MODEL_OUTPUTS = ("model_pd", "model_score", "risk_grade")


def _approves(book: RuleBook, model: ScoringModel, frame: pd.DataFrame) -> np.ndarray:
    """Vector path: the model scores the grid, then the underwriting ruleset passes and at
    least one product is eligible (the same masks `RuleBook.evaluate_frame` uses)."""
    pd_, points, grades = model.scores_of(model.encode(frame))
    frame["model_pd"] = pd_
    frame["model_score"] = np.asarray(points, dtype="float64")
    frame["risk_grade"] = pd.Categorical(grades, categories=list(
        book.catalog["risk_grade"].categories))
    with book.pinned("underwriting") as uw:
        matrix = uw.vector.fire_matrix(frame)
        patterns, inverse = unique_rows(matrix)
        passes = np.array([uw.combiner.combine([uw.vector.rule_ids[j]
                                                for j in np.flatnonzero(row)])[0] == "pass"
                           for row in patterns], dtype=bool)
    with book.pinned("products") as products:
        eligible = products.vector.fire_matrix(frame).any(axis=1)
    return (passes[inverse] if len(patterns) else np.zeros(len(frame), bool)) & eligible


def _money(x: float) -> str:
    """A grid amount (a float computed from the features) as exact cents, rounded once."""
    return str(to_cents(Decimal(str(x))))


def _yuan(x: float | str) -> str:
    return f"¥{Decimal(str(x)):,.0f}"


def _option(features: Mapping[str, Any], row: Mapping[str, Any], vehicles: list[tuple],
            outcome: policy.Outcome) -> dict[str, Any]:
    """One option as recorded: the changes, the resulting terms, the plan, the words."""
    price0 = float(features["vehicle_price"])
    down0 = float(features["down_payment_ratio"] or 0.0) * price0
    term0 = int(features["term_months"])
    brand, model_name, price = vehicles[int(row["vehicle"])]
    changes: list[dict[str, Any]] = []
    en: list[str] = []
    zh: list[str] = []
    if int(row["vehicle"]):
        changes.append({"lever": "vehicle", "from": _money(price0), "to": _money(price),
                        "vehicle_brand": brand, "vehicle_model": model_name})
        en.append(f"Choose the {brand} {model_name} ({_yuan(price)}) from this dealer")
        zh.append(f"选择本店的{brand} {model_name}（{_yuan(price)}）")
    if abs(row["down_payment"] - down0) >= 0.005:
        changes.append({"lever": "down_payment", "from": _money(down0),
                        "to": _money(row["down_payment"])})
        en.append(f"Raise the down payment to {_yuan(row['down_payment'])}")
        zh.append(f"将首付（保证金）提高到{_yuan(row['down_payment'])}")
    if int(row["term_months"]) != term0:
        changes.append({"lever": "term_months", "from": term0, "to": int(row["term_months"])})
        en.append(f"Choose a {int(row['term_months'])}-month term")
        zh.append(f"选择{int(row['term_months'])}期")
    for key in row["evidence"]:
        changes.append({"lever": "evidence", "item": key})
        en.append(EVIDENCE[key][1])
        zh.append(EVIDENCE[key][2])
    plan = next((o for o in outcome.offers if o.get("recommended")), outcome.offers[0])
    terms = {"vehicle_brand": brand, "vehicle_model": model_name,
             "vehicle_price": _money(price), "down_payment": _money(row["down_payment"]),
             "loan_amount": _money(row["loan_amount"]), "term_months": int(row["term_months"])}
    plan_words = (f"{plan['name_en']}, {plan['term']} months, first installment "
                  f"¥{plan['first_installment']}")
    return {
        "changes": changes, "terms": terms, "plan": plan,
        "text_en": "; ".join(en) + f". You would then be offered: {plan_words}.",
        "text_zh": "；".join(zh) + f"。届时可获方案：{plan['name_zh']}，{plan['term']}期，"
                                   f"首期月供¥{plan['first_installment']}。",
    }


def _levers(row: Mapping[str, Any], features: Mapping[str, Any]) -> tuple:
    price0 = float(features["vehicle_price"])
    down0 = float(features["down_payment_ratio"] or 0.0) * price0
    return (bool(row["vehicle"]), abs(row["down_payment"] - down0) >= 0.005,
            int(row["term_months"]) != int(features["term_months"]), tuple(row["evidence"]))


def _columns_read(book: RuleBook, model: ScoringModel) -> set[str]:
    """The features the model and the two rulesets read: the only columns the grid needs."""
    return (set(model.feature_names) | set(book.compiled("underwriting").ruleset.features)
            | set(book.compiled("products").ruleset.features))


def _asks_at_least(levers: tuple, chosen: tuple) -> bool:
    return (all(a >= b for a, b in zip(levers[:3], chosen[:3], strict=True))
            and set(chosen[3]) <= set(levers[3]))


def fixable(features: Mapping[str, Any], fired: Sequence[Mapping[str, Any]],
            book: RuleBook) -> bool:
    """Whether every rule that stopped the approval reads something a re-application can
    change (the terms, the evidence still missing, or the model's score of them). A decline
    for age or bureau history is not: no search is run and no option is given."""
    changeable = set(TERM_FEATURES) | {"model_pd", "model_score", "risk_grade"}
    changeable |= {f for setting, _, _ in EVIDENCE.values() for f in setting}
    rules = {r.id: r for r in book.compiled("underwriting").ruleset.rules}
    for f in fired:
        rule = rules.get(f.get("id"))
        if rule is not None and not (features_read(rule.when) & changeable):
            return False
    return True


def guide(features: Mapping[str, Any], book: RuleBook, model: ScoringModel | None, *,
          vehicle: Mapping[str, Any] | None = None, stock: Sequence[Vehicle] = (),
          fired: Sequence[Mapping[str, Any]] | None = None,
          max_options: int = MAX_OPTIONS) -> Guidance:
    """Up to ``max_options`` approving options for the application with these (recorded)
    ``features``, cheapest change first, each using a different set of levers.

    ``vehicle``: the current brand and model; ``stock``: the dealer's range (cheaper
    vehicles are tried); ``fired``: the decision's fired rules, to skip the search when one
    of them reads nothing changeable. Without a model nothing can approve: no options.
    """
    started = time.perf_counter()
    inputs = {"vehicle": dict(vehicle) if vehicle else None,
              "stock": [v.as_dict() for v in stock]}
    base = {k: v for k, v in features.items() if k not in ("model_pd", "model_score",
                                                             "risk_grade")}
    needed = ("vehicle_price", "loan_amount", "term_months")
    if (model is None or any(_missing(base.get(k)) for k in needed)
            or (fired is not None and not fixable(base, fired, book))):
        return Guidance([], inputs, 0, 0, (time.perf_counter() - started) * 1e3)
    cheaper = sorted({v for v in stock if float(v.price) < float(base["vehicle_price"])},
                     key=lambda v: (-v.price, v.brand, v.model))[:MAX_VEHICLES]
    grid = _grid(base, inputs["vehicle"], cheaper, _terms_offered(book))
    vehicles = grid.attrs["vehicles"]
    try:
        frame = _candidate_frame(base, grid, book.catalog, _columns_read(book, model))
        approving = _approves(book, model, frame)
    except ModelError as exc:
        log.warning("guidance: candidates could not be scored: %s", exc)
        return Guidance([], inputs, len(grid), 0, (time.perf_counter() - started) * 1e3)
    order = np.flatnonzero(approving)[np.argsort(grid["cost"].to_numpy()[approving],
                                                 kind="stable")]
    options: list[dict[str, Any]] = []
    used: set[tuple] = set()
    disagreements = 0
    g = {c: grid[c].to_numpy() for c in grid.columns} if len(order) else {}
    f = {k: (frame[k].to_numpy(), book.catalog[k].dtype) for k in frame.columns
         if k not in ("model_pd", "model_score", "risk_grade")} if len(order) else {}
    for i in order:
        row = {c: values[i] for c, values in g.items()}
        levers = _levers(row, base)
        if any(_asks_at_least(levers, chosen) for chosen in used):
            continue  # the same or more than an option already given
        candidate = {**base, **{k: _value(values[i], dtype)
                                for k, (values, dtype) in f.items()}}
        outcome = policy.decide(candidate, book, model, n_reasons=0)
        if outcome.outcome != policy.APPROVE:
            disagreements += 1
            log.warning("guidance: vector path approved candidate %s, durable path %s",
                        i, outcome.outcome)
            continue
        used.add(levers)
        options.append(_option(base, row, vehicles, outcome))
        if len(options) >= max_options:
            break
    for rank, option in enumerate(options, start=1):
        option["rank"] = rank
    return Guidance(options, inputs, len(grid), disagreements,
                    (time.perf_counter() - started) * 1e3)


def policy_value(frame: pd.DataFrame, i: int, name: str, catalog: Mapping[str, Any]) -> Any:
    """One cell of the candidate frame as the decision vector holds it (None, bool, int,
    float or category label)."""
    return _value(frame.at[i, name], catalog[name].dtype)


def _value(v: Any, dtype: str) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    if dtype == "bool":
        return bool(v)
    if dtype == "int":
        return int(v)
    if dtype == "category":
        return str(v)
    return float(v)


def dealer_range(session: Session, application: Application,
                 limit: int = MAX_VEHICLES) -> list[Vehicle]:
    """Cheaper vehicles this dealer has filed applications for (its range, as far as the
    platform knows it), the dearest first — what a cheaper-vehicle option may suggest."""
    rows = session.execute(
        select(Application.vehicle_brand, Application.vehicle_model, Application.vehicle_price)
        .where(Application.dealer_id == application.dealer_id,
               Application.lease_type == application.lease_type,
               Application.vehicle_price < application.vehicle_price)
        .distinct().order_by(Application.vehicle_price.desc()).limit(limit)).all()
    return [Vehicle(b, m, Decimal(p)) for b, m, p in rows]


def customer_view(guidance: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """What the customer sees: the words, the resulting terms and plan — never the search,
    the model's numbers or anything about the rules."""
    if not guidance:
        return []
    plan_keys = ("product_id", "name_zh", "name_en", "term", "annual_rate", "financed_amount",
                 "first_installment", "total_interest", "repayment_method")
    return [{"rank": o["rank"], "text_en": o["text_en"], "text_zh": o["text_zh"],
             "terms": o["terms"], "plan": {k: o["plan"].get(k) for k in plan_keys}}
            for o in guidance.get("options", [])]
