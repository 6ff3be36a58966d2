"""Partner dealerships (4S stores, dealer groups and the later "sub-dealer" channel) and their
sales consultants.

The sub-dealer channel opens in the last eight months of the world; its applicants carry more
individual fraud and the fraud rings, which is the drift a champion model should notice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chedaitong_sim.worldgen import geo, text, vocab
from chedaitong_sim.worldgen.rng import stream
from chedaitong_sim.worldgen.timeutil import DAY, NEW_CHANNEL_OPEN, WORLD_START, sec, ts_array

CHANNELS = ["4s_store", "dealer_group", "sub_dealer"]
NEW_CHANNEL = 2
_WORDS = list("宏达瑞丰恒通万顺华诚鑫源骏驰盛世远航嘉禾安泰新锐")


@dataclass
class Dealers:
    """Dealer and consultant arrays; index = position, ids are strings derived from it."""

    city: np.ndarray
    channel: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    brand_a: np.ndarray  # main brand
    brand_b: np.ndarray  # second brand or -1
    opened_at: np.ndarray
    weight: np.ndarray
    consultant_dealer: np.ndarray
    consultant_start: np.ndarray  # first consultant index of each dealer
    consultant_count: np.ndarray
    table: pa.Table
    consultants: pa.Table

    @property
    def ids(self) -> pa.Array:
        return self.table.column("dealer_id").combine_chunks()

    @property
    def consultant_ids(self) -> pa.Array:
        return self.consultants.column("consultant_id").combine_chunks()


def make_dealers(seed: int, n_customers: int) -> Dealers:
    """Dealer network sized to the customer base (about one dealer per 250 customers)."""
    rng = stream(seed, "dealers")
    n = max(24, n_customers // 250)
    city = rng.choice(geo.N_CITIES, n, p=geo.CITY_WEIGHT)
    channel = rng.choice(3, n, p=[0.62, 0.20, 0.18])
    channel[-max(3, n // 6) :] = NEW_CHANNEL  # make sure the new channel exists
    channel[: n // 2][channel[: n // 2] == NEW_CHANNEL] = 0
    lat, lon = geo.jitter(rng, geo.CITY_LAT[city], geo.CITY_LON[city], 8.0)
    # Sub-dealers sell mainstream brands; luxury brands are sold by 4S stores and groups.
    mass = np.flatnonzero(vocab.BRAND_TIER < 2)
    brand_a = np.where(
        channel == NEW_CHANNEL, rng.choice(mass, n), rng.integers(0, len(vocab.BRANDS), n)
    )
    brand_b = np.where(channel >= 1, rng.choice(mass, n), -1)
    brand_b[brand_b == brand_a] = -1
    old_open = sec(WORLD_START) - rng.integers(30, 5 * 365, n) * DAY
    new_open = sec(NEW_CHANNEL_OPEN) + rng.integers(0, 60, n) * DAY
    opened_at = np.where(channel == NEW_CHANNEL, new_open, old_open) + 9 * 3600
    weight = rng.lognormal(0.0, 0.5, n)

    word = text.pick(_WORDS, rng.integers(0, len(_WORDS), n))
    word2 = text.pick(_WORDS, rng.integers(0, len(_WORDS), n))
    city_short = pc.utf8_slice_codeunits(text.pick(geo.CITY_NAME, city), 0, -1)
    brand_str = text.pick(vocab.BRANDS, brand_a)
    name = pc.case_when(
        pc.make_struct(pa.array(channel == 0), pa.array(channel == 1)),
        text.concat(city_short, word, word2, brand_str, "4S店"),
        text.concat(city_short, word, word2, "汽车集团", brand_str, "店"),
        text.concat(city_short, word, word2, "汽车销售服务有限公司"),
    )
    brands = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(1 + (brand_b >= 0))]).astype(np.int32)),
        text.pick(
            vocab.BRANDS,
            np.stack([brand_a, brand_b], 1).ravel()[
                np.stack([np.ones(n, bool), brand_b >= 0], 1).ravel()
            ],
        ),
    )
    table = pa.table(
        {
            "dealer_id": text.ids("DL", np.arange(1, n + 1), 5),
            "name": name,
            "city": text.pick(geo.CITY_NAME, city),
            "province": text.pick(geo.CITY_PROVINCE, city),
            "lat": lat,
            "lon": lon,
            "brands": brands,
            "channel": text.pick(CHANNELS, channel),
            "opened_at": ts_array(opened_at),
        }
    )

    count = rng.integers(3, 9, n)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    c_dealer = np.repeat(np.arange(n), count)
    m = len(c_dealer)
    male = rng.random(m) < 0.55
    consultants = pa.table(
        {
            "consultant_id": text.ids("SC", np.arange(1, m + 1), 6),
            "dealer_id": table.column("dealer_id").combine_chunks().take(pa.array(c_dealer)),
            "name": vocab.names(rng, male),
            "phone": text.ints(vocab.mobiles(rng, m)),
        }
    )
    return Dealers(
        city,
        channel,
        lat,
        lon,
        brand_a,
        brand_b,
        opened_at,
        weight,
        c_dealer,
        start,
        count,
        table,
        consultants,
    )
