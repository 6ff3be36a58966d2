"""Both executors agree: the same outcome and the same fired rules on every generated vector.

Vectors sit on, next to and between the thresholds of the rules, with missing values in all
their spellings (absent key, None, NaN, pd.NA); a third, plain-Python reading of the conditions
(:func:`ruleengine.conditions.evaluate_python`) checks that both mean what the docs say.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chedaitong_sim.synthetic.rule_frames import boundary_frame
from ruleengine.compiler import SHARD_PATH_BUDGET, casts_for, compile_ruleset, paths, to_durable
from ruleengine.conditions import All, AnyOf, Leaf, Not, evaluate_python
from ruleengine.durable_executor import DurableRuleset
from ruleengine.engine_thread import default_engine
from ruleengine.facts import rows_to_frame
from ruleengine.rulesets import DECISION, Rule, RuleSet

N = 12_000
SEEDS = {"underwriting": 1, "products": 2, "postloan": 3}


def _rows(frame: pd.DataFrame, seed: int) -> list[dict]:
    """Frame rows as dicts, with missing values spelled every way a caller might."""
    rng = np.random.default_rng(seed)
    rows = frame.astype(object).to_dict("records")
    for row in rows:
        for key, value in list(row.items()):
            if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
                spelling = rng.integers(4)
                if spelling == 0:
                    del row[key]
                else:
                    row[key] = (None, float("nan"), pd.NA)[spelling - 1]
    return rows


@pytest.mark.parametrize("name", ["underwriting", "products", "postloan"])
def test_executors_agree_on_generated_vectors(book, catalog, name):
    compiled = book.compiled(name)
    ruleset = compiled.ruleset
    frame = boundary_frame(ruleset, catalog, N, seed=SEEDS[name])
    batch = book.evaluate_frame(frame, name)
    rows = _rows(frame, seed=7)
    online = []
    for start in range(0, N, 2000):
        online += book.evaluate_many(rows[start : start + 2000], name)
    assert len(online) == N
    mismatches = []
    matrix = compiled.vector.fire_matrix(frame)
    for i, (ev, (_, b)) in enumerate(zip(online, batch.iterrows(), strict=True)):
        facts = compiled.encoder.coerce(rows[i])
        reference = tuple(r.id for r in ruleset.rules if evaluate_python(r.when, facts))
        if not (ev.fired_ids == tuple(b["fired_rules"]) == reference) or ev.outcome != b["outcome"]:
            mismatches.append(
                (i, ev.outcome, b["outcome"], ev.fired_ids, b["fired_rules"], reference)
            )
        if name == "postloan":
            assert ev.actions == b["actions"]
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"
    # the generator reaches every rule both ways, so agreement is not vacuous
    fired_share = matrix.mean(axis=0)
    never = [r.id for r, s in zip(ruleset.rules, fired_share, strict=True) if s in (0.0, 1.0)]
    assert not never, f"rules never (or always) firing on generated data: {never}"
    assert batch["version"].iloc[0] == online[0].version == ruleset.version


def test_products_offers_follow_eligibility(book, catalog):
    ruleset = book.compiled("products").ruleset
    frame = boundary_frame(ruleset, catalog, 500, seed=3)
    batch = book.evaluate_frame(frame, "products")
    for row, eligible in zip(_rows(frame, 1), batch["eligible_products"], strict=True):
        offers = book.match_products(row)
        assert {o.product_id for o in offers} == set(eligible)
        assert sum(o.recommended for o in offers) == (1 if offers else 0)


# ---- random rule trees (hypothesis): the compiler's negation normal form ------------------
FEATURES = {
    "age_at_application": [18, 21, 22, 23, 60],
    "monthly_income": [0.0, 0.1, 0.30000000000000004, 2999.99, 3000.0, 1e-9],
    "id_card_verified": [True, False],
    "dealer_channel": ["4s_store", "dealer_group", "sub_dealer"],
}
NUMERIC = {"age_at_application", "monthly_income"}


@st.composite
def leaves(draw):
    feature = draw(st.sampled_from(sorted(FEATURES)))
    pool = FEATURES[feature]
    ops = ["==", "!=", "in", "not in", "is missing", "is present"]
    if feature in NUMERIC:
        ops += ["<", "<=", ">", ">=", "between"]
    op = draw(st.sampled_from(ops))
    if op in ("is missing", "is present"):
        return Leaf(feature, op, None)
    if op in ("in", "not in"):
        values = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
        return Leaf(feature, op, tuple(values))
    if op == "between":
        lo, hi = sorted(draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2)))
        return Leaf(feature, op, (lo, hi))
    return Leaf(feature, op, draw(st.sampled_from(pool)))


conditions = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: All(tuple(xs))),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: AnyOf(tuple(xs))),
        inner.map(Not),
    ),
    max_leaves=6,
)


@st.composite
def fact_rows(draw):
    row = {}
    for feature, pool in FEATURES.items():
        choice = draw(st.sampled_from([*pool, None, "absent"]))
        if choice != "absent":
            row[feature] = choice
    return row


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conds=st.lists(conditions, min_size=1, max_size=4),
    rows=st.lists(fact_rows(), min_size=1, max_size=25),
)
def test_random_conditions_mean_the_same_everywhere(toy_catalog, conds, rows):
    casts = casts_for(toy_catalog)
    assume(all(paths(to_durable(c, casts)) <= SHARD_PATH_BUDGET for c in conds))
    rules = tuple(Rule(f"R{i}", "d", "C", "中", "en", i, "decline", c) for i, c in enumerate(conds))
    ruleset = RuleSet("prop", DECISION, "1", "0", "-", rules)
    compiled = compile_ruleset(ruleset, toy_catalog)
    durable = DurableRuleset(default_engine(), "prop", compiled.shards, compiled.encoder)
    try:
        online = durable.fire_many(rows)
    finally:
        durable.unregister()
    matrix = compiled.vector.fire_matrix(rows_to_frame(rows, ruleset.features))
    for i, row in enumerate(rows):
        facts = compiled.encoder.coerce(row)
        reference = {r.id for r in rules if evaluate_python(r.when, facts)}
        batch = {rules[j].id for j in np.flatnonzero(matrix[i])}
        assert online[i] == batch == reference, (row, conds)


@pytest.mark.parametrize("name", ["underwriting", "products"])
def test_columns_coded_without_a_frame_fire_the_same_rules(book, catalog, name):
    """Re-apply guidance codes the unchanged part of a grid from one row and the changed
    columns from arrays: the fired rules are those of the frame the same rows make."""
    from ruleengine.facts import array_column, frame_columns, repeated_columns

    compiled = book.compiled(name)
    names = compiled.ruleset.features
    frame = boundary_frame(compiled.ruleset, catalog, 400, seed=11)
    rows = _rows(frame, seed=5)
    varying = names[: len(names) // 2]
    for i in range(0, 400, 40):  # row i's constant part + 40 rows' varying columns
        block = frame.iloc[i:i + 40].reset_index(drop=True)
        mixed = pd.concat([block[list(varying)],
                           rows_to_frame([rows[i]] * len(block), names)
                           .drop(columns=list(varying))], axis=1)
        expected = frame_columns(mixed, names, catalog)
        cols = repeated_columns(rows[i], [n for n in names if n not in varying], catalog,
                                len(block))
        cols.update({n: array_column(catalog[n], block[n].to_numpy(
            dtype=object if catalog[n].dtype == "category" else "float64",
            na_value=None if catalog[n].dtype == "category" else np.nan)) for n in varying})
        for n in names:
            np.testing.assert_array_equal(cols[n], expected[n], err_msg=n)
        assert (compiled.vector.fire_columns(cols, len(block))
                == compiled.vector.fire_matrix(mixed)).all()
