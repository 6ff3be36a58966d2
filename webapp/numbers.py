"""Numbers sent as text (query strings, form fields, JSON strings): ASCII digits only, never
rounded on the way in.

marshmallow reads a string with int(), float() or Decimal(), which take any Unicode digit
("１", "٣"), underscores ("1_0"), padding (" 1 "), signs ("+1") and exponents ("4.5E+5"), and
its Decimal(places=2) rounds a third decimal away (half-even) without a word. The URL's ids
already take ASCII digits only (Flask's int converter); these fields hold every other number
to the same form, the one the OpenAPI document states. A decimal with more places than the
field keeps is refused, as `servicing.money.money` refuses part cents: a caller sending
100.005 has a bug worth seeing. A JSON number is still a number for the integer and float
fields; money is a decimal string (or a whole number), never a binary float.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields

from chedaitong.numbers import decimal_form

_INTEGER = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class AsciiInteger(fields.Integer):
    """An integer; as text, ASCII digits (an optional leading minus) only."""

    default_error_messages = {"invalid": "must be a whole number in ASCII digits (0-9)"}

    def _deserialize(self, value: Any, attr, data, **kwargs):
        if isinstance(value, str) and not _INTEGER.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class AsciiFloat(fields.Float):
    """A number; as text, ASCII digits with an optional decimal point (no exponent)."""

    default_error_messages = {"invalid": "must be a number in ASCII digits (0-9, one '.')"}

    def _deserialize(self, value: Any, attr, data, **kwargs):
        if isinstance(value, str) and not _FLOAT.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class AsciiDecimal(fields.Decimal):
    """A decimal given as text of ASCII digits with at most ``places`` decimals (or a JSON
    integer): kept exactly, never rounded; a JSON number with a decimal point is refused
    (it is a binary float by the time it is read)."""

    def __init__(self, places: int | None = None, **kwargs: Any):
        kwargs.setdefault("as_string", True)
        kwargs.setdefault("allow_nan", False)
        super().__init__(places=places, **kwargs)
        self._pattern, self._form = decimal_form(places)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> Decimal:
        if isinstance(value, float):
            raise ValidationError(f"{self._form}, not a JSON float")
        if isinstance(value, str) and not self._pattern.fullmatch(value):
            raise ValidationError(self._form)
        return super()._deserialize(value, attr, data, **kwargs)
