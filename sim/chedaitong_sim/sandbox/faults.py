"""How each sandbox vendor misbehaves: latency drawn from a log-normal distribution, random
500/503 errors (some after the work was done), hangs past the client's timeout, outages, and
scripted faults for tests that need an exact sequence."""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from vendors.wire import VENDORS

#: Median latency in ms by vendor: lookups are quick, a bureau report and face comparison slow.
DEFAULT_LATENCY_MS = {
    "id_check": 120.0, "liveness": 450.0, "four_element": 250.0, "pboc": 900.0,
    "third_party": 300.0, "esign": 350.0, "sms": 80.0, "collection": 200.0,
    "outbound_call": 600.0, "payments": 400.0,  # placing a call rings; a transfer books
}


@dataclass
class VendorConfig:
    """Runtime knobs of one sandbox vendor (all changeable through ``POST /_admin/config``)."""

    latency_ms: float = 100.0  # median; 0 disables the delay
    latency_sigma: float = 0.5  # log-normal shape: p95 ≈ 2.3x median, p99 ≈ 3.2x
    error_rate: float = 0.0  # share of requests answered 500 or 503 (half each)
    errors_after_commit: float = 0.5  # share of those errors raised after the work was done
    timeout_rate: float = 0.0  # share of requests that hang for timeout_s before answering
    timeout_s: float = 30.0  # longer than any client read timeout
    down: bool = False  # outage: every request fails
    down_mode: str = "error"  # "error": 503 at once; "hang": no answer for timeout_s, then 503
    item_error_rate: float = 0.0  # share of a batch call's items refused TEMPORARY_FAILURE

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` after checking them all (nothing changes when one is invalid)."""
        known = {f.name: f.type for f in fields(self)}
        new = asdict(self)
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}; known: {', '.join(known)}")
            if key == "down":
                if not isinstance(value, bool):
                    raise ValueError("down must be true or false")
            elif key == "down_mode":
                if value not in ("error", "hang"):
                    raise ValueError("down_mode must be 'error' or 'hang'")
            else:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{key} must be a number")
                value = float(value)
                if value < 0 or math.isnan(value):
                    raise ValueError(f"{key} must be >= 0")
                if key.endswith(("_rate", "_commit")) and value > 1:
                    raise ValueError(f"{key} must be between 0 and 1")
            new[key] = value
        for key, value in new.items():
            setattr(self, key, value)


@dataclass(frozen=True)
class Fault:
    """One injected failure. ``after_commit``: the vendor did the work, then the answer was lost
    (the case idempotency keys exist for)."""

    kind: Literal["error", "timeout", "outage"]
    status: int = 503
    after_commit: bool = False
    retry_after: float | None = None  # sent as Retry-After (e.g. with 429)
    hang_s: float = 0.0

    @classmethod
    def from_json(cls, spec: Mapping[str, Any], default_hang_s: float) -> Fault:
        """``{"status": 503}``, ``{"status": 503, "after_commit": true}``,
        ``{"status": 429, "retry_after": 1}`` or ``{"timeout": true, "seconds": 2}``."""
        unknown = set(spec) - {"status", "after_commit", "retry_after", "timeout", "seconds"}
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        after = bool(spec.get("after_commit", False))
        if spec.get("timeout"):
            return cls("timeout", after_commit=after,
                       hang_s=float(spec.get("seconds", default_hang_s)))
        status = spec.get("status")
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("a fault needs a status between 400 and 599, or timeout: true")
        retry_after = spec.get("retry_after")
        return cls("error", status=status, after_commit=after,
                   retry_after=float(retry_after) if retry_after is not None else None)


class Faults:
    """Per-vendor configuration, scripted faults and the seeded random source deciding them."""

    def __init__(self, configs: Mapping[str, VendorConfig], seed: int = 0) -> None:
        self.configs = dict(configs)
        self._scripts: dict[str, deque[Fault]] = {v: deque() for v in VENDORS}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def names(self, vendor: str) -> list[str]:
        """``vendor`` as a list of names; "*" or "all" means every vendor."""
        if vendor in ("*", "all"):
            return list(VENDORS)
        if vendor not in self.configs:
            raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
        return [vendor]

    def configure(self, vendor: str, changes: Mapping[str, Any]) -> None:
        with self._lock:
            for name in self.names(vendor):
                self.configs[name].update(changes)

    def script(self, vendor: str, faults: Iterable[Fault]) -> None:
        with self._lock:
            for name in self.names(vendor):
                self._scripts[name].extend(faults)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                name: {**asdict(cfg), "scripted": len(self._scripts[name])}
                for name, cfg in self.configs.items()
            }

    def plan(self, vendor: str) -> tuple[float, Fault | None]:
        """(latency in seconds, fault or None) for the next request to ``vendor``.
        Precedence: outage, then a scripted fault, then random faults."""
        with self._lock:
            cfg = self.configs[vendor]
            if cfg.down:
                hang = cfg.timeout_s if cfg.down_mode == "hang" else 0.0
                return 0.0, Fault("outage", status=503, hang_s=hang)
            latency = 0.0
            if cfg.latency_ms > 0:
                draw = cfg.latency_ms * math.exp(self._rng.gauss(0.0, cfg.latency_sigma))
                latency = min(draw, cfg.latency_ms * 8) / 1000
            if self._scripts[vendor]:
                return latency, self._scripts[vendor].popleft()
            u = self._rng.random()
            if u < cfg.error_rate:
                after = self._rng.random() < cfg.errors_after_commit
                status = 500 if self._rng.random() < 0.5 else 503
                return latency, Fault("error", status=status, after_commit=after)
            if u < cfg.error_rate + cfg.timeout_rate:
                return latency, Fault("timeout", hang_s=cfg.timeout_s)
            return latency, None


    def item_fails(self, vendor: str) -> bool:
        """Does the next item of a batch call fail on its own (a partial failure)?"""
        with self._lock:
            rate = self.configs[vendor].item_error_rate
            return rate > 0 and self._rng.random() < rate


def default_configs(
    latency_ms: float | Mapping[str, float] | None = None,
    error_rate: float = 0.0,
    timeout_rate: float = 0.0,
) -> dict[str, VendorConfig]:
    """Configs for every vendor; ``latency_ms=None`` keeps the realistic per-vendor medians."""
    out = {}
    for name in VENDORS:
        if latency_ms is None:
            lat = DEFAULT_LATENCY_MS[name]
        elif isinstance(latency_ms, Mapping):
            lat = float(latency_ms.get(name, DEFAULT_LATENCY_MS[name]))
        else:
            lat = float(latency_ms)
        out[name] = VendorConfig(latency_ms=lat, error_rate=error_rate, timeout_rate=timeout_rate)
    return out
