"""Customers: who they are, where they live, and the hidden traits that drive their risk.

Hidden traits (never written except through `applications.true_pd`/`fraud_ring`):
- `z`: credit-behaviour propensity, N(0,1), higher = riskier; it drives the observable signals
  (collection SMS, bureau delinquency, inquiries, utilisation, flagged contacts...).
- `eps`: risk nobody can observe (shocks, intentions), only enters the true PD.
- `fraud`: individual application fraud (identity misuse, misstated address); more common in the
  sub-dealer channel.
- `ring`: fraud-ring membership; rings share devices and contacts and look clean otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from chedaitong_sim.worldgen import geo, identity, text, vocab
from chedaitong_sim.worldgen.dealers import NEW_CHANNEL, Dealers
from chedaitong_sim.worldgen.rng import stream
from chedaitong_sim.worldgen.timeutil import (
    DAY,
    HOUR,
    MINUTE,
    NEW_CHANNEL_OPEN,
    WORLD_END,
    WORLD_START,
    sec,
)


@dataclass
class Customers:
    n: int
    ids: pa.Array
    first_applied_at: np.ndarray
    dealer: np.ndarray
    consultant: np.ndarray
    new_channel: np.ndarray
    home_city: np.ndarray
    work_city: np.ndarray
    actual_city: np.ndarray
    home_lat: np.ndarray
    home_lon: np.ndarray
    work_lat: np.ndarray
    work_lon: np.ndarray
    actual_lat: np.ndarray
    actual_lon: np.ndarray
    z: np.ndarray
    eps: np.ndarray
    u_outcome: np.ndarray
    fraud: np.ndarray
    ring: np.ndarray  # ring number or -1
    age: np.ndarray  # whole years at the first application
    birth_day: np.ndarray
    male: np.ndarray
    income_cents: np.ndarray
    employment: np.ndarray
    marital: np.ndarray
    education: np.ndarray
    registered_at: np.ndarray
    mobile: np.ndarray
    device_id: pa.Array
    name: pa.Array
    id_number: pa.Array
    region_code: np.ndarray


def _application_times(rng: np.random.Generator, n: int) -> np.ndarray:
    """First-application instants over the 24 months, volume growing about 2x over the period,
    during store hours (09:00-21:00)."""
    start, end = sec(WORLD_START), sec(WORLD_END)
    days = (end - start) // DAY
    # density proportional to 1 + x on [0, 1]: inverse CDF of (x + x^2/2) / 1.5
    u = rng.random(n)
    x = -1.0 + np.sqrt(1.0 + 3.0 * u)
    day = np.minimum((x * days).astype(np.int64), days - 1)
    tod = 9 * HOUR + rng.integers(0, 12 * HOUR, n)
    return start + day * DAY + tod


def _rings(n: int) -> tuple[int, int]:
    """(number of rings, members per ring) scaled to the world: one ring per 15k customers, ten
    members each; small worlds get one smaller ring (none below 300 customers)."""
    size = min(10, n // 100)
    if size < 3:
        return 0, 0
    return max(1, round(n / 15_000)), size


def make_customers(seed: int, n: int, dealers: Dealers) -> Customers:
    rng = stream(seed, "customers")
    t_app = _application_times(rng, n)

    # Dealer choice: the sub-dealer channel takes 30% of volume once its stores are open.
    new_ok = np.flatnonzero(dealers.channel == NEW_CHANNEL)
    old_ok = np.flatnonzero(dealers.channel != NEW_CHANNEL)
    w_old = dealers.weight[old_ok] / dealers.weight[old_ok].sum()
    w_new = dealers.weight[new_ok] / dealers.weight[new_ok].sum()
    dealer = old_ok[rng.choice(len(old_ok), n, p=w_old)]
    want_new = (t_app >= sec(NEW_CHANNEL_OPEN)) & (rng.random(n) < 0.30)
    cand = new_ok[rng.choice(len(new_ok), n, p=w_new)]
    use_new = want_new & (dealers.opened_at[cand] <= t_app)
    dealer = np.where(use_new, cand, dealer)

    # Fraud rings: a handful of recruits ("人头") processed by one consultant of a sub-dealer
    # within three weeks, after the channel opened.
    ring = np.full(n, -1)
    n_rings, size = _rings(n)
    late = np.flatnonzero(t_app >= sec(NEW_CHANNEL_OPEN) + 75 * DAY)
    members = rng.choice(late, min(len(late), n_rings * size), replace=False)
    ring_dealer = rng.choice(new_ok, n_rings)
    ring_start = rng.integers(sec(NEW_CHANNEL_OPEN) + 75 * DAY, sec(WORLD_END) - 25 * DAY, n_rings)
    for r in range(n_rings):
        mem = members[r * size : (r + 1) * size]
        ring[mem] = r
        dealer[mem] = ring_dealer[r]
        t_app[mem] = ring_start[r] + rng.integers(0, 21 * DAY, len(mem))
    is_ring = ring >= 0
    consultant = (
        dealers.consultant_start[dealer]
        + rng.integers(0, 10**6, n) % dealers.consultant_count[dealer]
    )
    for r in range(n_rings):
        consultant[ring == r] = dealers.consultant_start[ring_dealer[r]]
    new_channel = dealers.channel[dealer] == NEW_CHANNEL

    # Where people live: mostly the dealer's city.
    dcity = dealers.city[dealer]
    u = rng.random(n)
    home = np.where(
        u < 0.85,
        dcity,
        np.where(
            u < 0.95, geo.SAME_PROVINCE_OTHER[dcity], rng.choice(geo.N_CITIES, n, p=geo.CITY_WEIGHT)
        ),
    )
    fraud = rng.random(n) < np.where(new_channel, 0.10, 0.015)
    fraud &= ~is_ring
    # Ring recruits are mostly locals; a few are brought in with homes declared elsewhere.
    far = is_ring & (rng.random(n) < 0.3)
    home[is_ring] = dcity[is_ring]
    home[far] = rng.choice(geo.N_CITIES, far.sum(), p=geo.CITY_WEIGHT)
    work = np.where(rng.random(n) < 0.9, home, geo.SAME_PROVINCE_OTHER[home])
    misstated = (is_ring & (home != dcity)) | (
        ~is_ring & (rng.random(n) < np.where(fraud, 0.6, 0.03))
    )
    actual = np.where(misstated, np.where(is_ring, dcity, rng.choice(geo.N_CITIES, n)), home)
    actual = np.where(misstated & ~is_ring & (actual == home), (home + 7) % geo.N_CITIES, actual)
    home_lat, home_lon = geo.jitter(rng, geo.CITY_LAT[home], geo.CITY_LON[home], 7.0)
    work_lat, work_lon = geo.jitter(rng, geo.CITY_LAT[work], geo.CITY_LON[work], 6.0)
    act_lat, act_lon = geo.jitter(rng, geo.CITY_LAT[actual], geo.CITY_LON[actual], 7.0)
    act_lat = np.where(misstated, act_lat, home_lat)
    act_lon = np.where(misstated, act_lon, home_lon)

    z = rng.normal(0.0, 1.0, n) + 0.5 * new_channel
    eps = rng.normal(0.0, 1.0, n)

    age = np.clip(np.round(19 + rng.gamma(4.0, 4.0, n)), 20, 62).astype(np.int64)
    male = rng.random(n) < 0.68
    app_day = t_app // DAY
    birth_day = app_day - age * 365 - rng.integers(0, 365, n) - age // 4
    education = rng.choice(5, n, p=[0.12, 0.25, 0.28, 0.30, 0.05])
    employment = rng.choice(5, n, p=[0.58, 0.24, 0.06, 0.10, 0.02])
    employment[(age >= 55) & (rng.random(n) < 0.5)] = 4
    employment[(employment == 4) & (age < 50)] = 0
    marital = np.where(
        age < 26,
        rng.choice(4, n, p=[0.75, 0.24, 0.01, 0.0]),
        rng.choice(4, n, p=[0.18, 0.72, 0.08, 0.02]),
    )
    tier = vocab.BRAND_TIER[dealers.brand_a[dealer]]
    income = 10_000 * np.exp(
        0.18 * (education - 2)
        + 0.75 * (tier == 2)
        - 0.1 * (tier == 0)
        - 0.12 * z
        + rng.normal(0, 0.42, n)
        + np.log(np.where(employment == 1, 1.25, 1.0))
        + np.log(np.where(employment == 4, 0.6, 1.0))
        + 0.15 * (geo.CITY_WEIGHT[home] >= geo.CITY_WEIGHT.max() * 0.6)
    )
    income_cents = (np.clip(np.round(income / 100) * 100, 3_000, 150_000) * 100).astype(np.int64)

    # Registration: installed at a first visit or at the store, shortly before applying.
    lead = np.exp(rng.normal(np.log(2.5 * DAY), 1.4, n))
    lead = np.clip(lead, 12 * MINUTE, 90 * DAY)
    lead[is_ring] = rng.integers(20 * MINUTE, 3 * HOUR, is_ring.sum())
    registered_at = t_app - lead.astype(np.int64)

    u = rng.random(n)
    region_city = np.where(
        u < 0.7,
        home,
        np.where(
            u < 0.85, geo.SAME_PROVINCE_OTHER[home], rng.choice(geo.N_CITIES, n, p=geo.CITY_WEIGHT)
        ),
    )
    region = geo.CITY_REGION[region_city]
    mobile = vocab.mobiles(rng, n)
    dev = rng.integers(0, 2**62, n, dtype=np.int64)
    for r in range(n_rings):  # ring members share two or three handsets
        mem = np.flatnonzero(ring == r)
        shared = rng.integers(0, 2**62, 3, dtype=np.int64)
        dev[mem] = shared[rng.integers(0, 2 + (len(mem) > 6), len(mem))]
    device_id = text.concat("ANDROID-", pa.array(np.char.upper(_hex(dev))))

    ids = text.ids("CU", np.arange(1, n + 1), 8)
    return Customers(
        n=n,
        ids=ids,
        first_applied_at=t_app,
        dealer=dealer,
        consultant=consultant,
        new_channel=new_channel,
        home_city=home,
        work_city=work,
        actual_city=actual,
        home_lat=home_lat,
        home_lon=home_lon,
        work_lat=work_lat,
        work_lon=work_lon,
        actual_lat=act_lat,
        actual_lon=act_lon,
        z=z,
        eps=eps,
        u_outcome=rng.random(n),
        fraud=fraud,
        ring=ring,
        age=age,
        birth_day=birth_day,
        male=male,
        income_cents=income_cents,
        employment=employment,
        marital=marital,
        education=education,
        registered_at=registered_at,
        mobile=mobile,
        device_id=device_id,
        name=vocab.names(rng, male),
        id_number=identity.resident_ids(rng, region, birth_day, male),
        region_code=region,
    )


def _hex(values: np.ndarray) -> np.ndarray:
    """Lower-case hex of non-negative int64 values, vectorised via nibble lookup."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    v = values.astype(np.uint64)
    nib = np.stack([(v >> np.uint64(4 * (15 - i))) & np.uint64(15) for i in range(16)], 1)
    return digits[nib.astype(np.int64)].view("S16").ravel().astype(str)
