"""The sandbox's wire protocol, shared by the HTTP adapters and the sandbox so the two cannot
drift: vendor names, paths, time format and a strict reader for response fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

from vendors.errors import VendorError

VENDORS = (
    "id_check", "liveness", "four_element", "pboc", "third_party", "esign", "sms", "collection",
    "outbound_call", "payments",
)

ID_CHECK = "/idcheck/v1/verify"
LIVENESS = "/liveness/v1/compare"
FOUR_ELEMENT = "/bankcard/v1/verify"
PBOC = "/pboc/v1/reports"
THIRD_PARTY = "/thirdparty/v1/reports"
CONTRACTS = "/esign/v1/contracts"
SMS = "/sms/v1/messages"
SMS_BATCH = "/sms/v1/batches"  # many messages in one call (SendBatchSms-style)
CASES = "/collection/v1/cases"
PLACEMENTS = "/collection/v1/placements"  # many new cases in one call
CASE_UPDATES = "/collection/v1/case-updates"  # new figures of many open cases in one call
CALLS = "/calls/v1/calls"
TRANSFERS = "/payments/v1/transfers"


def iso(when: datetime) -> str:
    """UTC ISO-8601 with a Z; naive datetimes are taken to be UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Reader:
    """Typed access to a vendor response; a missing or mistyped field is a `VendorError`
    (the vendor broke its contract), never a KeyError deep inside decisioning."""

    def __init__(self, data: dict[str, Any], vendor: str, op: str) -> None:
        self.data, self.vendor, self.op = data, vendor, op

    def _get(self, key: str, kinds: tuple[type, ...], optional: bool) -> Any:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) and bool not in kinds:
            value = None  # bool is an int subclass; refuse it where a number is expected
        if not isinstance(value, kinds):
            self.fail(key)
        return value

    def string(self, key: str) -> str:
        return self._get(key, (str,), False)

    def opt_string(self, key: str) -> str | None:
        return self._get(key, (str,), True)

    def flag(self, key: str) -> bool:
        return self._get(key, (bool,), False)

    def opt_flag(self, key: str) -> bool | None:
        return self._get(key, (bool,), True)

    def number(self, key: str) -> float:
        return float(self._get(key, (int, float), False))

    def integer(self, key: str) -> int:
        return self._get(key, (int,), False)

    def opt_integer(self, key: str) -> int | None:
        return self._get(key, (int,), True)

    def time(self, key: str) -> datetime:
        return self.opt_time(key) or self.fail(key)

    def opt_time(self, key: str) -> datetime | None:
        raw = self.opt_string(key)
        if raw is None:
            return None
        try:
            return parse_time(raw)
        except ValueError:
            return self.fail(key)

    def fail(self, key: str) -> NoReturn:
        raise VendorError(self.vendor, f"{self.op}: response field {key!r} missing or invalid")
