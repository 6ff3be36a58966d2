"""Re-apply guidance: the smallest honest changes that would turn a decline or referral into
an approval, with the plan and price the customer would then get.

Only what a customer can change honestly is searched — the down payment (and with it the
amount borrowed), the term, a cheaper vehicle from the dealer's own stock, and identity
checks they have not completed yet. Age, income, bureau history and device signals are
copied unchanged into every candidate, so no option can ever depend on them.

The search is vectorised, without a frame: only the application terms (recomputed by the
feature store's own formulas, `featurestore.compute.loan_term_fields`) and the evidence a
candidate supplies vary across the grid; the rest is the one recorded row, encoded once for
the model and coded once for the rules (`ruleengine.facts.repeated_columns`). The model
scores the whole grid in one batch and the underwriting and product rulesets run over it with
the vector executor's masks. The cheapest approving candidates are then confirmed on the
durable-rules path that decides live, as `policy.decide` concludes, a batch of them in one
trip to the engine (`policy.approved_plans`, which prices only the plan shown, with the batch's
scores of the very same encoded rows); a candidate the two paths disagree on is dropped (and
counted), never shown.

Pure (no database): `guide` is a function of the recorded features, the dealer's vehicle
stock it is given and the versions in use, so a record's guidance can be replayed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application
from chedaitong.db.stock import DealerVehicle
from decisioning import policy
from featurestore import compute
from models.errors import ModelError
from models.scoring import ScoringModel
from ruleengine.conditions import features_read
from ruleengine.facts import array_column, repeated_columns
from ruleengine.rulebook import RuleBook
from ruleengine.vector_executor import unique_rows
from servicing.money import to_cents

log = logging.getLogger(__name__)
GUIDANCE_VERSION = "guidance-1"
MAX_OPTIONS = 3
DOWN_PAYMENT_RATIOS = (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50)
AMOUNT_STEP = 1000  # suggested down payments are whole thousands of yuan, rounded up
MAX_VEHICLES = 6  # cheaper vehicles from the dealer's stock tried per application
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
    """A vehicle of the dealer's stock (brand, model, list price)."""

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


@dataclass
class Grid:
    """Every candidate of one search as columns (row i = one candidate): which vehicle
    (0 = the current one, else an index into ``vehicles``), its price, the down payment,
    the amount borrowed, the term, the evidence supplied and the cost of the change."""

    vehicle: np.ndarray
    vehicle_price: np.ndarray
    down_payment: np.ndarray
    loan_amount: np.ndarray
    term_months: np.ndarray
    evidence: list[tuple[str, ...]]
    cost: np.ndarray
    vehicles: list[tuple]

    def __len__(self) -> int:
        return len(self.cost)

    def row(self, i: int) -> dict[str, Any]:
        return {"vehicle": int(self.vehicle[i]), "vehicle_price": float(self.vehicle_price[i]),
                "down_payment": float(self.down_payment[i]),
                "loan_amount": float(self.loan_amount[i]),
                "term_months": int(self.term_months[i]), "evidence": self.evidence[i],
                "cost": float(self.cost[i])}


def _grid(features: Mapping[str, Any], vehicle: Mapping[str, Any] | None,
          stock: Sequence[Vehicle], terms: Sequence[int]) -> Grid:
    """Every candidate (vehicle × term × down payment × evidence subset) of the
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
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    return Grid(np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype="float64"),
                np.array(cols[2], dtype="float64"), np.array(cols[3], dtype="float64"),
                np.array(cols[4], dtype=np.int64), list(cols[5]),
                np.array(cols[6], dtype="float64"), vehicles)


class Candidates:
    """The grid's candidates as decision vectors: the recorded features, except the
    application terms — recomputed by the feature store's own formulas
    (`featurestore.compute.loan_term_fields`) — and the evidence a candidate supplies.
    Only those columns vary; everything else is the one recorded value, shared."""

    def __init__(self, features: Mapping[str, Any], grid: Grid):
        self.base = dict(features)
        self.n = n = len(grid)
        income = features.get("monthly_income")
        terms = compute.loan_term_fields(grid.vehicle_price, grid.loan_amount,
                                         grid.down_payment, grid.term_months,
                                         np.nan if _missing(income) else float(income))
        self.varying: dict[str, np.ndarray] = {k: terms[k] for k in TERM_FEATURES}
        for key, (setting, _, _) in EVIDENCE.items():
            rows = np.fromiter((key in sub for sub in grid.evidence), dtype=bool, count=n)
            if rows.any():
                for f, value in setting.items():
                    v = features.get(f)
                    now = np.full(n, np.nan if _missing(v) else float(v))
                    self.varying[f] = np.where(rows, float(value), now)

    def __len__(self) -> int:
        return self.n

    def features(self, i: int, catalog: Mapping[str, Any]) -> dict[str, Any]:
        """Candidate ``i`` as the decision vector `policy.decide` reads."""
        return {**self.base, **{k: _value(v[i], catalog[k].dtype)
                                for k, v in self.varying.items()}}


MODEL_OUTPUTS = ("model_pd", "model_score", "risk_grade")


def _live_outputs(model: ScoringModel, features: Mapping[str, Any]) -> dict[str, Any]:
    """A candidate's model outputs as `policy.decide` puts them in the vector: its own
    single-row score, never the screening batch's — a batch predict (LightGBM's, a WOE matrix
    product, np.exp) can differ from the single-row one in the last bit, and a candidate
    offered must be judged on exactly what a live decision of it would see."""
    s = model.score(features, n_reasons=0)
    return {"model_pd": s.pd, "model_score": s.score, "risk_grade": s.grade}


def _approves(book: RuleBook, model: ScoringModel, cands: Candidates,
              fired: Collection[str] | None = None) -> np.ndarray:
    """The candidates the vector path approves, as a mask: the model scores the grid in one
    batch, then the underwriting ruleset passes and at least one product is eligible (the
    masks `RuleBook.evaluate_frame` uses), on columns built from the one recorded row plus
    the varying ones — no frame.

    ``fired``: the ids of the underwriting rules the decision fired on the recorded row.
    Given them, a rule that reads none of the varying features is not evaluated again: it
    fires for every candidate exactly when it fired for the decision (two thirds of the
    rules; and when one of those declines or refers, no candidate can pass)."""
    n = len(cands)
    if not n:
        return np.zeros(0, bool)
    varying = set(cands.varying) | set(MODEL_OUTPUTS)
    with book.pinned("underwriting") as uw:
        if fired is None:
            live, held = None, []
        else:
            reads = uw.vector.rule_features
            live = [j for j, f in enumerate(reads) if f & varying]
            held = [uw.vector.rule_ids[j] for j, f in enumerate(reads)
                    if not f & varying and uw.vector.rule_ids[j] in fired]
            if held and uw.combiner.combine(held)[0] != "pass":
                return np.zeros(n, bool)  # a rule no change touches stops every candidate
        X = np.repeat(model.encode_row(cands.base), n, axis=0)
        index = {name: j for j, name in enumerate(model.feature_names)}
        for name, values in cands.varying.items():
            if name in index:
                X[:, index[name]] = values
        pd_, points, grades = model.scores_of(X)
        computed = {**cands.varying, "model_pd": pd_,
                    "model_score": np.asarray(points, dtype="float64"),
                    "risk_grade": np.asarray(grades, dtype=object)}

        def columns(compiled: Any, rules: Sequence[int] | None = None
                    ) -> dict[str, np.ndarray]:
            names = (compiled.ruleset.features if rules is None else
                     sorted(set().union(*(compiled.vector.rule_features[j] for j in rules))))
            cols = repeated_columns(cands.base, [f for f in names if f not in computed],
                                    book.catalog, n)
            cols.update({f: array_column(book.catalog[f], computed[f]) for f in names
                         if f in computed})
            return cols

        ids = uw.vector.rule_ids if live is None else [uw.vector.rule_ids[j] for j in live]
        matrix = uw.vector.fire_columns(columns(uw, live), n, live)
        patterns, inverse = unique_rows(matrix)
        passes = np.array([uw.combiner.combine(held + [ids[j] for j in np.flatnonzero(row)])[0]
                           == "pass" for row in patterns], dtype=bool)
    with book.pinned("products") as products:
        eligible = products.vector.fire_columns(columns(products), n).any(axis=1)
    approving = (passes[inverse] if len(patterns) else np.zeros(n, bool)) & eligible
    return approving


def _money(x: float) -> str:
    """A grid amount (a float computed from the features) as exact cents, rounded once."""
    return str(to_cents(Decimal(str(x))))


def _yuan(x: float | str) -> str:
    return f"¥{Decimal(str(x)):,.0f}"


def _option(features: Mapping[str, Any], row: Mapping[str, Any], vehicles: list[tuple],
            plan: dict[str, Any]) -> dict[str, Any]:
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


def searches(features: Mapping[str, Any], book: RuleBook, model: ScoringModel | None,
             fired: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether `guide` runs a search for these features at all: a model to score the
    candidates, the terms to vary, and (given the fired rules) something changeable to fix.
    The live path asks first, so the dealer's stock is read only for a search that uses it."""
    needed = ("vehicle_price", "loan_amount", "term_months")
    return (model is not None and not any(_missing(features.get(k)) for k in needed)
            and (fired is None or fixable(features, fired, book)))


def _confirmed(base: Mapping[str, Any], book: RuleBook, model: ScoringModel, grid: Grid,
               cands: Candidates, order: Sequence[int], max_options: int
               ) -> tuple[list[dict[str, Any]], int]:
    """(options, disagreements): the cheapest approving candidates in ``order``, each asking
    for less than every option already given, confirmed on the live durable path.

    Candidates are taken as if the durable path agrees with the vector one, and a batch of
    them is confirmed in one trip (`policy.approved_plans`, pricing only the plan shown).
    A candidate the durable path does not approve is dropped and counted, the rest of its
    batch is discarded and the search goes on after it — exactly the options a one-by-one
    confirmation gives, since a dropped candidate may have hidden later ones."""
    options: list[dict[str, Any]] = []
    used: list[tuple] = []
    disagreements = 0
    start = 0
    while start < len(order) and len(options) < max_options:
        picks: list[tuple[int, dict[str, Any], tuple]] = []
        assumed = list(used)
        for position in range(start, len(order)):
            row = grid.row(order[position])
            levers = _levers(row, base)
            if any(_asks_at_least(levers, chosen) for chosen in assumed):
                continue  # the same or more than an option already given
            picks.append((position, row, levers))
            assumed.append(levers)
            if len(options) + len(picks) >= max_options:
                break
        if not picks:
            break
        vectors = []
        for position, _, _ in picks:
            f = cands.features(order[position], book.catalog)
            f.update(_live_outputs(model, f))
            vectors.append(f)
        start = len(order)
        for (position, row, levers), plan in zip(picks, policy.approved_plans(vectors, book),
                                                 strict=True):
            if plan is None:
                disagreements += 1
                log.warning("guidance: vector path approved candidate %s, durable path not",
                            order[position])
                start = position + 1
                break
            used.append(levers)
            options.append(_option(base, row, grid.vehicles, plan))
    return options, disagreements


def guide(features: Mapping[str, Any], book: RuleBook, model: ScoringModel | None, *,
          vehicle: Mapping[str, Any] | None = None, stock: Sequence[Vehicle] = (),
          fired: Sequence[Mapping[str, Any]] | None = None,
          max_options: int = MAX_OPTIONS) -> Guidance:
    """Up to ``max_options`` approving options for the application with these (recorded)
    ``features``, cheapest change first, each using a different set of levers.

    ``vehicle``: the current brand and model; ``stock``: the dealer's stock (cheaper
    vehicles are tried); ``fired``: the decision's fired rules, to skip the search when one
    of them reads nothing changeable. Without a model nothing can approve: no options.
    """
    started = time.perf_counter()
    inputs = {"vehicle": dict(vehicle) if vehicle else None,
              "stock": [v.as_dict() for v in stock]}
    base = {k: v for k, v in features.items() if k not in MODEL_OUTPUTS}
    if not searches(base, book, model, fired):
        return Guidance([], inputs, 0, 0, (time.perf_counter() - started) * 1e3)
    cheaper = sorted({v for v in stock if float(v.price) < float(base["vehicle_price"])},
                     key=lambda v: (-v.price, v.brand, v.model))[:MAX_VEHICLES]
    grid = _grid(base, inputs["vehicle"], cheaper, _terms_offered(book))
    cands = Candidates(base, grid)
    try:
        approving = _approves(book, model, cands,
                              None if fired is None else {f.get("id") for f in fired})
        order = [int(i) for i in
                 np.flatnonzero(approving)[np.argsort(grid.cost[approving], kind="stable")]]
        options, disagreements = _confirmed(base, book, model, grid, cands, order, max_options)
    except ModelError as exc:
        log.warning("guidance: candidates could not be scored: %s", exc)
        return Guidance([], inputs, len(grid), 0, (time.perf_counter() - started) * 1e3)
    for rank, option in enumerate(options, start=1):
        option["rank"] = rank
    return Guidance(options, inputs, len(grid), disagreements,
                    (time.perf_counter() - started) * 1e3)


def _value(v: Any, dtype: str) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if dtype == "bool":
        return bool(v)
    if dtype == "int":
        return int(v)
    if dtype == "category":
        return str(v)
    return float(v)


def dealer_stock(session: Session, application: Application,
                 limit: int = MAX_VEHICLES) -> list[Vehicle]:
    """The vehicles on sale at the application's dealer (its stock,
    `chedaitong.db.stock.DealerVehicle`) cheaper than the one applied for, the dearest
    first — the only cars a cheaper-vehicle option may suggest."""
    rows = session.execute(
        select(DealerVehicle.vehicle_brand, DealerVehicle.vehicle_model, DealerVehicle.price)
        .where(DealerVehicle.dealer_id == application.dealer_id,
               DealerVehicle.active.is_(True),
               DealerVehicle.price < application.vehicle_price)
        .order_by(DealerVehicle.price.desc(), DealerVehicle.id).limit(limit)).all()
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
