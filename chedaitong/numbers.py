"""Decimals as text, in one form for every way numbers come in (API fields, page forms, bank
files): ASCII digits and at most one '.', at most 13 integer digits — `Decimal()` alone also reads
'１.00', '1e2', '1_0' and 5,000 digits."""

from __future__ import annotations

import re
from decimal import Decimal


def decimal_form(places: int | None) -> tuple[re.Pattern[str], str]:
    """The pattern of a decimal with at most ``places`` decimals (any when None) and the words
    that say it."""
    decimals = "+" if places is None else f"{{1,{places}}}"
    example = '"0.0899"' if places == 4 else '"150000.00"'
    most = "" if places is None else f", at most {places} decimal places"
    return (re.compile(rf"-?[0-9]{{1,13}}(\.[0-9]{decimals})?"),
            f"must be a decimal string of ASCII digits{most} (e.g. {example})")


def decimal_text(text: str, places: int | None) -> Decimal:
    """``text`` as a Decimal when it is ASCII digits with at most ``places`` decimals, else
    ValueError saying the form (the pages' form fields; the API's are `AsciiDecimal`)."""
    pattern, form = decimal_form(places)
    if not pattern.fullmatch(text):
        raise ValueError(form)
    return Decimal(text)
