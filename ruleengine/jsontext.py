"""JSON text for durable-rules, whose parser rejects exponents (``1e-05`` fails, error 204)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def format_number(x: float | int) -> str:
    """A JSON number durable can parse: no exponent (``1e-05`` fails with error 204)."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    text = repr(x)
    if "e" in text or "E" in text:
        text = np.format_float_positional(x, unique=True, trim="-")
    return text


def dumps(obj: Any) -> str:
    """Compact JSON with durable-safe numbers (json.dumps would write ``5e-05``)."""
    if isinstance(obj, dict):
        return "{" + ",".join(f"{dumps(str(k))}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    if isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=False)
    if obj is None:
        return "null"
    return format_number(obj)
