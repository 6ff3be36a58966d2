"""Everything the sandbox remembers: the call log tests assert on, stored responses for
idempotency keys, and what the vendors "created" (contracts, messages, collection cases)."""

from __future__ import annotations

import itertools
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_CALLS = 10_000  # keep a long demo's memory bounded


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str  # sha256 of the request body that produced it
    status: int
    body: dict[str, Any]


@dataclass
class SandboxState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: threading.Event = field(default_factory=threading.Event)
    calls: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_CALLS))
    idempotent: dict[tuple[str, str], StoredResponse] = field(default_factory=dict)
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: loan reference → its case ids, oldest first (a loan's open case found without a scan
    #: of every case: an agency holding 70,000 of them answers a placement in O(1) per row)
    loan_cases: dict[str, list[str]] = field(default_factory=dict)
    phone_calls: list[dict[str, Any]] = field(default_factory=list)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    inquiries: list[dict[str, Any]] = field(default_factory=list)
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._seq):010d}"

    def next_attempt(self, vendor: str, subject: str) -> int:
        """0-based count of earlier answered requests by ``vendor`` about ``subject``."""
        with self.lock:
            n = self.attempts[(vendor, subject)]
            self.attempts[(vendor, subject)] += 1
            return n

    def record(self, call: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            call["seq"] = next(self._seq)
            call["at"] = now().isoformat()
            self.calls.append(call)
        return call

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.idempotent.clear()
            self.contracts.clear()
            self.messages.clear()
            self.cases.clear()
            self.loan_cases.clear()
            self.phone_calls.clear()
            self.transfers.clear()
            self.inquiries.clear()
            self.attempts.clear()

    def add_case(self, case: dict[str, Any]) -> None:
        with self.lock:
            self.cases[case["case_id"]] = case
            self.loan_cases.setdefault(case["loan_id"], []).append(case["case_id"])

    def cases_of(self, loan_id: str) -> list[dict[str, Any]]:
        return [self.cases[c] for c in self.loan_cases.get(loan_id, ())]

    def sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server stops, so no request thread outlives it."""
        if seconds > 0:
            self.stopping.wait(seconds)


def now() -> datetime:
    return datetime.now(UTC)
