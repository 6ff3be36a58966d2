"""Circuit breaker and outages: a down bureau fails fast instead of making every decision wait,
other vendors are unaffected, and service resumes when the vendor comes back."""

from __future__ import annotations

import time

import pytest

from chedaitong_sim.testing import FAST_BREAKER, make_id_number
from vendors import CircuitOpen, VendorUnavailable
from vendors.interfaces import BureauQuery, IdCheckRequest

ID = make_id_number("11010119900307123")
QUERY = BureauQuery("张三", ID, authorization_ref="AUTH-1")


def test_outage_opens_the_breaker_then_calls_fail_fast(sandbox, vendors):
    sandbox.outage("pboc", down=True)
    with pytest.raises(VendorUnavailable) as first:
        vendors.pboc.query(QUERY)
    assert not isinstance(first.value, CircuitOpen)  # 3 failures: still below the threshold
    with pytest.raises(CircuitOpen):
        vendors.pboc.query(QUERY)  # the 4th failure opens it mid-call
    assert vendors.pboc.http.breaker.state == "open"
    reached = len(sandbox.calls("pboc"))
    assert reached == FAST_BREAKER.failure_threshold

    started = time.monotonic()
    for _ in range(20):
        with pytest.raises(CircuitOpen):
            vendors.pboc.query(QUERY)
    assert time.monotonic() - started < 0.2
    assert len(sandbox.calls("pboc")) == reached  # nothing reached the vendor

    # Other vendors have their own breaker.
    assert vendors.id_check.verify(IdCheckRequest("张三", ID)).passed in (True, False)


def test_breaker_recovers_after_cooldown(sandbox, vendors):
    sandbox.outage("pboc", down=True)
    for _ in range(2):
        with pytest.raises(VendorUnavailable):
            vendors.pboc.query(QUERY)
    assert vendors.pboc.http.breaker.state == "open"
    sandbox.outage("pboc", down=False)
    with pytest.raises(CircuitOpen):
        vendors.pboc.query(QUERY)  # still cooling down
    time.sleep(FAST_BREAKER.cooldown_s)
    assert vendors.pboc.query(QUERY).request_id  # the probe succeeds...
    assert vendors.pboc.http.breaker.state == "closed"  # ...and closes the circuit
    assert vendors.pboc.query(QUERY).request_id


def test_failed_probe_reopens_after_a_single_call(sandbox, vendors):
    sandbox.outage("pboc", down=True)
    for _ in range(2):
        with pytest.raises(VendorUnavailable):
            vendors.pboc.query(QUERY)
    before = len(sandbox.calls("pboc"))
    time.sleep(FAST_BREAKER.cooldown_s)
    with pytest.raises(CircuitOpen):
        vendors.pboc.query(QUERY)  # probe fails, the retry meets an open circuit
    assert len(sandbox.calls("pboc")) == before + 1
    assert vendors.pboc.http.breaker.state == "open"


def test_outage_toggled_mid_run(sandbox, vendors):
    outcomes = []
    for step in range(6):
        if step == 2:
            sandbox.outage("pboc", down=True)
        if step == 4:
            sandbox.outage("pboc", down=False)
        try:
            vendors.pboc.query(QUERY)
            outcomes.append("ok")
        except VendorUnavailable:
            outcomes.append("unavailable")
    # one failed call (3 attempts) stays under the threshold of 4; the second trips it, so the
    # first call after the vendor returns needs the cool-down
    assert outcomes[:4] == ["ok", "ok", "unavailable", "unavailable"]
    assert outcomes[4:] == ["unavailable", "unavailable"]
    time.sleep(FAST_BREAKER.cooldown_s)
    assert vendors.pboc.query(QUERY).request_id


def test_short_outage_needs_no_cooldown(sandbox, vendors):
    assert vendors.pboc.query(QUERY).request_id
    sandbox.outage("pboc", down=True)
    with pytest.raises(VendorUnavailable):
        vendors.pboc.query(QUERY)
    sandbox.outage("pboc", down=False)
    assert vendors.pboc.query(QUERY).request_id
    assert [c["fault"] for c in sandbox.calls("pboc")] == [None, "outage", "outage", "outage",
                                                          None]


def test_hanging_outage_is_bounded_by_timeouts(sandbox, vendors):
    sandbox.outage("third_party", down=True, mode="hang")
    started = time.monotonic()
    with pytest.raises(VendorUnavailable, match="timed out"):
        vendors.third_party.query(QUERY)
    assert time.monotonic() - started < 1.4
