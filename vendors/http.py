"""The one HTTP client every adapter uses: timeouts, bounded retries, idempotency keys, a circuit
breaker and masked logging, so each adapter only maps its request and response.

Retry policy: only transient failures are retried (timeouts, connection errors, 502/503/504, 429
after its Retry-After); 4xx never is. A request that may have reached the vendor is retried only
when repeating it is harmless: a GET, or a POST carrying an ``Idempotency-Key`` (the same key on
every attempt, so the vendor answers a retry with the first result instead of acting twice).
"""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from vendors.breaker import BreakerPolicy, CircuitBreaker
from vendors.errors import CircuitOpen, VendorError, VendorRejected, VendorUnavailable
from vendors.masking import scrub

USER_AGENT = "chedaitong-vendors/1"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to establish a connection and to wait for each read of the response."""

    connect: float = 1.0
    read: float = 3.0


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_attempts`` tries within ``budget_s`` seconds (the budget also caps each
    attempt's timeouts, so a call never takes much longer than the budget).

    Backoff before retry n (1-based) is "equal jitter": d = min(max_delay_s, base_delay_s*2**(n-1)),
    sleep uniform(d/2, d). A Retry-After longer than ``max_retry_after_s`` ends the call at once.
    """

    max_attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 2.0
    max_retry_after_s: float = 5.0
    budget_s: float = 15.0
    retry_statuses: frozenset[int] = field(default=frozenset({429, 502, 503, 504}))

    def backoff(self, retry: int, rng: random.Random) -> float:
        d = min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))
        return rng.uniform(d / 2, d)


def new_key() -> str:
    """A fresh idempotency key for one logical call (its retries reuse it)."""
    return uuid.uuid4().hex


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Failure(Exception):
    """One failed attempt: why, whether a retry is allowed, and any Retry-After."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.code = code
        self.retry_after = retry_after


class VendorHttpClient:
    """JSON-over-HTTP to one vendor. Thread-safe; one breaker per instance (i.e. per vendor)."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | BreakerPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.vendor = vendor
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.breaker = (
            breaker
            if isinstance(breaker, CircuitBreaker)
            else CircuitBreaker(vendor, breaker or BreakerPolicy())
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._log = logging.getLogger(f"vendors.{vendor}")
        self._client = httpx.Client(
            base_url=base_url,
            transport=transport,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            verify=_ssl_context(),
        )

    def close(self) -> None:
        self._client.close()

    # -- public verbs ---------------------------------------------------------------------
    def post_json(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        op: str,
        subject: str = "",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST ``body``; with ``idempotency_key`` the call is retried on any transient failure,
        without it only on failures that happened before the request could reach the vendor."""
        resp = self._send("POST", path, json=dict(body), op=op, subject=subject,
                          idempotency_key=idempotency_key)
        return self._json(resp, op)

    def get_json(self, path: str, *, op: str, subject: str = "") -> dict[str, Any]:
        return self._json(self._send("GET", path, op=op, subject=subject), op)

    def get_bytes(self, path: str, *, op: str, subject: str = "") -> httpx.Response:
        """The raw response, for documents (the body is already read)."""
        return self._send("GET", path, op=op, subject=subject)

    # -- the retry loop -------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        op: str,
        subject: str,
        json: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        repeatable = method == "GET" or idempotency_key is not None
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        started = time.monotonic()
        last: _Failure | None = None
        made = 0
        for attempt in range(1, self.retry.max_attempts + 1):
            remaining = self.retry.budget_s - (time.monotonic() - started)
            if remaining <= 0:
                break
            if not self.breaker.allow():
                self._emit(logging.WARNING, "%s %s subject=%s failed fast: circuit open",
                           self.vendor, op, subject)
                raise CircuitOpen(self.vendor, self.breaker.retry_in())
            made = attempt
            t0 = time.monotonic()
            try:
                resp = self._attempt(method, path, json, headers, remaining, repeatable)
            except _Failure as failure:
                last = failure
                if failure.status is None or failure.status >= 500:
                    self.breaker.record_failure()
                else:  # throttled: the vendor is alive, just busy
                    self.breaker.record_success()
                self._emit(logging.WARNING, "%s %s subject=%s key=%s attempt=%d failed: %s (%dms)",
                           self.vendor, op, subject, idempotency_key or "-", attempt,
                           failure.reason, _ms(t0))
                if not failure.retryable:
                    break
                delay = self._delay(attempt, failure)
                if delay is None or time.monotonic() - started + delay >= self.retry.budget_s:
                    break
                if attempt < self.retry.max_attempts:
                    self._sleep(delay)
                continue
            except VendorRejected as rejected:
                self.breaker.record_success()
                self._emit(logging.INFO, "%s %s subject=%s attempt=%d rejected: HTTP %s %s (%dms)",
                           self.vendor, op, subject, attempt, rejected.status,
                           rejected.code or "", _ms(t0))
                raise
            self.breaker.record_success()
            self._emit(logging.INFO, "%s %s subject=%s key=%s attempt=%d status=%d (%dms)",
                       self.vendor, op, subject, idempotency_key or "-", attempt,
                       resp.status_code, _ms(t0))
            return resp

        reason = last.reason if last else "retry budget exhausted"
        self._emit(logging.ERROR, "%s %s subject=%s gave up after %d attempt(s) in %dms: %s",
                   self.vendor, op, subject, made, _ms(started), reason)
        if last is not None and last.status is not None and last.status not in (
            self.retry.retry_statuses
        ):
            raise VendorError(self.vendor, f"{op}: {reason}", status=last.status, code=last.code)
        raise VendorUnavailable(
            self.vendor, f"{op}: {reason} after {made} attempt(s)",
            status=last.status if last else None, code=last.code if last else None,
        )

    def _attempt(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None,
        headers: dict[str, str],
        remaining: float,
        repeatable: bool,
    ) -> httpx.Response:
        """One request; returns a 2xx/3xx response, raises VendorRejected on 4xx (except 429)
        and _Failure on everything else."""
        t = self.timeouts
        timeout = httpx.Timeout(
            connect=min(t.connect, remaining), read=min(t.read, remaining),
            write=min(t.read, remaining), pool=min(t.connect, remaining),
        )
        hdrs = {**headers, "X-Request-Id": uuid.uuid4().hex}
        try:
            resp = self._client.request(method, path, json=json, headers=hdrs, timeout=timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Never reached the vendor: always safe to try again.
            raise _Failure(f"cannot connect ({type(exc).__name__})", retryable=True) from exc
        except httpx.TimeoutException as exc:
            raise _Failure(f"timed out ({type(exc).__name__})", retryable=repeatable) from exc
        except httpx.TransportError as exc:
            raise _Failure(f"connection failed ({type(exc).__name__})",
                           retryable=repeatable) from exc
        status = resp.status_code
        if status < 400:
            return resp
        code, message = _error_body(resp)
        if status == 429 or status in self.retry.retry_statuses:
            raise _Failure(
                f"HTTP {status} {code or ''}".strip(), status=status, code=code,
                retryable=repeatable or status == 429,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        if 400 <= status < 500:
            raise VendorRejected(self.vendor, f"HTTP {status} {code or ''} {message}".strip(),
                                 status=status, code=code)
        raise _Failure(f"HTTP {status} {code or ''}".strip(), status=status, code=code,
                       retryable=False)

    def _delay(self, attempt: int, failure: _Failure) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if failure.retry_after is not None:
            if failure.retry_after > self.retry.max_retry_after_s:
                return None
            return failure.retry_after
        with self._rng_lock:
            return self.retry.backoff(attempt, self._rng)

    def _json(self, resp: httpx.Response, op: str) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError as exc:
            raise VendorError(self.vendor, f"{op}: response is not JSON",
                              status=resp.status_code) from exc
        if not isinstance(data, dict):
            raise VendorError(self.vendor, f"{op}: response is not a JSON object",
                              status=resp.status_code)
        return data

    def _emit(self, level: int, msg: str, *args: object) -> None:
        """Log through `scrub`, so even an unmasked identifier passed by mistake is masked."""
        if self._log.isEnabledFor(level):
            self._log.log(level, "%s", scrub(msg % args))


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One default TLS context for all clients: building one per client costs ~50 ms."""
    return httpx.create_ssl_context()


def _error_body(resp: httpx.Response) -> tuple[str | None, str]:
    try:
        data = resp.json()
    except ValueError:
        return None, resp.text[:200]
    if not isinstance(data, dict):
        return None, ""
    code = data.get("code")
    return (str(code) if code is not None else None), str(data.get("message", ""))[:200]


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)
