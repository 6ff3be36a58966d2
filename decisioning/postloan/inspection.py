"""The nightly post-loan inspection of one partition of loans, as pure pandas/numpy.

`inspect_partition(part, as_of, resources)` closes one business day for a partition: 罚息 per
overdue installment day, days past due and bucket, post-loan features, behaviour score, post-loan
rules → actions. No database, no vendors, no clock: the same function runs in the pandas engine,
on Dask workers and in the benchmark, and its output is what the caller persists.

Penalty: exactly `servicing.loan.accrue_to` over the whole book. An installment with principal
or interest unpaid whose grace has expired at `as_of` is charged every day from the day after
its `penalty_through` (or its due date) through `as_of`, on the base unpaid at the start of
those days (a payment always accrues first, so the base is constant between payments), with
`servicing.batch.daily_penalty_cents` — proven equal to the Decimal `daily_penalty`. Zero-cent
days are not stored, as in `penalty.accrue`. A loan several days behind (a new loan, a skipped
night) catches up in one call; its DPD snapshot is only taken for `as_of`.

Scoring: the behaviour champion scores tonight's post-loan features (`behaviour.py`): the rules
read `behaviour_pd` / `_score` / `_grade`, missing (so not firing) when no behaviour champion is
set. The DPD snapshot's `model_score` / `model_pd` are the application score at booking as the
decision recorded it (``loans.application_score`` / ``application_pd``, read with the loans;
missing when the decision was not scored or the loan has none): the application model is not
run at night — same model, same decision features, the score could never move.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from decisioning import behaviour_routing
from decisioning.postloan import allocator, behaviour
from featurestore.compute import loan_features
from featurestore.facts import empty_facts
from servicing.batch import daily_penalty_cents
from servicing.delinquency import DEFAULT_BUCKETS, Buckets
from servicing.penalty import PenaltyPolicy

LOAN_COLUMNS = [
    "loan_id", "customer_id", "disbursed_on", "rate_ppm", "penalty_multiplier",
    "penalty_grace_days", "penalty_include_interest", "penalty_day_basis",
]
INSTALLMENT_COLUMNS = [
    "loan_id", "number", "due_date", "unpaid_principal", "unpaid_interest",
    "penalty_through", "settled_on",
]
# Severity order of the post-loan actions (rules/postloan.yaml's header).
ACTIONS = ("outsourced_collection", "phone_task", "gps_alert", "sms_reminder")


@dataclass
class Partition:
    """One partition's inputs. Dates are datetime64[ns] (midnight), money int64 cents.

    loans: LOAN_COLUMNS, one row per loan. installments: INSTALLMENT_COLUMNS, every schedule
    line of those loans; ``loans.application_score`` / ``application_pd`` (optional, float,
    NaN when unscored): the score and PD the loan's decision recorded.
    facts: feature-store facts of the loans' customers (`customer_id` as str).
    A night's read (`run.load_partition` with `as_of`) hands over only the lines due before
    the night, with each loan's outstanding principal in ``loans.exposure_cents``; `closed`:
    the loans' close marker was already moved by the read (`run.persist` leaves it).
    """

    loans: pd.DataFrame
    installments: pd.DataFrame
    facts: pd.DataFrame
    closed: bool = False


@dataclass
class PartitionResult:
    accruals: pd.DataFrame  # loan_id, installment_no, accrual_date, base, amount (cents)
    charged: pd.DataFrame  # loan_id, number, penalty_cents: installments accrued through as_of
    loans: pd.DataFrame  # loan_id, dpd, bucket, model_pd, model_score, fired_rules, actions,
    #                      exposure_cents, behaviour.COLUMNS
    actions: pd.DataFrame  # loan_id, action, rule_ids, dpd, bucket


@dataclass(frozen=True)
class Resources:
    """Where a worker finds the model and rules (paths, so they travel to Dask workers)."""

    model_root: str | None
    rules_dir: str
    buckets: Buckets = DEFAULT_BUCKETS
    #: LightGBM threads per partition, both models (1 when each core runs its own worker)
    threads: int = 2


@lru_cache(maxsize=4)
def _rules(rules_dir: str) -> tuple[Any, dict[str, str]]:
    from featurestore import catalog
    from ruleengine.compiler import compile_ruleset
    from ruleengine.loader import load_dir

    ruleset = load_dir(Path(rules_dir), catalog())["postloan"]
    compiled = compile_ruleset(ruleset, catalog())
    return compiled.vector, {r.id: r.outcome for r in ruleset.rules}


def warm(resources: Resources) -> Any:
    """Load what every partition uses — the behaviour champion and challenger with their batch
    reason tables, the compiled post-loan rules — once per process before the first
    partition, so no partition (nor a Dask worker's first task) pays seconds of model
    parsing; and keep the partitions' big arrays in the heap (`allocator`). No application
    model: the night reads its recorded score. Returns the behaviour champion (None
    without one)."""
    allocator.keep_big_blocks()
    champ = behaviour.champion(resources.model_root)
    if champ is not None:
        for m in (champ, behaviour.challenger(resources.model_root)):
            if m is not None:
                m.warm_batch()
    _rules(resources.rules_dir)
    return champ


def _days(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


def accrue_penalties(
    loans: pd.DataFrame, inst: pd.DataFrame, as_of: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vectorised `accrue_to(state, as_of)` for every installment (see module docstring).

    Only lines with principal or interest unpaid can accrue — a few percent of a book's
    lines — so the rest of the work runs on those lines alone."""
    day = np.datetime64(as_of, "D")
    principal = inst["unpaid_principal"].to_numpy(np.int64)
    interest = inst["unpaid_interest"].to_numpy(np.int64)
    line = np.flatnonzero(principal + interest > 0)  # inst row of each candidate
    principal, interest = principal[line], interest[line]
    pos = pd.Index(loans["loan_id"]).get_indexer(inst["loan_id"].to_numpy()[line])  # loan row
    due = _days(inst["due_date"].iloc[line])
    through = _days(inst["penalty_through"].iloc[line])
    start = np.where(np.isnat(through), due, through) + np.timedelta64(1, "D")
    grace = loans["penalty_grace_days"].to_numpy(np.int64)[pos]
    late = (day - due).astype(np.int64)
    eligible = (late > grace) & (start <= day)
    include = loans["penalty_include_interest"].to_numpy(bool)[pos]
    base = principal + np.where(include, interest, 0)
    rates = loans["rate_ppm"].to_numpy(np.int64)[pos]
    daily = np.zeros(len(line), np.int64)
    keys = loans["penalty_multiplier"].astype(str) + "|" + loans["penalty_day_basis"].astype(str)
    codes, uniques = pd.factorize(keys)
    codes = codes[pos]
    for code, key in enumerate(uniques):
        rows = eligible & (codes == code)
        if not rows.any():
            continue
        mult, basis = key.split("|")
        pol = PenaltyPolicy(multiplier=_decimal(mult), day_basis=int(basis))
        daily[rows] = daily_penalty_cents(base[rows], rates[rows], pol)
    n_days = np.where(eligible, (day - start).astype(np.int64) + 1, 0)
    idx = np.flatnonzero(eligible)
    loan_ids, numbers = inst["loan_id"].to_numpy()[line], inst["number"].to_numpy()[line]
    charged = pd.DataFrame({
        "loan_id": loan_ids[idx],
        "number": numbers[idx],
        "penalty_cents": daily[idx] * n_days[idx],
    })
    paying = idx[daily[idx] > 0]
    reps = n_days[paying]
    rows = np.repeat(paying, reps)
    offsets = np.arange(rows.size) - np.repeat(np.cumsum(reps) - reps, reps)
    accruals = pd.DataFrame({
        "loan_id": loan_ids[rows],
        "installment_no": numbers[rows],
        "accrual_date": (start[rows] + offsets.astype("timedelta64[D]")).astype("datetime64[ns]"),
        "base": base[rows],
        "amount": daily[rows],
    })
    return accruals, charged


def _decimal(text: str) -> Any:
    from decimal import Decimal

    return Decimal(text)


def delinquency(
    loans: pd.DataFrame, inst: pd.DataFrame, as_of: date, buckets: Buckets = DEFAULT_BUCKETS
) -> pd.DataFrame:
    """DPD (days since the oldest due date < as_of with principal/interest unpaid) and bucket."""
    day = np.datetime64(as_of, "D")
    unpaid = (inst["unpaid_principal"].to_numpy() + inst["unpaid_interest"].to_numpy()) > 0
    line = np.flatnonzero(unpaid)  # (the day conversion on those lines only)
    due = _days(inst["due_date"].iloc[line])
    late = due < day
    oldest = (
        pd.Series(due[late], index=inst["loan_id"].to_numpy()[line][late])
        .groupby(level=0).min()
    )
    first = oldest.reindex(loans["loan_id"].to_numpy()).to_numpy(dtype="datetime64[D]")
    dpd = np.where(np.isnat(first), 0, (day - first).astype(np.int64))
    labels = np.asarray(buckets.labels, dtype=object)
    bucket = labels[np.searchsorted(np.asarray(buckets.upper_bounds), dpd, side="left")]
    return pd.DataFrame({"loan_id": loans["loan_id"].to_numpy(), "dpd": dpd, "bucket": bucket})


def postloan_features(part: Partition, as_of: date) -> pd.DataFrame:
    """Feature-store post-loan features, one row per loan in `part.loans` order.

    Only the installments already due are handed over (`loan_features` ignores the others).
    Integer loan ids (the ledger's) stay integers — the installment join then hashes no text;
    other keys are taken from the loans' keys (an array take, not one conversion per line)."""
    loans = part.loans
    when = pd.Timestamp(as_of, tz="UTC")
    inst = part.installments
    # (before the night's midnight ⟺ due on an earlier day: no day conversion needed)
    due = inst["due_date"].to_numpy(dtype="datetime64[ns]") < np.datetime64(as_of, "D")
    if due.all():  # a night's read hands over only those: every column as it is, no copy
        due = slice(None)
    if pd.api.types.is_integer_dtype(loans["loan_id"].dtype):
        keys = pd.Series(loans["loan_id"].to_numpy(dtype=np.int64))
        inst_keys = inst["loan_id"].to_numpy(dtype=np.int64)[due]
    else:
        keys = pd.array(loans["loan_id"].to_numpy().astype(str), dtype="string")
        pos = pd.Index(loans["loan_id"]).get_indexer(inst["loan_id"].to_numpy()[due])
        inst_keys = keys.take(pos, allow_fill=True)
    entities = pd.DataFrame({
        "entity_id": keys.to_numpy() if isinstance(keys, pd.Series) else keys,
        "customer_id": loans["customer_id"].to_numpy().astype(str),
        "as_of": when,
        # a DatetimeIndex, not `.to_numpy()`: tz-aware to_numpy is an object array of
        # Timestamps (one Python object per loan; it was a quarter of the partition's time)
        "disbursed_at": pd.DatetimeIndex(loans["disbursed_on"]).tz_localize("UTC"),
    })
    if "application_score" in loans.columns:  # recorded at the decision (a behaviour input)
        entities["application_score"] = loans["application_score"].to_numpy(dtype="float64")
    frame = {
        "loan_id": inst_keys,
        "due_date": pd.DatetimeIndex(inst["due_date"].to_numpy()[due]).tz_localize("UTC"),
        "settled_at": pd.DatetimeIndex(inst["settled_on"].to_numpy()[due]).tz_localize("UTC"),
    }
    if "amount_due" in inst.columns:  # the ledger's state tonight: a part-paid line is known
        amount = inst["amount_due"].to_numpy(dtype=np.int64)[due]
        unpaid = (inst["unpaid_principal"].to_numpy(dtype=np.int64)
                  + inst["unpaid_interest"].to_numpy(dtype=np.int64))[due]
        part_paid = np.where((unpaid > 0) & (unpaid < amount), amount - unpaid, 0)
        frame["amount_due"] = amount
        frame["part_paid"] = part_paid
        frame["part_paid_at"] = pd.DatetimeIndex(
            np.where(part_paid > 0, np.datetime64(as_of, "us") - np.timedelta64(1, "us"),
                     np.datetime64("NaT", "us"))).tz_localize("UTC")
    inst = pd.DataFrame(frame)
    facts = part.facts if part.facts is not None and len(part.facts) else empty_facts()
    out = loan_features(entities, facts, inst)
    out.index = loans.index
    return out


def recorded_scores(loans: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(application score, PD) per loan as its decision recorded them, float, NaN where the
    loan has no scored decision (or the read carried none)."""
    missing = np.full(len(loans), np.nan)
    return tuple(loans[c].to_numpy(dtype="float64") if c in loans.columns else missing
                 for c in ("application_score", "application_pd"))


def inspect_partition(part: Partition, as_of: date, resources: Resources) -> PartitionResult:
    """Close `as_of` for one partition (pure; see the module docstring)."""
    loans = part.loans.reset_index(drop=True)
    part = replace(part, loans=loans)  # keeps every other field (closed, …)
    accruals, charged = accrue_penalties(loans, part.installments, as_of)
    dlq = delinquency(loans, part.installments, as_of, resources.buckets)
    feats = postloan_features(part, as_of)
    app_score, app_pd = recorded_scores(loans)
    frame = feats  # (a local frame: completed in place, not copied)
    frame["days_past_due"] = dlq["dpd"].to_numpy(dtype="float64")  # the ledger is authoritative
    frame["worst_dpd"] = np.fmax(frame["worst_dpd"].to_numpy(dtype="float64"),
                                 frame["days_past_due"].to_numpy())
    beh, routed = behaviour_routing.score(frame, loans["loan_id"], resources.model_root,
                                           resources.threads)
    frame = pd.concat([frame, beh.drop(columns=["behaviour_reasons", "behaviour_version",
                                                behaviour_routing.COLUMN])], axis=1)
    vector, rule_action = _rules(resources.rules_dir)
    verdict = vector.evaluate(frame)
    acted = np.fromiter(map(len, verdict["actions"].to_numpy()), np.intp, len(frame)) > 0
    beh["behaviour_reasons"] = behaviour_routing.reasons(frame, routed, acted,
                                                        resources.threads)
    out = dlq.assign(
        model_pd=app_pd,
        model_score=app_score,
        fired_rules=verdict["fired_rules"].to_numpy(),
        actions=verdict["actions"].to_numpy(),
        exposure_cents=behaviour.exposure_cents(loans, part.installments),
        **{c: beh[c].to_numpy() for c in (*behaviour.COLUMNS, behaviour_routing.COLUMN)},
    )
    return PartitionResult(accruals, charged, out, explode_actions(out, rule_action, acted))


def explode_actions(loans: pd.DataFrame, rule_action: dict[str, str],
                    acted: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (loan, action) with the rules that asked for it (``acted``: which loans
    have an action, when the caller already knows — a Python pass over the partition).

    A loan's actions and their rules follow from its fired rules alone, so each distinct set
    of fired rules (a handful a night) is expanded once and the loans are repeated along."""
    if acted is None:
        acted = np.fromiter((len(a) > 0 for a in loans["actions"]), bool, len(loans))
    has = np.flatnonzero(acted)
    columns = ["loan_id", "action", "rule_ids", "dpd", "bucket"]
    if not len(has):
        return pd.DataFrame([], columns=columns)
    fired = loans["fired_rules"].to_numpy()[has]
    actions = loans["actions"].to_numpy()[has]
    codes, first = _factorize_objects(fired)
    expand = [[(a, [r for r in fired[i] if rule_action.get(r) == a]) for a in actions[i]]
              for i in first]
    per = np.array([len(e) for e in expand], np.intp)
    offsets = np.r_[0, np.cumsum(per)[:-1]]
    flat_action = np.array([a for e in expand for a, _ in e], dtype=object)
    flat_rules = [rules for e in expand for _, rules in e]
    rows = np.repeat(has, per[codes])
    k = np.repeat(offsets[codes], per[codes]) + (
        np.arange(rows.size) - np.repeat(np.cumsum(per[codes]) - per[codes], per[codes]))
    return pd.DataFrame({
        "loan_id": loans["loan_id"].to_numpy()[rows],
        "action": flat_action[k],
        "rule_ids": [list(flat_rules[j]) for j in k],  # one list per row, as before
        "dpd": loans["dpd"].to_numpy()[rows],
        "bucket": loans["bucket"].to_numpy()[rows],
    }, columns=columns)


def _factorize_objects(values: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """(code of each value, position of each code's first value) for hashable objects."""
    seen: dict[Any, int] = {}
    first: list[int] = []
    codes = np.empty(len(values), np.intp)
    for i, v in enumerate(values):
        c = seen.get(v)
        if c is None:
            c = seen[v] = len(first)
            first.append(i)
        codes[i] = c
    return codes, first
