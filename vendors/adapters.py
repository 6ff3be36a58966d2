"""Build the set of vendor adapters from one base URL (``CHEDAITONG_VENDOR_URL``): the sandbox
serves every vendor under its own path prefix; production may point vendors at their own hosts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import httpx

from vendors.breaker import BreakerPolicy
from vendors.bureaus import HttpPboc, HttpThirdPartyBureau
from vendors.calls import HttpOutboundCall
from vendors.collection import HttpCollection
from vendors.esign import HttpESign
from vendors.http import RetryPolicy, Timeouts, VendorHttpClient
from vendors.identity import HttpFourElement, HttpIdCheck, HttpLiveness
from vendors.interfaces import (
    CollectionVendor,
    ESignVendor,
    FourElementVendor,
    IdCheckVendor,
    LivenessVendor,
    OutboundCallVendor,
    PaymentVendor,
    PbocVendor,
    SmsVendor,
    ThirdPartyBureauVendor,
)
from vendors.payments import HttpPayments
from vendors.sms import HttpSms
from vendors.wire import VENDORS

#: Read timeouts by vendor, seconds (connect is 1 s everywhere). The bureau assembles a report
#: and face comparison runs a model, so they get longer than the simple lookups.
DEFAULT_TIMEOUTS: dict[str, Timeouts] = {
    "id_check": Timeouts(1.0, 3.0),
    "liveness": Timeouts(1.0, 5.0),
    "four_element": Timeouts(1.0, 3.0),
    "pboc": Timeouts(1.0, 8.0),
    "third_party": Timeouts(1.0, 4.0),
    "esign": Timeouts(1.0, 5.0),
    "sms": Timeouts(1.0, 3.0),
    "collection": Timeouts(1.0, 5.0),
    "outbound_call": Timeouts(1.0, 5.0),
    "payments": Timeouts(1.0, 5.0),
}

_ADAPTERS: dict[str, type] = {
    "id_check": HttpIdCheck, "liveness": HttpLiveness, "four_element": HttpFourElement,
    "pboc": HttpPboc, "third_party": HttpThirdPartyBureau, "esign": HttpESign, "sms": HttpSms,
    "collection": HttpCollection, "outbound_call": HttpOutboundCall, "payments": HttpPayments,
}


@dataclass(frozen=True)
class Vendors:
    """Every external vendor Chedaitong talks to, each behind its interface."""

    id_check: IdCheckVendor
    liveness: LivenessVendor
    four_element: FourElementVendor
    pboc: PbocVendor
    third_party: ThirdPartyBureauVendor
    esign: ESignVendor
    sms: SmsVendor
    collection: CollectionVendor
    outbound_call: OutboundCallVendor
    payments: PaymentVendor

    def close(self) -> None:
        """Close the HTTP connection pools of adapters that have one."""
        for f in fields(self):
            http = getattr(getattr(self, f.name), "http", None)
            if isinstance(http, VendorHttpClient):
                http.close()

    def __enter__(self) -> Vendors:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_vendors(
    base_url: str | Mapping[str, str],
    *,
    timeouts: Timeouts | Mapping[str, Timeouts] | None = None,
    retry: RetryPolicy | None = None,
    breaker: BreakerPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Vendors:
    """HTTP adapters for every vendor, each with its own client and circuit breaker.

    ``base_url`` is one URL for all vendors or a mapping vendor name → URL (every vendor must be
    present). ``timeouts`` is one value for all or a partial mapping over `DEFAULT_TIMEOUTS`.
    """
    adapters: dict[str, Any] = {}
    for name in VENDORS:
        if isinstance(base_url, str):
            url = base_url
        elif name in base_url:
            url = base_url[name]
        else:
            raise ValueError(f"no base URL for vendor {name!r}")
        if isinstance(timeouts, Timeouts):
            t = timeouts
        else:
            t = (timeouts or {}).get(name, DEFAULT_TIMEOUTS[name])
        http = VendorHttpClient(name, url.rstrip("/"), timeouts=t, retry=retry, breaker=breaker,
                                transport=transport)
        adapters[name] = _ADAPTERS[name](http)
    return Vendors(**adapters)


def vendors_from_settings(settings: Any = None, **options: Any) -> Vendors:
    """Adapters for ``settings.vendor_url`` (a `chedaitong.config.Settings`); without settings,
    for the ``CHEDAITONG_VENDOR_URL`` environment variable. ``options`` go to `build_vendors`."""
    if settings is not None:
        url = getattr(settings, "vendor_url", None)
    else:
        url = os.environ.get("CHEDAITONG_VENDOR_URL")
    if not url:
        from chedaitong.config import ConfigError

        raise ConfigError("CHEDAITONG_VENDOR_URL is not set; start the sandbox with "
                          "`python -m chedaitong_sim.sandbox` and point it there")
    return build_vendors(url, **options)
