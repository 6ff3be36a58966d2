"""Time helpers. Internally every instant is int64 seconds since 1970-01-01 in naive China
Standard Time (UTC+8, no DST), which is also how the Parquet files store them (timestamp[ms]
without a zone). Fixed reference dates keep the output independent of the wall clock."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

DAY = 86_400
HOUR = 3_600
MINUTE = 60

#: First instant on which applications can be created.
WORLD_START = "2023-07-01"
#: Observation cut-off (exclusive): nothing happens, and nothing is uploaded, at or after it.
WORLD_END = "2025-07-01"
#: The date the sample world describes: the last day of observation.
REFERENCE_DATE = "2025-06-30"
#: When the new "sub-dealer" channel opens (drives the drift in the last months).
NEW_CHANNEL_OPEN = "2024-11-01"


def sec(date: str) -> int:
    """Seconds since epoch of an ISO date/datetime string (naive local time)."""
    return int(np.datetime64(date, "s").astype(np.int64))


def month_index(seconds: np.ndarray | int) -> np.ndarray:
    """Calendar month number (months since 1970-01) of each instant."""
    return (
        np.asarray(seconds, dtype="int64")
        .astype("datetime64[s]")
        .astype("datetime64[M]")
        .astype(np.int64)
    )


def day_index(seconds: np.ndarray | int) -> np.ndarray:
    """Days since epoch of each instant."""
    return np.floor_divide(np.asarray(seconds, dtype=np.int64), DAY)


def add_months_days(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Add calendar months to day numbers, clipping the day of month to 28 like loan schedules
    usually do (a loan disbursed on the 31st is due on the 28th)."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    dom = (d - m.astype("datetime64[D]")).astype(np.int64)
    out = (m + np.asarray(months, dtype=np.int64)).astype("datetime64[D]") + np.minimum(dom, 27)
    return out.astype(np.int64)


def month_start_seconds(months: np.ndarray) -> np.ndarray:
    """First second of each calendar month number."""
    return (
        np.asarray(months, dtype=np.int64)
        .astype("datetime64[M]")
        .astype("datetime64[s]")
        .astype(np.int64)
    )


def ts_array(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Arrow timestamp[ms] array from seconds; `mask` marks nulls."""
    ms = np.asarray(seconds, dtype=np.int64) * 1000
    return pa.array(ms, type=pa.timestamp("ms"), mask=mask)


def date_array(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Arrow date32 array from day numbers."""
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32(), mask=mask)
