"""Champion/challenger on live traffic: a 20 % share of customers decided by the challenger,
each decision naming its arm, a comparison report with intervals, and promotion from it."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict

from scipy import stats
from sqlalchemy import delete, select
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
    eng, root, _ = decided_world
    models = tmp_path / "models"
    shutil.copytree(root, models)  # promotion must not change the shared registry
    client = _analyst_client(eng, models, tmp_path, "cc-analyst")
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


def _analyst_client(eng, models, tmp_path, username: str):
    """A signed-in analyst's browser on an app instance serving the registry ``models``."""
    from webapp import create_app

    settings = Settings.from_env({}, env="test", database_url=str(eng.url),
                                 var_dir=tmp_path / "var", rules_dir=ROOT / "rules",
                                 model_dir=models)
    with Session(eng) as s:
        analyst = User(username=username, display_name="analyst", role=Role.ANALYST)
        s.add(analyst)
        s.flush()
        token = issue_token(s, analyst)
        s.commit()
    client = create_app(settings).test_client()
    body = client.get("/pages/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    assert client.post("/pages/login", data={"username": username, "token": token,
                                             "csrf": csrf}).status_code == 302
    return client


def test_a_promotion_on_the_page_reaches_another_serving_process(decided_world, tmp_path):
    """Process A (the analysts' page) promotes; process B (another worker's decision
    service, built to follow the registry) decides its next application with the new
    champion. A service not following the registry would still use the old one."""
    from decisioning.service import DecisionService
    from models.scoring import load_challenger, load_champion

    from .conftest import VectorStore, _rulebook

    eng, root, by_arm = decided_world
    models = tmp_path / "models"
    shutil.copytree(root, models)
    with Session(eng) as s:
        record = s.get(DecisionRecord, by_arm["champion"][0])
        app = s.get(Application, record.application_id)
        vectors = {app.ref: {k: v for k, v in record.features.items()
                             if k not in ("model_pd", "model_score", "risk_grade")}}

    def worker(follow: bool) -> DecisionService:
        return DecisionService(store=VectorStore(vectors), rules=_rulebook(),
                               model=load_champion(models), challenger=load_challenger(models),
                               model_root=models, routing=RoutingStore(models),
                               guidance=False, follow_registry=follow)

    following, frozen = worker(True), worker(False)
    old, new = Registry(models).aliases()["champion"], Registry(models).aliases()["challenger"]
    assert following.model.version == old != new

    client = _analyst_client(eng, models, tmp_path, "cc-analyst-2")
    page = client.get("/pages/challenger").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/pages/challenger/promote", data={
        "csrf": csrf, "purpose": "application", "force": "1"}).status_code == 302

    def decide_again(service: DecisionService) -> tuple:
        with Session(eng) as s:  # decided anew in a transaction rolled back
            s.execute(delete(DecisionRecord).where(
                DecisionRecord.application_id == app.id))
            r = service.decide(s, s.get(Application, app.id), as_of=record.as_of)
            out = (r.model_version, r.challenger_version, r.routing["champion_version"])
            s.rollback()
        return out

    assert decide_again(following) == (new, None, new) and following.challenger is None
    assert decide_again(frozen)[0] == old

    # a promotion to a version that cannot be loaded leaves the serving models in place
    (models / "aliases.json").write_text('{"champion": "v9999", "challenger": null}')
    assert following.refresh_models() is False and following.model.version == new


def _today():
    from datetime import date

    return date(2025, 6, 30)  # the sample world's reference date
