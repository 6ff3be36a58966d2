"""Helpers for tests that talk to the sandbox (here and in other packages): valid synthetic ID
numbers, and adapters with short timeouts, fast backoff and a small breaker."""

from __future__ import annotations

from collections.abc import Callable

from vendors.adapters import Vendors, build_vendors
from vendors.breaker import BreakerPolicy
from vendors.http import RetryPolicy, Timeouts

FAST_TIMEOUTS = Timeouts(connect=0.5, read=0.3)
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05,
                         max_retry_after_s=2.0, budget_s=5.0)
FAST_BREAKER = BreakerPolicy(failure_threshold=4, cooldown_s=0.4)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id_number(first17: str) -> str:
    """``first17`` plus its GB 11643 check character."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def find_id_number(predicate: Callable[[str], bool], region: str = "110101") -> str:
    """The first valid ID (born 1988-06-15, sequence counting up) satisfying ``predicate`` —
    e.g. one the hash oracle answers "no credit file" for."""
    for seq in range(1000):
        candidate = make_id_number(f"{region}19880615{seq:03d}")
        if predicate(candidate):
            return candidate
    raise LookupError("no ID number satisfies the predicate")


def fast_vendors(base_url: str, **options: object) -> Vendors:
    """Adapters tuned for tests: 0.3 s read timeout, ~10-50 ms backoff, breaker 4 / 0.4 s."""
    settings: dict[str, object] = {"timeouts": FAST_TIMEOUTS, "retry": FAST_RETRY,
                                   "breaker": FAST_BREAKER, **options}
    return build_vendors(base_url, **settings)  # type: ignore[arg-type]


def signed_pdf(text: str = "signed") -> bytes:
    """A one-page PDF a PDF library parses (uploads of signed paper copies must be real
    PDFs); ``text`` goes into its metadata so different documents hash differently."""
    import io

    from pypdf import PdfWriter

    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": text})
    writer.write(out)
    return out.getvalue()
