"""Champion/challenger on live traffic: a 20 % share of customers decided by the challenger,
each decision naming its arm, a comparison report with intervals, and promotion from it."""

from __future__ import annotations

import re
from collections import defaultdict

from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.config import Settings
from chedaitong.db import Application, DecisionRecord, Role, User
from decisioning.arms import compare_arms
from decisioning.origination.accounts import issue_token
from decisioning.routing import RoutingPolicy, RoutingStore, assign
from models.registry import Registry

from ..conftest import ROOT
from .conftest import CHALLENGER_PERCENT


def test_a_fifth_of_customers_is_decided_by_the_challenger(decided_world):
    eng, root, by_arm = decided_world
    aliases = Registry(root).aliases()
    with Session(eng) as s:
        records = s.scalars(select(DecisionRecord)).all()
        customer_of = dict(s.execute(select(Application.id, Application.customer_id)).all())
        assert len(records) >= 2000
        arms_of_customer = defaultdict(set)
        for r in records:
            arm = r.routing["arm"]
            assert arm in ("champion", "challenger")
            assert r.routing["decided_by"] == r.model_version == aliases[arm]
            assert r.challenger_version == aliases["challenger" if arm == "champion"
                                                   else "champion"]
            arms_of_customer[customer_of[r.application_id]].add(arm)
    # deterministic by customer: a re-application stays in its arm
    assert all(len(a) == 1 for a in arms_of_customer.values())
    n, k = len(records), len(by_arm["challenger"])
    low, high = stats.binom.interval(0.99, n, CHALLENGER_PERCENT / 100)
    assert low <= k <= high, (k, n)
    report = compare_arms(Session(eng), as_of=_today())
    assert report["split"]["n"] == n and report["split"]["k"] == k
    assert report["split"]["exact_low"] <= 0.2 <= report["split"]["exact_high"]


def test_the_comparison_report_has_rates_with_intervals_and_early_delinquency(decided_world):
    eng, root, _ = decided_world
    report = compare_arms(Session(eng), as_of=_today())
    for arm in ("champion", "challenger"):
        a = report["arms"][arm]
        assert a["decisions"] > 100 and a["loans"] > 10
        for key in ("approval", "fpd", "dpd30_3m"):
            m = a[key]
            assert m["n"] > 0 and m["low"] <= m["rate"] <= m["high"], (arm, key, m)
        assert a["mean_pd"]["low"] < a["mean_pd"]["mean"] < a["mean_pd"]["high"]
        assert a["recommended_rate"]["mean"] > 0
    d = report["difference"]["approval"]
    assert d["low"] < d["diff"] < d["high"]


def test_segment_routing_keeps_other_customers_on_the_champion():
    policy = RoutingPolicy(challenger_percent=100, segment={"dealer_channel": ["sub_dealer"]})
    assert assign(policy, "c1", {"dealer_channel": "sub_dealer"}).arm == "challenger"
    assert assign(policy, "c1", {"dealer_channel": "4s_store"}).arm == "champion"
    half = RoutingPolicy(challenger_percent=50, salt="s2")
    arms = [assign(half, f"k{i}", {}).arm for i in range(2000)]
    assert arms == [assign(half, f"k{i}", {}).arm for i in range(2000)]  # deterministic
    assert 900 < arms.count("challenger") < 1100


def test_challenger_arm_decisions_replay_exactly(decided_world):
    from decisioning.service import DecisionService

    from .conftest import VectorStore, _rulebook

    eng, root, by_arm = decided_world
    from models.scoring import load_challenger, load_champion

    service = DecisionService(store=VectorStore({}), rules=_rulebook(),
                              model=load_champion(root), challenger=load_challenger(root),
                              model_root=root)
    with Session(eng) as s:
        for rid in by_arm["challenger"][:40] + by_arm["champion"][:10]:
            assert service.replay(s, rid) == [], rid


def test_the_analyst_page_renders_the_report_and_promotes_the_challenger(
        decided_world, tmp_path):
    import shutil

    from webapp import create_app

    eng, root, _ = decided_world
    models = tmp_path / "models"
    shutil.copytree(root, models)  # promotion must not change the shared registry
    settings = Settings.from_env({}, env="test", database_url=str(eng.url),
                                 var_dir=tmp_path / "var", rules_dir=ROOT / "rules",
                                 model_dir=models)
    with Session(eng) as s:
        analyst = User(username="cc-analyst", display_name="analyst", role=Role.ANALYST)
        s.add(analyst)
        s.flush()
        token = issue_token(s, analyst)
        s.commit()
    app = create_app(settings)
    client = app.test_client()
    body = client.get("/pages/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    assert client.post("/pages/login", data={"username": "cc-analyst", "token": token,
                                             "csrf": csrf}).status_code == 302
    r = client.get("/pages/challenger")
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page[:500]
    assert 'id="arms"' in page and "First-payment default" in page and "challenger" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    challenger = Registry(models).aliases()["challenger"]
    # the share is edited from the page …
    r = client.post("/pages/challenger/policy", data={"csrf": csrf, "purpose": "application",
                                                       "challenger_percent": "35"})
    assert r.status_code == 302
    assert RoutingStore(models).policy().challenger_percent == 35.0
    assert client.post("/pages/challenger/policy", data={
        "csrf": csrf, "purpose": "application", "challenger_percent": "135"}).status_code == 302
    assert RoutingStore(models).policy().challenger_percent == 35.0  # refused, unchanged
    # … and the challenger promoted from it
    r = client.post("/pages/challenger/promote", data={"csrf": csrf, "purpose": "application",
                                                        "force": "1"})
    assert r.status_code == 302
    aliases = Registry(models).aliases()
    assert aliases["champion"] == challenger and aliases["challenger"] is None
    assert RoutingStore(models).policy().challenger_percent == 0.0
    assert client.post("/pages/challenger/promote", data={"purpose": "application"}
                       ).status_code == 400  # no CSRF token


def _today():
    from datetime import date

    return date(2025, 6, 30)  # the sample world's reference date
