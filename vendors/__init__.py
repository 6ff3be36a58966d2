"""External vendors behind small interfaces (`vendors.interfaces`), reached through one
resilient HTTP client (`vendors.http`) and assembled by `vendors.adapters`. The sandbox in
`chedaitong_sim.sandbox` plays every vendor locally, failures included."""

from vendors.adapters import DEFAULT_TIMEOUTS, Vendors, build_vendors, vendors_from_settings
from vendors.breaker import BreakerPolicy, CircuitBreaker
from vendors.errors import CircuitOpen, VendorError, VendorRejected, VendorUnavailable
from vendors.http import RetryPolicy, Timeouts, VendorHttpClient
from vendors.masking import mask, scrub

__all__ = [
    "DEFAULT_TIMEOUTS",
    "BreakerPolicy",
    "CircuitBreaker",
    "CircuitOpen",
    "RetryPolicy",
    "Timeouts",
    "VendorError",
    "VendorHttpClient",
    "VendorRejected",
    "VendorUnavailable",
    "Vendors",
    "build_vendors",
    "mask",
    "scrub",
    "vendors_from_settings",
]
