"""What every batch adapter shares: the size check and the per-item answers.

A batch call carries its own ``Idempotency-Key`` (`vendors.http.new_key`, new per call: the
HTTP client's retries of that call are answered from the vendor's store; not a digest of the
items, or the next night's resend of exactly the items refused "for now" would get the stored
refusals replayed) and every item its own (so an item sent again
in another call — the next night's retry — is not done twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vendors import wire
from vendors.interfaces import BatchItem


def check_size(items: Sequence[Any], most: int, what: str) -> None:
    if not items:
        raise ValueError(f"an empty {what} batch")
    if len(items) > most:
        raise ValueError(f"{len(items)} {what} items in one batch (at most {most})")
    keys = [getattr(i, "idempotency_key", None) for i in items]
    if any(not k for k in keys) or len(set(keys)) != len(keys):
        raise ValueError(f"every {what} batch item needs its own idempotency key")


def read_items(data: dict[str, Any], vendor: str, op: str, keys: Sequence[str]) -> list[BatchItem]:
    """The answers to the items `keys`, in their order; a missing answer breaks the contract."""
    results = data.get("results")
    if not isinstance(results, list):
        wire.Reader(data, vendor, op).fail("results")
    got: dict[str, BatchItem] = {}
    for raw in results:
        if not isinstance(raw, dict):
            wire.Reader({}, vendor, op).fail("results")
        r = wire.Reader(raw, vendor, op)
        code = r.opt_string("code") or ""
        got[r.string("idempotency_key")] = BatchItem(
            r.string("idempotency_key"), r.opt_string("ref"), code,
            r.opt_string("message") or "", bool(r.opt_flag("retryable")),
            r.opt_string("agency"), r.opt_string("status"))
    missing = [k for k in keys if k not in got]
    if missing:
        wire.Reader({}, vendor, op).fail(f"results[{len(missing)} missing]")
    return [got[k] for k in keys]
