"""What a page may show of a decision: aggregated scalar features only.

Decision records hold aggregated features, but a page is a second line of defence: anything
that looks like an identifier, free text or raw device data is dropped, not masked.
"""

from __future__ import annotations

import re
from typing import Any

BLOCKED = re.compile(r"(id_number|idcard|phone|mobile|name|address|sms|text|message|device_id"
                     r"|imei|card_number|account|raw)", re.I)
MAX_TEXT = 32


def safe_features(features: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Sorted (name, value) pairs of numeric, boolean or short categorical features."""
    rows = []
    for key, value in sorted((features or {}).items()):
        if BLOCKED.search(key) or isinstance(value, dict | list | tuple):
            continue
        if isinstance(value, float):
            shown = f"{value:.4g}"
        elif isinstance(value, str):
            if len(value) > MAX_TEXT or sum(ch.isdigit() for ch in value) >= 6:
                continue  # free text, or digits that could be an identifier
            shown = value
        else:
            shown = "—" if value is None else str(value)
        rows.append((key, shown))
    return rows


def model_summary(model: dict[str, Any] | None) -> dict[str, Any]:
    """Score, grade, PD and version of the model block (never its inputs)."""
    model = model or {}
    return {k: model.get(k) for k in ("score", "grade", "pd", "version") if k in model}
