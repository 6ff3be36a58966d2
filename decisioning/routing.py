"""Champion/challenger on a share of live traffic: which model decides each application.

A routing policy per model purpose says what share of customers the challenger decides for,
optionally only within a segment (e.g. one channel). The arm is a pure function of the
customer's stable key (the blind index of the ID number) and the policy's salt: the same
customer always lands in the same arm — a re-application does not flip models — and the
split is reproducible from the record. The policy lives beside the model registry
(``routing.json``) and is read again when the file changes, so every worker follows an edit.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHAMPION, CHALLENGER = "champion", "challenger"
DEFAULT_PURPOSE = "application"
POLICY_FILE = "routing.json"


@dataclass(frozen=True)
class RoutingPolicy:
    """``challenger_percent`` of the customers (0–100) in ``segment`` (feature → allowed
    values; empty = everyone) are decided by the challenger. Changing ``salt`` reshuffles."""

    purpose: str = DEFAULT_PURPOSE
    challenger_percent: float = 0.0
    salt: str = "cc-1"
    segment: dict[str, list[str]] = field(default_factory=dict)
    updated_by: str | None = None
    updated_at: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.challenger_percent) <= 100.0:
            raise ValueError("challenger_percent must be between 0 and 100")
        if not self.salt:
            raise ValueError("salt must not be empty")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Assignment:
    arm: str
    bucket: float  # in [0, 1): the customer's place in the split
    in_segment: bool


def bucket_of(policy: RoutingPolicy, customer_key: str) -> float:
    """The customer's uniform position in [0, 1), from SHA-256 (not Python's salted hash)."""
    digest = hashlib.sha256(f"{policy.salt}|{policy.purpose}|{customer_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign(policy: RoutingPolicy | None, customer_key: str,
           features: Mapping[str, Any]) -> Assignment:
    """The arm of one customer's application under ``policy`` (champion without one)."""
    if policy is None:
        return Assignment(CHAMPION, 0.0, False)
    in_segment = all(features.get(k) in set(v) for k, v in policy.segment.items())
    bucket = bucket_of(policy, customer_key)
    arm = CHALLENGER if in_segment and bucket < policy.challenger_percent / 100.0 else CHAMPION
    return Assignment(arm, bucket, in_segment)


class RoutingStore:
    """The policies of one registry root, re-read when ``routing.json`` changes."""

    def __init__(self, root: str | Path | None):
        self.path = Path(root) / POLICY_FILE if root is not None else None
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._policies: dict[str, RoutingPolicy] = {}

    def policy(self, purpose: str = DEFAULT_PURPOSE) -> RoutingPolicy | None:
        return self._read().get(purpose)

    def policies(self) -> dict[str, RoutingPolicy]:
        return dict(self._read())

    def _read(self) -> dict[str, RoutingPolicy]:
        if self.path is None:
            return {}
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                self._policies = {p: RoutingPolicy(**{**v, "purpose": p})
                                  for p, v in raw.get("policies", {}).items()}
                self._stamp = stamp
            return self._policies

    def save(self, policy: RoutingPolicy, *, who: str | None = None) -> RoutingPolicy:
        """Write ``policy`` (atomically: a worker never reads half a file)."""
        if self.path is None:
            raise ValueError("no model directory to keep the routing policy in")
        stamped = RoutingPolicy(**{**policy.as_dict(), "updated_by": who,
                                   "updated_at": datetime.now(UTC).isoformat()})
        with self._lock:
            current = {}
            if self.path.exists():
                current = json.loads(self.path.read_text(encoding="utf-8")).get("policies", {})
            current[stamped.purpose] = {k: v for k, v in stamped.as_dict().items()
                                        if k != "purpose"}
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"policies": current}, indent=2, sort_keys=True),
                           encoding="utf-8")
            os.replace(tmp, self.path)
            self._stamp = None
        return stamped


def routing_record(policy: RoutingPolicy | None, assignment: Assignment, *,
                   champion: str | None, challenger: str | None, decided_by: str | None
                   ) -> dict[str, Any]:
    """What the decision record keeps about its arm."""
    return {"purpose": policy.purpose if policy else DEFAULT_PURPOSE, "arm": assignment.arm,
            "bucket": round(assignment.bucket, 9), "in_segment": assignment.in_segment,
            "challenger_percent": policy.challenger_percent if policy else 0.0,
            "salt": policy.salt if policy else None,
            "segment": policy.segment if policy else {},
            "champion_version": champion, "challenger_version": challenger,
            "decided_by": decided_by}
