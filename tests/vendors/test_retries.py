"""Retry policy against the sandbox: transient failures recover, 4xx and 500 are not retried,
429 honours Retry-After, timeouts end in VendorUnavailable within a bounded time."""

from __future__ import annotations

import random
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from chedaitong_sim.testing import FAST_RETRY, fast_vendors, make_id_number
from vendors import RetryPolicy, VendorError, VendorHttpClient, VendorRejected, VendorUnavailable
from vendors.http import parse_retry_after
from vendors.interfaces import BureauQuery, IdCheckRequest, SmsMessage

ID = make_id_number("11010119900307123")
QUERY = BureauQuery("张三", ID, authorization_ref="AUTH-1")


def statuses(sandbox, vendor):
    return [c["status"] for c in sandbox.calls(vendor)]


def test_transient_failures_are_retried_with_one_key(sandbox, vendors):
    sandbox.script("pboc", {"status": 503}, {"status": 502})
    report = vendors.pboc.query(QUERY)
    assert report.found is not None
    calls = sandbox.calls("pboc")
    assert [c["status"] for c in calls] == [503, 502, 200]
    assert len({c["idempotency_key"] for c in calls}) == 1
    assert vendors.pboc.http.breaker.state == "closed"


def test_retries_are_bounded(sandbox, vendors):
    sandbox.script("id_check", *[{"status": 503}] * 5)
    with pytest.raises(VendorUnavailable) as exc:
        vendors.id_check.verify(IdCheckRequest("张三", ID))
    assert exc.value.status == 503
    assert statuses(sandbox, "id_check") == [503, 503, 503]


def test_bad_request_is_rejected_without_retry(sandbox, vendors):
    with pytest.raises(VendorRejected) as exc:
        vendors.id_check.verify(IdCheckRequest("张三", "12345"))
    assert exc.value.status == 400 and exc.value.code == "INVALID_ID_NUMBER"
    assert statuses(sandbox, "id_check") == [400]
    assert vendors.id_check.http.breaker.state == "closed"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_no_4xx_is_retried(sandbox, vendors, status):
    sandbox.script("id_check", {"status": status})
    with pytest.raises(VendorRejected):
        vendors.id_check.verify(IdCheckRequest("张三", ID))
    assert statuses(sandbox, "id_check") == [status]


def test_internal_error_is_a_vendor_error_not_retried(sandbox, vendors):
    sandbox.script("third_party", {"status": 500})
    with pytest.raises(VendorError) as exc:
        vendors.third_party.query(QUERY)
    assert type(exc.value) is VendorError and exc.value.status == 500
    assert statuses(sandbox, "third_party") == [500]


def test_429_waits_for_retry_after(sandbox, vendors):
    sandbox.script("sms", {"status": 429, "retry_after": 1})
    started = time.monotonic()
    receipt = vendors.sms.send(SmsMessage("13812345678", "REPAY_REMINDER"))
    elapsed = time.monotonic() - started
    assert receipt.status == "accepted"
    assert 1.0 <= elapsed < 1.8
    assert statuses(sandbox, "sms") == [429, 202]


def test_retry_after_beyond_the_cap_gives_up_at_once(sandbox, vendors):
    sandbox.script("sms", {"status": 429, "retry_after": 30})
    started = time.monotonic()
    with pytest.raises(VendorUnavailable) as exc:
        vendors.sms.send(SmsMessage("13812345678", "REPAY_REMINDER"))
    assert time.monotonic() - started < 0.5
    assert exc.value.status == 429
    assert statuses(sandbox, "sms") == [429]


def test_timeouts_end_in_unavailable_within_bounded_time(sandbox, vendors):
    sandbox.script("pboc", *[{"timeout": True}] * 3)
    started = time.monotonic()
    with pytest.raises(VendorUnavailable, match="timed out"):
        vendors.pboc.query(QUERY)
    elapsed = time.monotonic() - started
    # three reads of 0.3 s plus backoff of at most 0.05 s each
    assert 0.9 <= elapsed < 1.4
    assert len(sandbox.calls("pboc")) == 3


def test_one_timeout_then_success(sandbox, vendors):
    sandbox.script("id_check", {"timeout": True})
    assert vendors.id_check.verify(IdCheckRequest("张三", ID)).request_id
    assert len(sandbox.calls("id_check")) == 2


def test_budget_caps_the_whole_call(sandbox):
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.01, max_delay_s=0.01, budget_s=0.5)
    sandbox.script("pboc", *[{"timeout": True}] * 5)
    with fast_vendors(sandbox.base_url, retry=policy) as v:
        started = time.monotonic()
        with pytest.raises(VendorUnavailable):
            v.pboc.query(QUERY)
        assert time.monotonic() - started < 0.75
    assert len(sandbox.calls("pboc")) == 2


def test_connection_refused_is_unavailable_quickly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with fast_vendors(f"http://127.0.0.1:{port}") as v:
        started = time.monotonic()
        with pytest.raises(VendorUnavailable, match="cannot connect"):
            v.id_check.verify(IdCheckRequest("张三", ID))
        assert time.monotonic() - started < 1.0


def test_backoff_is_exponential_with_jitter_and_capped():
    policy = RetryPolicy(base_delay_s=0.2, max_delay_s=2.0)
    rng = random.Random(1)
    for retry, cap in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 2.0), (9, 2.0)]:
        draws = [policy.backoff(retry, rng) for _ in range(50)]
        assert all(cap / 2 <= d <= cap for d in draws)
        assert len(set(draws)) > 1
    assert FAST_RETRY.max_attempts == 3


def test_parse_retry_after():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=10), usegmt=True), now) == 10
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def _flaky(exc_type: type[Exception], failures: int):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) <= failures:
            raise exc_type("boom", request=request)
        return httpx.Response(200, json={"ok": True})

    return VendorHttpClient("sms", "http://vendor.test", retry=FAST_RETRY,
                            transport=httpx.MockTransport(handler)), calls


def test_a_post_without_key_is_not_repeated_after_it_may_have_arrived():
    client, calls = _flaky(httpx.ReadTimeout, 1)
    with pytest.raises(VendorUnavailable):
        client.post_json("/x", {}, op="send")
    assert len(calls) == 1
    client, calls = _flaky(httpx.ReadTimeout, 1)
    assert client.post_json("/x", {}, op="send", idempotency_key="k") == {"ok": True}
    assert [c.headers["Idempotency-Key"] for c in calls] == ["k", "k"]


def test_connect_errors_are_always_retried():
    client, calls = _flaky(httpx.ConnectError, 2)
    assert client.post_json("/x", {}, op="send") == {"ok": True}
    assert len(calls) == 3
    assert len({c.headers["X-Request-Id"] for c in calls}) == 3
