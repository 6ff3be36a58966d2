"""Resident ID numbers (GB 11643-1999) and the identity-check vendor responses.

An ID is region(6) + birth date YYYYMMDD(8) + sequence(3, odd = male) + check character. The
check character is ISO 7064 MOD 11-2: sum(digit_i * w_i) mod 11 indexed into "10X98765432".
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from chedaitong_sim.worldgen import text
from chedaitong_sim.worldgen.timeutil import MINUTE, date_array, ts_array

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)


def check_char(first17: str) -> str:
    """Check character for a 17-digit prefix (scalar version, for tests and callers)."""
    s = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return "10X98765432"[s % 11]


def is_valid(id_number: str) -> bool:
    """True when the 18-character ID has digits where expected and a correct check char."""
    return (
        len(id_number) == 18
        and id_number[:17].isdigit()
        and check_char(id_number[:17]) == id_number[17]
    )


def resident_ids(
    rng: np.random.Generator, region: np.ndarray, birth_day: np.ndarray, male: np.ndarray
) -> pa.Array:
    """Vectorised IDs from region codes (str), birth day numbers and gender."""
    n = len(region)
    ymd = np.datetime64("1970-01-01") + np.asarray(birth_day).astype("timedelta64[D]")
    ymd_str = np.datetime_as_string(ymd, unit="D")
    seq = rng.integers(0, 500, n) * 2 + np.asarray(male, dtype=np.int64)  # odd = male
    seq_str = np.char.zfill(seq.astype(str), 3)
    body = np.char.add(np.char.add(region.astype("U6"), np.char.replace(ymd_str, "-", "")), seq_str)
    digits = body.astype("S17").view(np.uint8).reshape(n, 17).astype(np.int64) - ord("0")
    check = CHECK_CHARS[(digits @ WEIGHTS) % 11]
    chars = np.concatenate([body.astype("S17").view(np.uint8).reshape(n, 17), check[:, None]], 1)
    return text.fixed_width(chars)


ID_VENDOR = "身份核验服务商A"
FACE_VENDOR = "活体检测服务商B"
BANK_VENDOR = "银行卡四要素服务商C"


def checks(
    rng: np.random.Generator,
    registered_at: np.ndarray,
    fraud: np.ndarray,
    ring: np.ndarray,
    signing_app_idx: np.ndarray,
    signing_cust: np.ndarray,
    signing_at: np.ndarray,
    signing_score: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Identity checks at registration (ID card, liveness with retries, bank-card four elements)
    plus the liveness check at contract signing of approved applications.

    Returns (rows, per-customer outcome) where outcome holds the final registration results the
    risk model sees: id_fail, bank_mismatch, liveness_score, liveness_fails.
    """
    n = len(registered_at)
    # ID card: identity fraud is caught half the time; a few genuine customers are not in the
    # vendor database (stale records).
    id_fail = np.where(fraud & ~ring, rng.random(n) < 0.5, rng.random(n) < 0.003)
    # Bank card four elements: typos fail first and pass on retry; fraud may never match.
    bank_first_fail = np.where(fraud & ~ring, rng.random(n) < 0.45, rng.random(n) < 0.04)
    bank_final_fail = bank_first_fail & np.where(
        fraud & ~ring, rng.random(n) < 0.8, rng.random(n) < 0.1
    )
    # Liveness: up to three attempts; the score of each attempt is a vendor similarity in 0..1.
    a = np.where(fraud & ~ring, 3.5, 16.0)
    b = np.where(fraud & ~ring, 2.5, 1.6)
    scores = np.round(rng.beta(a[:, None], b[:, None], (n, 3)), 4)
    passed = scores >= 0.70
    attempts = np.where(passed[:, 0], 1, np.where(passed[:, 1], 2, 3))
    live_pass = passed[np.arange(n), attempts - 1]
    final_score = scores[np.arange(n), attempts - 1]

    cust, ctype, step, score, ok, appl = [], [], [], [], [], []

    def add(c: np.ndarray, t: int, s: np.ndarray, sc: np.ndarray, p: np.ndarray, ap: np.ndarray):
        cust.append(c)
        ctype.append(np.full(len(c), t))
        step.append(s)
        score.append(sc)
        ok.append(p)
        appl.append(ap)

    none = np.full(n, -1)
    nan = np.full(n, np.nan)
    idx = np.arange(n)
    add(idx, 0, np.full(n, 1), nan, ~id_fail, none)
    for k in range(3):
        m = attempts > k
        add(idx[m], 1, np.full(m.sum(), 2 + k), scores[m, k], passed[m, k], none[m])
    add(idx, 2, np.full(n, 5), nan, ~bank_first_fail, none)
    m = bank_first_fail
    add(idx[m], 2, np.full(m.sum(), 6), nan[m], ~bank_final_fail[m], none[m])
    add(
        signing_cust,
        1,
        np.full(len(signing_cust), 7),
        signing_score,
        signing_score >= 0.7,
        signing_app_idx,
    )

    c = np.concatenate(cust)
    t = np.concatenate(ctype)
    s = np.concatenate(step)
    req = registered_at[c] + (s - 1) * 40 + 60
    req[s == 7] = signing_at  # signing rows were appended last, in signing order
    rows = {
        "cust": c,
        "type": t,
        "step": s,
        "score": np.concatenate(score),
        "pass": np.concatenate(ok),
        "app": np.concatenate(appl),
        "requested_at": req,
        "responded_at": req + rng.integers(1, 4, len(c)) + (rng.random(len(c)) < 0.01) * 3 * MINUTE,
    }
    outcome = {
        "id_fail": id_fail,
        "bank_mismatch": bank_final_fail,
        "liveness_score": final_score,
        "liveness_fails": (attempts - live_pass.astype(int)).astype(np.int64),
        "liveness_pass": live_pass,
    }
    return rows, outcome


CHECK_TYPES = ["id_card", "liveness", "bank_card_4e"]
VENDORS = [ID_VENDOR, FACE_VENDOR, BANK_VENDOR]


def checks_table(
    rows: dict[str, np.ndarray], customer_ids: pa.Array, app_ids: pa.Array
) -> pa.Table:
    """Arrow table of check rows sorted by customer then request time."""
    order = np.lexsort((rows["step"], rows["requested_at"], rows["cust"]))
    r = {k: v[order] for k, v in rows.items()}
    t = r["type"]
    ok = r["pass"]
    code = np.select(
        [ok, t == 0, t == 1],
        ["0000", "2001", "3001"],
        default="1001",
    )
    msg = np.select(
        [ok & (t == 0), ok & (t == 1), ok & (t == 2), t == 0, t == 1],
        ["一致", "活体通过", "四要素一致", "库中无此号或信息不一致", "活体未通过"],
        default="四要素不一致",
    )
    app = r["app"]
    n = len(order)
    return pa.table(
        {
            "check_id": text.ids("IC", np.arange(1, n + 1), 9),
            "customer_id": customer_ids.take(pa.array(r["cust"])),
            "application_id": app_ids.take(pa.array(app, mask=app < 0)),
            "check_type": text.pick(CHECK_TYPES, t),
            "vendor": text.pick(VENDORS, t),
            "requested_at": ts_array(r["requested_at"]),
            "responded_at": ts_array(r["responded_at"]),
            "result": text.pick(["fail", "pass"], ok.astype(int)),
            "result_code": pa.array(code),
            "message": pa.array(msg),
            "score": pa.array(r["score"], mask=np.isnan(r["score"])),
        }
    )


def birth_dates(days: np.ndarray) -> pa.Array:
    """Birth dates as date32."""
    return date_array(days)
