"""Masks for personal identifiers in logs and error messages.

Adapters log who a call was about only through `mask()`; `scrub()` is the safety net applied to
every log line and vendor error text, catching identifiers that slipped into free text.
"""

from __future__ import annotations

import re
from typing import Literal

from chedaitong.crypto import mask_account, mask_id_number, mask_phone

Kind = Literal["auto", "id_number", "phone", "card", "name"]

_ID = re.compile(r"^\d{17}[\dXx]$|^\d{15}$")
_PHONE = re.compile(r"^(?:\+?86)?1\d{10}$")
_CARD = re.compile(r"^\d{12,19}$")
# In free text: an 18/15-character ID, a bank card (12-19 digits) or a mainland mobile number.
_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{12,19}|(?:\+?86)?1\d{10})(?![0-9A-Za-z])"
)


def mask(value: object, kind: Kind = "auto") -> str:
    """Masked form of an identifier: 110101********1234, 138****5678, ************4321, 张*.

    ``kind="auto"`` recognises ID numbers, mobile numbers and card numbers by shape; anything
    else keeps only its first character, so an unrecognised value is still never printed whole.
    """
    if value is None:
        return "-"
    text = str(value).strip().replace(" ", "")
    if not text:
        return ""
    if kind == "auto":
        if _ID.match(text):
            kind = "id_number"
        elif _PHONE.match(text):
            kind = "phone"
        elif _CARD.match(text):
            kind = "card"
        else:
            kind = "name"
    if kind == "id_number":
        return mask_id_number(text)
    if kind == "phone":
        return mask_phone(text[-11:]) if len(text) > 11 else mask_phone(text)
    if kind == "card":
        return mask_account(text)
    return text[0] + "*" * (len(text) - 1)


def scrub(text: str) -> str:
    """Mask every ID-, card- or phone-shaped digit run inside free text."""
    return _IN_TEXT.sub(lambda m: mask(m.group(0)), text)
