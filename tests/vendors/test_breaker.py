from __future__ import annotations

from vendors import BreakerPolicy, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(threshold: int = 3, cooldown: float = 10.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("pboc", BreakerPolicy(threshold, cooldown), clock=clock), clock


def test_opens_after_consecutive_failures_only():
    b, _ = make(threshold=3)
    b.record_failure()
    b.record_failure()
    b.record_success()  # the streak is broken
    b.record_failure()
    b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_failure()
    assert b.state == "open"
    assert not b.allow()


def test_half_open_lets_one_probe_through_and_success_closes():
    b, clock = make(threshold=1, cooldown=10.0)
    b.record_failure()
    assert not b.allow()
    assert b.retry_in() == 10.0
    clock.now += 10.0
    assert b.state == "half_open"
    assert b.allow()  # the probe
    assert not b.allow()  # everyone else still fails fast while it runs
    b.record_success()
    assert b.state == "closed" and b.allow() and b.allow()


def test_failed_probe_reopens_for_a_full_cooldown():
    b, clock = make(threshold=2, cooldown=10.0)
    b.record_failure()
    b.record_failure()
    clock.now += 10.0
    assert b.allow()
    b.record_failure()  # one failure is enough in half-open
    assert b.state == "open"
    clock.now += 9.9
    assert not b.allow()
    clock.now += 0.1
    assert b.allow()


def test_a_lost_probe_does_not_wedge_the_breaker():
    b, clock = make(threshold=1, cooldown=5.0)
    b.record_failure()
    clock.now += 5.0
    assert b.allow()  # the probe never reports back
    clock.now += 5.0
    assert b.allow()
