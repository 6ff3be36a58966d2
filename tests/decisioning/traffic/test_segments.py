"""Segment monitoring: the daily job over the decided sample world, where a sub-dealer channel
opens on 2024-11-01 and gets approved far less often — the alert names that segment, on the
first day its quarter holds enough decisions to judge."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.config import Settings
from chedaitong.db import Role, User
from chedaitong.db.monitoring import SegmentMonitorRun
from decisioning.origination.accounts import issue_token
from decisioning.segments import References, load_thresholds, recent_runs, run_day

from ..conftest import ROOT

OPENS = date(2024, 11, 1)  # the world's new sub-dealer channel (data/sample/manifest.json)
FIRST, LAST = date(2024, 10, 15), date(2025, 1, 10)
JUDGED = ("SEG_ADVERSE_IMPACT", "SEG_SCORE_DRIFT")


@pytest.fixture(scope="module")
def monitored(decided_world):
    """The job run for every day from mid-October to early January."""
    eng, root, _ = decided_world
    thresholds, refs = load_thresholds(), References(root)
    day = FIRST
    while day <= LAST:
        run_day(eng, day, thresholds=thresholds, refs=refs)
        day += timedelta(days=1)
    return eng, root, thresholds


def test_the_new_channel_is_flagged_on_the_first_day_it_can_be_judged(monitored):
    eng, _, thresholds = monitored
    with Session(eng) as s:
        runs = recent_runs(s, limit=1000)
    assert [r.as_of for r in runs] == [FIRST + timedelta(days=i)
                                       for i in range((LAST - FIRST).days + 1)]
    channel = [(r.as_of, a) for r in runs for a in r.alerts
               if a["dimension"] == "channel" and a["rule"] in JUDGED]
    assert channel, "no channel alert"
    first_day, first = channel[0]
    assert first["segment"] == "sub_dealer" and first["rule"] == "SEG_ADVERSE_IMPACT"
    assert first["new"] and first["value"] < 0.8
    assert all(a["segment"] == "sub_dealer" for _, a in channel)
    # the right day: within a week of the first on which the channel's quarter holds
    # min_decisions decisions (the gap must also be beyond sampling noise: Fisher p < 0.01)
    def sub_dealer(run):
        return next((row for row in run.metrics["dimensions"]["channel"]
                     if row["segment"] == "sub_dealer"), None)
    judged = [r.as_of for r in runs if (sub_dealer(r) or {}).get("decisions", 0)
              >= thresholds.min_decisions]
    assert OPENS < judged[0] <= first_day <= judged[0] + timedelta(days=7)
    assert sub_dealer(next(r for r in runs if r.as_of == first_day))[
        "adverse_impact_ratio_p"] < 0.01
    assert all(sub_dealer(r) is None for r in runs if r.as_of < OPENS)
    # the next day still has it, and it is not new any more (notified once)
    nxt = [a for d, a in channel if d == first_day + timedelta(days=1)
           and a["rule"] == first["rule"]]
    assert nxt and not nxt[0]["new"]


def test_every_dimension_is_measured_and_a_day_runs_once(monitored):
    eng, root, thresholds = monitored
    with Session(eng) as s:
        last = recent_runs(s, limit=1)[-1]
    dims = last.metrics["dimensions"]
    assert set(dims) == {"channel", "dealer", "province", "lease_type", "age_band"}
    assert {r["segment"] for r in dims["age_band"]} <= {"22-29", "30-39", "40-49", "50-60",
                                                        "other", "(missing)"}
    for rows in dims.values():
        assert sum(r["decisions"] for r in rows) == last.metrics["decisions"]
        for r in rows:
            if r["decisions"]:
                assert r["approval_low"] <= r["approval_rate"] <= r["approval_high"]
    assert any(r["score_psi"] is not None for r in dims["channel"])
    assert any(r["vintages"] for r in dims["channel"])
    again = run_day(eng, LAST, thresholds=thresholds, refs=References(root))
    assert again.metrics == last.metrics and again.alerts == last.alerts
    with Session(eng) as s:
        assert s.scalar(select(func.count()).select_from(SegmentMonitorRun).where(
            SegmentMonitorRun.as_of == LAST)) == 1


def test_thresholds_file_refuses_unknown_metrics_and_gender_without_a_basis(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("alerts:\n  - {id: X, metric: religion, op: '>', value: 1}\n")
    with pytest.raises(ValueError, match="metric"):
        load_thresholds(bad)
    bad.write_text("monitor_gender: true\nalerts: []\n")
    with pytest.raises(ValueError, match="gender"):
        load_thresholds(bad)


@pytest.mark.parametrize(("text", "message"), [
    ("alerts: [unclosed\n", "t.yaml:2: YAML syntax error"),  # yaml.YAMLError: a traceback
    ("- a\n", "t.yaml:1: expected a mapping"),  # AttributeError: 'list' has no 'get'
    ("alerts:\n  - {metric: approval_rate, op: '<', value: 0.1}\n",
     "t.yaml:2: alert 0 needs id"),  # KeyError: 'id'
    ("alerts:\n  - 5\n", "t.yaml:2: alert 0 must be a mapping"),  # AttributeError
    ("alerts:\n  - id: A\n    metric: approval_rate\n    op: '<'\n    value: abc\n",
     "t.yaml:5: value must be a number, got 'abc'"),  # a ValueError with no file or line
])
def test_a_broken_thresholds_file_is_one_line_with_file_and_line(tmp_path, text, message):
    bad = tmp_path / "t.yaml"
    bad.write_text(text)
    with pytest.raises(ValueError) as refused:
        load_thresholds(bad)
    assert str(refused.value).startswith(f"{tmp_path}/{message}"), refused.value


def test_the_segments_page_shows_the_alert_and_trend_charts(monitored, tmp_path):
    from webapp import create_app

    eng, root, _ = monitored
    settings = Settings.from_env({}, env="test", database_url=str(eng.url),
                                 var_dir=tmp_path / "var", rules_dir=ROOT / "rules",
                                 model_dir=root)
    with Session(eng) as s:
        analyst = User(username="seg-analyst", display_name="analyst", role=Role.ANALYST)
        s.add(analyst)
        s.flush()
        token = issue_token(s, analyst)
        s.commit()
    client = create_app(settings).test_client()
    assert client.get("/pages/segments").status_code == 302  # signed out → login
    body = client.get("/pages/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    client.post("/pages/login", data={"username": "seg-analyst", "token": token,
                                      "csrf": csrf})
    page = client.get("/pages/segments?dimension=channel").get_data(as_text=True)
    assert 'id="segments"' in page and "sub_dealer" in page
    assert "SEG_ADVERSE_IMPACT" in page and "channel = sub_dealer" in page
    for trend in ("approval", "psi", "early_bad"):
        r = client.get(f"/pages/segments/{trend}.png?dimension=channel")
        assert r.status_code == 200 and r.data[:4] == b"\x89PNG"
    assert client.get("/pages/segments?dimension=religion").status_code == 404


def test_the_cli_runs_a_day_for_cron(monitored, tmp_path, operator_env):
    import subprocess
    import sys

    eng, root, _ = monitored
    env = operator_env(DATABASE_URL=str(eng.url), CHEDAITONG_MODEL_DIR=str(root),
                       CHEDAITONG_ENV="test", CHEDAITONG_VAR_DIR=str(tmp_path))
    day = (LAST + timedelta(days=1)).isoformat()
    done = subprocess.run([sys.executable, "-m", "chedaitong", "segments", "run", "--as-of", day],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert '"event": "finished"' in done.stderr and day in done.stderr
    future = subprocess.run([sys.executable, "-m", "chedaitong", "segments", "run", "--as-of",
                             "2999-01-01"], env=env, capture_output=True, text=True,
                            timeout=300)
    assert future.returncode == 2


def test_reviewer_approvals_of_referrals_count_as_overrides(monitored):
    from datetime import UTC, datetime

    from chedaitong.db import DecisionRecord
    from chedaitong.db.origination import Review
    from decisioning.segments import compute

    eng, root, thresholds = monitored
    start = datetime(LAST.year, LAST.month, LAST.day, tzinfo=UTC) - timedelta(days=60)
    with Session(eng) as s:
        referred = s.scalars(select(DecisionRecord.application_id).where(
            DecisionRecord.outcome == "refer", DecisionRecord.as_of >= start,
            DecisionRecord.as_of < datetime(LAST.year, LAST.month, LAST.day, tzinfo=UTC))
            .limit(3)).all()
        assert len(referred) == 3
        reviewer = User(username="seg-reviewer", display_name="r", role=Role.REVIEWER)
        s.add(reviewer)
        s.flush()
        for app_id, verdict in zip(referred, ("approve", "approve", "reject"), strict=True):
            s.add(Review(application_id=app_id, kind="credit", reviewer_id=reviewer.id,
                         decision=verdict, notes="checked"))
        s.flush()
        metrics, _ = compute(s, LAST, thresholds, References(root))
        rows = metrics["dimensions"]["lease_type"]
        assert sum(r["reviews"] for r in rows) == 3
        assert round(sum((r["override_rate"] or 0) * r["reviews"] for r in rows)) == 2
        s.rollback()
