"""Champion/challenger for the nightly behaviour score: a routing policy of purpose
``behaviour`` sends its share of the loans to the behaviour challenger, every score row names
its arm and the model that scored it, and a loan keeps its arm night after night."""

from __future__ import annotations

import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db.behaviour import BehaviourScore
from chedaitong_sim.synthetic.behaviour_frames import behaviour_frame
from decisioning import behaviour_routing
from decisioning.postloan import behaviour
from decisioning.postloan import run as postloan
from decisioning.postloan.inspection import Resources
from decisioning.postloan.lock import acquire
from decisioning.routing import RoutingPolicy, RoutingStore, bucket_of
from models.registry import Registry
from models.train import train_and_register
from tests.servicing_db.conftest import FAST

SHARE = 40.0


@pytest.fixture(scope="module")
def routed_root(tmp_path_factory, model_root):
    """The application champion, a behaviour champion and a behaviour challenger (trained on
    different synthetic snapshots), and a 40 % behaviour routing policy."""
    root = tmp_path_factory.mktemp("routed") / "models"
    shutil.copytree(model_root, root)
    reg = Registry(root, "behaviour")
    for seed, alias in ((2, "champion"), (5, "challenger")):
        version, _ = train_and_register(behaviour_frame(3000, seed=seed), reg, config=FAST,
                                        report=False)
        reg.promote(version, alias, force=True)
    RoutingStore(root).save(RoutingPolicy(purpose="behaviour", challenger_percent=SHARE,
                                          salt="beh-1"))
    behaviour._model.cache_clear()
    yield root
    behaviour._model.cache_clear()


def _night(engine, as_of, resources, store):
    held = acquire(engine, postloan.LOCK_NAME, "test")
    postloan.run_day(engine, as_of, resources=resources, store=store, vendors=None,
                     holder="test")
    postloan.postloan_lock.release(held)


def test_each_behaviour_score_names_its_arm_and_keeps_it(engine, portfolio, store,
                                                         pl_settings, routed_root):
    resources = Resources(str(routed_root), str(pl_settings.rules_dir))
    aliases = Registry(routed_root, "behaviour").aliases()
    nights = (date(2025, 7, 10), date(2025, 7, 11))
    for night in nights:
        _night(engine, night, resources, store)
    with Session(engine) as s:
        rows = s.scalars(select(BehaviourScore).where(BehaviourScore.as_of.in_(nights))).all()
    assert len(rows) == 2 * len(portfolio)
    policy = RoutingStore(routed_root).policy("behaviour")
    arms: dict[int, set[str]] = {}
    for r in rows:
        expected = ("challenger" if bucket_of(policy, f"loan:{r.loan_id}") < SHARE / 100
                    else "champion")
        assert r.routing["purpose"] == "behaviour" and r.routing["arm"] == expected
        assert r.model_version == aliases[expected] == r.routing["decided_by"]
        arms.setdefault(r.loan_id, set()).add(r.routing["arm"])
    assert all(len(a) == 1 for a in arms.values())  # the same arm both nights
    assert {a for s_ in arms.values() for a in s_} == {"champion", "challenger"}


def test_the_behaviour_split_over_2000_loans_is_within_its_binomial_interval(routed_root):
    frame = pd.DataFrame(index=range(2000))
    mask, records, _, _ = behaviour_routing.arms(frame, np.arange(1, 2001), str(routed_root))
    ci = stats.binomtest(int(mask.sum()), len(mask)).proportion_ci(0.99)
    assert ci.low <= SHARE / 100 <= ci.high
    assert [r["arm"] == "challenger" for r in records] == list(mask)


def test_a_behaviour_promotion_reaches_a_running_worker(routed_root, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(routed_root, root)
    reg = Registry(root, "behaviour")
    before = reg.aliases()
    assert behaviour.champion(str(root)).version == before["champion"]
    reg.promote(before["challenger"], "champion", force=True)
    # no cache cleared: the alias change itself makes the next night load the new champion
    assert behaviour.champion(str(root)).version == before["challenger"]
