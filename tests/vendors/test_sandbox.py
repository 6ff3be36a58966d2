"""Sandbox knobs and admin endpoints, the fault model, the CLI and the registry."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from chedaitong.config import ConfigError, Settings
from chedaitong_sim.sandbox.faults import Faults, default_configs
from chedaitong_sim.testing import make_id_number
from vendors import DEFAULT_TIMEOUTS, Timeouts, build_vendors, mask, vendors_from_settings, wire
from vendors.interfaces import IdCheckRequest

ROOT = Path(__file__).resolve().parents[2]
ID = make_id_number("11010119900307123")


def post(sandbox, path, body):
    return httpx.post(f"{sandbox.base_url}{path}", json=body, timeout=5)


def test_latency_is_a_distribution_not_a_constant():
    faults = Faults(default_configs(latency_ms=100), seed=3)
    draws = sorted(faults.plan("pboc")[0] * 1000 for _ in range(2000))
    assert 85 < statistics.median(draws) < 115
    assert draws[int(0.9 * len(draws))] / draws[int(0.1 * len(draws))] > 2
    assert max(draws) <= 800


def test_random_faults_follow_the_rates_and_the_seed():
    def run(seed):
        faults = Faults(default_configs(latency_ms=0, error_rate=0.2, timeout_rate=0.1), seed)
        return [faults.plan("sms")[1] for _ in range(2000)]

    plans = run(5)
    errors = [f for f in plans if f and f.kind == "error"]
    timeouts = [f for f in plans if f and f.kind == "timeout"]
    assert 320 < len(errors) < 480 and 140 < len(timeouts) < 260
    assert {f.status for f in errors} == {500, 503}
    assert 0.35 < sum(f.after_commit for f in errors) / len(errors) < 0.65
    assert run(5) == plans and run(6) != plans


def test_error_rate_reaches_clients(sandbox):
    sandbox.configure("id_check", error_rate=1.0, errors_after_commit=0.0)
    body = {"name": "张三", "id_number": ID}
    assert {post(sandbox, wire.ID_CHECK, body).status_code for _ in range(10)} <= {500, 503}
    sandbox.configure("id_check", error_rate=0.0)
    assert post(sandbox, wire.ID_CHECK, body).status_code == 200


def test_latency_can_change_at_runtime(sandbox, vendors):
    # Slow vs fast by a wide margin: a loaded CI machine adds delay, never removes it.
    sandbox.configure("id_check", latency_ms=250, latency_sigma=0)  # under the 0.3 s timeout
    started = time.monotonic()
    vendors.id_check.verify(IdCheckRequest("张三", ID))
    slow = time.monotonic() - started
    assert slow >= 0.25
    sandbox.configure("id_check", latency_ms=0)
    started = time.monotonic()
    vendors.id_check.verify(IdCheckRequest("张三", ID))
    assert time.monotonic() - started < slow - 0.1


def test_outage_endpoint(sandbox):
    assert post(sandbox, "/_admin/outage", {"vendor": "pboc", "down": True}).status_code == 200
    resp = post(sandbox, wire.PBOC, {"name": "张三", "id_number": ID, "authorization_ref": "A"})
    assert resp.status_code == 503 and resp.json()["code"] == "SERVICE_UNAVAILABLE"
    config = httpx.get(f"{sandbox.base_url}/_admin/config").json()
    assert config["pboc"]["down"] and not config["third_party"]["down"]
    post(sandbox, "/_admin/outage", {"vendor": "*", "down": False})
    assert not httpx.get(f"{sandbox.base_url}/_admin/config").json()["pboc"]["down"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_admin/config", {"vendor": "pboc", "latency": 5}),
        ("/_admin/config", {"vendor": "pboc", "error_rate": 1.5}),
        ("/_admin/config", {"vendor": "bank", "error_rate": 0.1}),
        ("/_admin/config", {"vendor": "pboc", "down": "yes"}),
        ("/_admin/outage", {"vendor": "pboc"}),
        ("/_admin/script", {"vendor": "pboc", "faults": [{"status": 200}]}),
        ("/_admin/script", {"vendor": "pboc", "faults": [{"sleep": 1}]}),
    ],
)
def test_admin_rejects_bad_settings(sandbox, path, body):
    resp = post(sandbox, path, body)
    assert resp.status_code == 400 and resp.json()["code"] == "BAD_ADMIN_REQUEST"


def test_call_log_filter_clear_and_reset(sandbox, vendors):
    vendors.id_check.verify(IdCheckRequest("张三", ID))
    post(sandbox, wire.SMS, {"phone": "13812345678", "template": "HELLO"})
    assert [c["vendor"] for c in sandbox.calls()] == ["id_check", "sms"]
    [call] = sandbox.calls("id_check")
    assert call["subject"] == mask(ID)
    assert call["status"] == 200 and call["idempotency_key"]
    httpx.delete(f"{sandbox.base_url}/_admin/calls")
    assert sandbox.calls() == []
    assert len(sandbox.records("messages")) == 1
    sandbox.reset()
    assert sandbox.records("messages") == []


def test_malformed_json_is_a_400(sandbox):
    resp = httpx.post(f"{sandbox.base_url}{wire.ID_CHECK}", content=b"{not json",
                      headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["code"] == "INVALID_JSON"


def test_cli_serves_on_a_free_port():
    proc = subprocess.Popen(
        [sys.executable, "-m", "chedaitong_sim.sandbox", "--port", "0", "--latency-ms", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "vendor sandbox on http://127.0.0.1:" in line, line
        url = line.split()[3]
        assert httpx.get(f"{url}/_admin/health", timeout=5).json()["status"] == "ok"
        resp = httpx.post(f"{url}{wire.ID_CHECK}", json={"name": "张三", "id_number": ID})
        assert resp.json()["result"] == "match"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_registry_from_settings(tmp_path, sandbox):
    settings = Settings.from_env({}, env="test", var_dir=tmp_path, rules_dir=ROOT / "rules",
                                 vendor_url=sandbox.base_url)
    with vendors_from_settings(settings) as v:
        assert v.pboc.http.timeouts == DEFAULT_TIMEOUTS["pboc"] == Timeouts(1.0, 8.0)
        assert v.id_check.verify(IdCheckRequest("张三", ID)).passed
        assert v.pboc.http.breaker is not v.third_party.http.breaker
    with pytest.raises(ConfigError, match="CHEDAITONG_VENDOR_URL"):
        vendors_from_settings(SimpleNamespace(vendor_url=None))


def test_registry_per_vendor_urls():
    urls = {name: f"http://{name}.vendor.test" for name in wire.VENDORS}
    with build_vendors(urls, timeouts={"sms": Timeouts(0.5, 1.0)}) as v:
        assert str(v.sms.http._client.base_url).startswith("http://sms.vendor.test")
        assert v.sms.http.timeouts == Timeouts(0.5, 1.0)
        assert v.esign.http.timeouts == DEFAULT_TIMEOUTS["esign"]
    del urls["collection"]
    with pytest.raises(ValueError, match="collection"):
        build_vendors(urls)
