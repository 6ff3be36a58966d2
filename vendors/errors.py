"""Typed vendor failures, so callers decide on *kind* (retry later, refer, fix the request)
without parsing HTTP details. Messages are scrubbed of identifiers before they are stored."""

from __future__ import annotations

from vendors.masking import scrub


class VendorError(Exception):
    """A vendor call gave no usable answer (base class; also 500s and malformed responses)."""

    def __init__(
        self, vendor: str, message: str, *, status: int | None = None, code: str | None = None
    ) -> None:
        self.vendor = vendor
        self.status = status
        self.code = code
        super().__init__(f"{vendor}: {scrub(message)}")


class VendorUnavailable(VendorError):
    """Timeouts, connection errors, 502/503/504 or throttling that outlasted the retries.

    Transient by nature: the same request may succeed later."""


class CircuitOpen(VendorUnavailable):
    """The vendor failed repeatedly; calls fail fast until its cool-down ends."""

    def __init__(self, vendor: str, retry_in_s: float) -> None:
        self.retry_in_s = retry_in_s
        super().__init__(vendor, f"circuit open, next probe in {retry_in_s:.1f}s")


class VendorRejected(VendorError):
    """The vendor refused the request (4xx): retrying the same request cannot help."""
