"""The sandbox answering from a synthetic world written as Parquet: known people, their
recorded check outcomes (replayed attempt by attempt) and bureau reports as of a date."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from chedaitong_sim.sandbox import SandboxServer, create_sandbox_app, running_sandbox
from chedaitong_sim.sandbox.world import World
from chedaitong_sim.testing import fast_vendors, make_id_number
from vendors import Vendors
from vendors.interfaces import (
    BureauQuery,
    FourElementRequest,
    IdCheckRequest,
    LivenessRequest,
    Verdict,
)

ALICE = make_id_number("11010119900307123")  # clean record, two bureau reports
BOB = make_id_number("44030519850712456")  # failed ID check; liveness fails then passes
CAROL = make_id_number("31010419920228789")  # four elements: typo first, then a match
STRANGER = make_id_number("51010719770101111")  # valid ID, not in the world
CARD = "6222020200112233445"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def write_world(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "customer_id": ["CU00000001", "CU00000002", "CU00000003"],
        "name": ["王小明", "李强", "陈静"],
        "id_number": [ALICE, BOB, CAROL],
        "mobile": [13800000001, 13900000002, 13700000003],  # int64, as the generator writes
    }).to_parquet(root / "customers.parquet")
    pd.DataFrame({
        "check_id": [f"IC{i:09d}" for i in range(1, 8)],
        "customer_id": ["CU00000001", "CU00000002", "CU00000002", "CU00000002",
                        "CU00000003", "CU00000003", "CU00000001"],
        "check_type": ["id_card", "id_card", "liveness", "liveness",
                       "bank_card_4e", "bank_card_4e", "liveness"],
        "requested_at": [ts("2024-01-02 10:00"), ts("2024-01-03 10:00"), ts("2024-01-03 10:01"),
                         ts("2024-01-03 10:02"), ts("2024-01-04 10:00"), ts("2024-01-04 10:01"),
                         ts("2024-01-02 10:01")],
        "result": ["pass", "fail", "fail", "pass", "fail", "pass", "pass"],
        "result_code": ["0000", "2001", "3001", "0000", "1001", "0000", "0000"],
        "message": ["一致", "库中无此号或信息不一致", "活体未通过", "活体通过", "四要素不一致",
                    "四要素一致", "活体通过"],
        "score": [None, None, 0.55, 0.82, None, None, 0.93],
    }).to_parquet(root / "identity_checks.parquet")
    pd.DataFrame({  # naive China Standard Time, as the generator writes timestamps
        "customer_id": ["CU00000001", "CU00000001"],
        "report_id": ["PB2024A", "PB2024B"],
        "reported_at": [pd.Timestamp("2024-03-01 08:00"), pd.Timestamp("2024-09-01 08:00")],
        "report_json": ['{"v": "march", "inquiries": []}', '{"v": "september", "inquiries": []}'],
    }).to_parquet(root / "bureau_pboc.parquet")
    tp_dir = root / "bureau_thirdparty"  # a dataset folder rather than one file
    tp_dir.mkdir()
    pd.DataFrame({
        "customer_id": ["CU00000001"],
        "report_id": ["TP2024A"],
        "reported_at": [ts("2024-03-01")],
        "report_json": [json.dumps({"score": 612, "blacklist": {"hit": True, "types": ["x"]},
                                    "multi_lending": {"platforms_7d": 1, "platforms_90d": 5,
                                                      "applications_90d": 9}})],
    }).to_parquet(tp_dir / "part-0.parquet")
    return root


@pytest.fixture
def world_sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    with running_sandbox(write_world(tmp_path / "world"), latency_ms=0) as srv:
        yield srv


@pytest.fixture
def wv(world_sandbox: SandboxServer) -> Iterator[Vendors]:
    with fast_vendors(world_sandbox.base_url) as v:
        yield v


def test_world_loads_defensively(tmp_path):
    world = World.load(write_world(tmp_path / "w"))
    assert world is not None
    assert world.summary() == {"people": 3, "checks": 7, "reports": 3}
    assert world.person(ALICE).phone == "13800000001"


def test_id_check_from_world(wv):
    assert wv.id_check.verify(IdCheckRequest("王小明", ALICE)).verdict is Verdict.MATCH
    assert wv.id_check.verify(IdCheckRequest("王大明", ALICE)).verdict is Verdict.MISMATCH
    assert wv.id_check.verify(IdCheckRequest("某人", STRANGER)).verdict is Verdict.NOT_FOUND
    bob = wv.id_check.verify(IdCheckRequest("李强", BOB))
    assert bob.verdict is Verdict.NOT_FOUND and bob.code == "2001"


def test_liveness_replays_the_recorded_attempts(wv):
    scores = [wv.liveness.compare(LivenessRequest("李强", BOB, b"img")) for _ in range(3)]
    assert [(s.passed, s.score) for s in scores] == [(False, 0.55), (True, 0.82), (True, 0.82)]
    assert not wv.liveness.compare(LivenessRequest("某人", STRANGER, b"img")).passed


def test_four_elements_from_world(wv):
    phone = "13700000003"
    first = wv.four_element.verify(FourElementRequest("陈静", CAROL, CARD, phone))
    second = wv.four_element.verify(FourElementRequest("陈静", CAROL, CARD, phone))
    assert (first.verdict, second.verdict) == (Verdict.MISMATCH, Verdict.MATCH)
    wrong_phone = wv.four_element.verify(FourElementRequest("陈静", CAROL, CARD, "13700000009"))
    assert wrong_phone.verdict is Verdict.MISMATCH
    unknown = wv.four_element.verify(FourElementRequest("某人", STRANGER, CARD, phone))
    assert unknown.verdict is Verdict.NOT_FOUND


def test_pboc_report_as_of(wv):
    def query(as_of=None):
        return wv.pboc.query(BureauQuery("王小明", ALICE, authorization_ref="A", as_of=as_of))

    latest = query()
    assert latest.report_id == "PB2024B"
    assert latest.report_json == '{"v": "september", "inquiries": []}'  # verbatim
    assert latest.reported_at == datetime(2024, 9, 1, tzinfo=UTC)  # 08:00 CST
    assert query(datetime(2024, 6, 1, tzinfo=UTC)).report_id == "PB2024A"
    assert not query(datetime(2024, 1, 1, tzinfo=UTC)).found
    assert not wv.pboc.query(BureauQuery("李强", BOB, authorization_ref="A")).found
    assert not wv.pboc.query(BureauQuery("某人", STRANGER, authorization_ref="A")).found


def test_third_party_headline_from_world_report(wv):
    report = wv.third_party.query(BureauQuery("王小明", ALICE))
    assert (report.score, report.blacklisted, report.multi_lending_platforms) == (612, True, 5)
    assert json.loads(report.report_json)["score"] == 612


def test_missing_or_broken_world_falls_back_to_hashes(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "customers.parquet").write_bytes(b"not parquet")
    for folder in (empty, broken):
        app = create_sandbox_app(folder, latency_ms=0)
        health = app.test_client().get("/_admin/health").get_json()
        assert health["world"] is None and health["world_summary"] is None


def test_world_with_only_customers(tmp_path):
    root = tmp_path / "only"
    root.mkdir()
    pd.DataFrame({"customer_id": ["C1"], "id_number": [ALICE], "name": ["王小明"]}).to_parquet(
        root / "customers.parquet")
    with running_sandbox(root, latency_ms=0) as srv, fast_vendors(srv.base_url) as v:
        assert v.id_check.verify(IdCheckRequest("王小明", ALICE)).passed
        assert not v.pboc.query(BureauQuery("王小明", ALICE, authorization_ref="A")).found


def test_against_a_generated_world(tmp_path):
    """Contract check with the real generator (its CLI): table and column names still match."""
    pytest.importorskip("chedaitong_sim.worldgen.generate")
    out = tmp_path / "generated"
    subprocess.run([sys.executable, "-m", "chedaitong_sim.worldgen", "generate",
                    "--customers", "60", "--seed", "1", "--out", str(out)], check=True,
                   capture_output=True, cwd=Path(__file__).resolve().parents[2])
    customers = pd.read_parquet(out / "customers.parquet")
    checks = pd.read_parquet(out / "identity_checks.parquet").sort_values("requested_at")
    pboc = pd.read_parquet(out / "bureau_pboc.parquet")
    c = customers[customers["customer_id"].isin(pboc["customer_id"])].iloc[0]
    mine = checks[checks["customer_id"] == c["customer_id"]]
    liveness = mine[mine["check_type"] == "liveness"]
    latest = pboc[pboc["customer_id"] == c["customer_id"]].sort_values("reported_at").iloc[-1]

    with running_sandbox(out, latency_ms=0) as srv, fast_vendors(srv.base_url) as v:
        world = srv.sandbox.oracle.world
        assert world is not None and len(world.people) == len(customers)
        id_ok = mine[mine["check_type"] == "id_card"]["result"].iloc[-1] == "pass"
        assert v.id_check.verify(IdCheckRequest(c["name"], c["id_number"])).passed == id_ok
        first = v.liveness.compare(LivenessRequest(c["name"], c["id_number"], b"selfie"))
        assert first.score == pytest.approx(liveness["score"].iloc[0])
        report = v.pboc.query(BureauQuery(c["name"], c["id_number"], authorization_ref="A"))
        assert report.report_id == latest["report_id"]
        assert report.report_json == latest["report_json"]
