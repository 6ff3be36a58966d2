"""A per-vendor circuit breaker: after repeated failures, fail fast instead of making every
credit decision wait out the timeouts of a vendor that is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class BreakerPolicy:
    """Open after ``failure_threshold`` consecutive failed attempts; after ``cooldown_s`` let one
    probe through (half-open): success closes the circuit, failure opens it for another cool-down.
    """

    failure_threshold: int = 5
    cooldown_s: float = 30.0


class CircuitBreaker:
    """Thread-safe; ``clock`` is injectable so tests need not sleep."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_started: float | None = None

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self.policy.cooldown_s:
            return "open"
        return "half_open"

    def allow(self) -> bool:
        """May an attempt go out now? In half-open state only one probe at a time may; a probe
        that never reported back (a bug upstream) is forgotten after one cool-down."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "open":
                return False
            now = self._clock()
            if self._probe_started is None or now - self._probe_started >= self.policy.cooldown_s:
                self._probe_started = now
                return True
            return False

    def retry_in(self) -> float:
        """Seconds until the next probe is allowed (0 when closed)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.policy.cooldown_s - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probe_started = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            half_open = self._opened_at is not None and self._state() == "half_open"
            if half_open or self._failures >= self.policy.failure_threshold:
                self._opened_at = self._clock()
                self._probe_started = None
