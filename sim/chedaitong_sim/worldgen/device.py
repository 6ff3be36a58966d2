"""Raw signals the user app uploads: app-start GPS pings, SMS, photo-album GPS and contacts.

Every row is an event with `event_time` (when it happened on the phone) and `uploaded_at` (when
the platform received it). History that predates the install (old SMS, photos, contacts) is
uploaded in one batch when the permission is granted at registration; later events are uploaded
within seconds while the app is installed. Point-in-time features must filter on `uploaded_at`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chedaitong_sim.worldgen import geo, text, vocab
from chedaitong_sim.worldgen.customers import Customers
from chedaitong_sim.worldgen.dealers import Dealers
from chedaitong_sim.worldgen.events import concat, expand
from chedaitong_sim.worldgen.timeutil import DAY, MINUTE, ts_array

# ---------------------------------------------------------------- SMS
SMS_TEMPLATES: list[str] = [
    "【{app}】验证码{code}，您正在登录{app}，5分钟内有效，请勿泄露。",
    "【{app}】您的验证码是{code}，用于身份验证，请勿告诉他人。",
    "【{bank}】您尾号{last4}的储蓄卡{md}收入人民币{amt}元，活期余额{bal}元。",
    "【{bank}】您尾号{last4}的储蓄卡{md}支出人民币{amt}元，活期余额{bal}元。",
    "【{bank}】您尾号{last4}的信用卡本期账单{amt}元，最低还款{amt2}元，到期还款日{md}。",
    "【{courier}】您的包裹已到{place}，取件码{code}，请及时领取。",
    "【{shop}】会员日全场满{x}减{y}，限时3天，详情 t.cn/{url} 回T退订",
    "【{platform}】您有一笔最高{amt}元的借款额度待领取，最快3分钟到账，回T退订",
    "【{platform}】您本期账单{amt}元将于{md}到期，请保证还款账户余额充足。",
    "【{bank}】您尾号{last4}的信用卡已逾期，欠款{amt}元，请尽快还款，以免影响您的个人征信记录。",
    "【{platform}】您的借款已逾期{days}天，应还金额{amt}元，请立即还款，逾期信息将上报征信。",
    "【{platform}】您在{platform}的欠款{amt}元已严重逾期，案件已移交催收部门，请于今日内联系{phone}处理。",
    "【{agency}】受{platform}委托，您的欠款{amt}元已逾期{days}天，请于24小时内联系{phone}协商还款，否则将依法催收。",
    "【车贷通】您的车贷第{k}期应还{amt}元，还款日{md}，请按时还款。",
    "【车贷通】您的车贷已逾期{days}天，欠款{amt}元，请立即还款，逾期将影响个人征信。",
]
(
    VERIFY,
    VERIFY2,
    BANK_IN,
    BANK_OUT,
    CARD_BILL,
    DELIVERY,
    PROMO,
    LOAN_MKT,
    LOAN_REMIND,
    CARD_OVERDUE,
    LOAN_OVERDUE,
    COLLECT_PLATFORM,
    COLLECT_AGENCY,
    OUR_REMIND,
    OUR_OVERDUE,
) = range(15)
OVERDUE_KINDS = np.array(
    [CARD_OVERDUE, LOAN_OVERDUE, COLLECT_PLATFORM, COLLECT_AGENCY, OUR_OVERDUE]
)
COLLECTION_KINDS = np.array([COLLECT_PLATFORM, COLLECT_AGENCY])
PLATFORM_KINDS = np.array([LOAN_MKT, LOAN_REMIND, LOAN_OVERDUE, COLLECT_PLATFORM, COLLECT_AGENCY])
N_PLATFORM_SET = 4


def _sms_rows(rng, cust, kinds, t, c: Customers, z_obs, platform_set, n_plat) -> dict:
    n = len(cust)
    pick = rng.integers(0, 10**6, n) % n_plat[cust]
    plat = platform_set[cust, pick]
    size = np.exp(rng.normal(0, 0.9, n))
    amt = np.round(
        np.where(
            np.isin(kinds, [BANK_IN, BANK_OUT]),
            300 * size,
            np.where(kinds == LOAN_MKT, 20_000 * size, 2_500 * size),
        )
        * 100
    )
    return {
        "cust": cust,
        "event_time": t,
        "kind": kinds,
        "platform": plat,
        "amount": np.maximum(amt, 1_000).astype(np.int64),
        "days": (1 + rng.gamma(1.5, 12 + 6 * np.maximum(z_obs[cust], 0), n)).astype(np.int64),
        "k": np.zeros(n, np.int64),
    }


def _upload_times(rng, t: np.ndarray, registered: np.ndarray) -> np.ndarray:
    """Batch upload at registration for history, live upload (seconds) afterwards."""
    n = len(t)
    batch = registered + rng.integers(20, 90, n)
    live = t + rng.integers(2, 120, n)
    return np.where(t < registered, batch, live)


def _n(rng, lam: np.ndarray) -> np.ndarray:
    return rng.poisson(lam)


def pre_application(rng: np.random.Generator, c: Customers, d: Dealers) -> dict[str, dict]:
    """All device events from the phone's history up to the first application."""
    n = c.n
    ring = c.ring >= 0
    z_obs = np.where(ring, c.z - 1.2, c.z)  # rings coach recruits with clean histories
    f = c.fraud.astype(float)
    applied, registered = c.first_applied_at, c.registered_at

    platform_set = rng.integers(0, len(vocab.LENDING_PLATFORMS), (n, N_PLATFORM_SET))
    n_plat = np.clip(1 + rng.poisson(np.exp(-0.3 + 0.5 * z_obs)), 1, N_PLATFORM_SET)

    # --- SMS: benign traffic over 180 days, lending-related over a year, riskier = more recent
    benign = [
        (VERIFY, 1.8),
        (VERIFY2, 1.2),
        (BANK_IN, 1.0),
        (BANK_OUT, 1.2),
        (CARD_BILL, 0.8),
        (DELIVERY, 1.5),
        (PROMO, 1.5),
    ]
    risky = [
        (LOAN_MKT, np.exp(-0.2 + 0.5 * z_obs)),
        (LOAN_REMIND, np.exp(-0.9 + 0.7 * z_obs + 0.3 * f)),
        (CARD_OVERDUE, np.exp(-2.7 + 1.0 * z_obs)),
        (LOAN_OVERDUE, np.exp(-2.5 + 1.1 * z_obs + 0.6 * f)),
        (COLLECT_PLATFORM, np.exp(-3.3 + 1.3 * z_obs + 0.8 * f)),
        (COLLECT_AGENCY, np.exp(-3.7 + 1.3 * z_obs + 0.8 * f)),
    ]
    parts = []
    for kind, lam in benign:
        cnt = _n(rng, np.full(n, lam))
        cu = expand(cnt)
        t = applied[cu] - (rng.random(len(cu)) * 180 * DAY).astype(np.int64) - 60
        parts.append(_sms_rows(rng, cu, np.full(len(cu), kind), t, c, z_obs, platform_set, n_plat))
    recency = np.exp(0.35 * z_obs)
    for kind, lam in risky:
        cnt = _n(rng, lam)
        cu = expand(cnt)
        back = (rng.random(len(cu)) ** recency[cu]) * 365 * DAY
        t = applied[cu] - back.astype(np.int64) - 60
        parts.append(_sms_rows(rng, cu, np.full(len(cu), kind), t, c, z_obs, platform_set, n_plat))
    sms = concat(parts)
    sms["uploaded_at"] = _upload_times(rng, sms["event_time"], registered[sms["cust"]])

    # --- GPS pings at app start between registration and the application, plus the store visit
    lead_days = (applied - registered) / DAY
    cnt = 1 + _n(rng, np.minimum(1.5 * lead_days, 25) + 2)
    cu = expand(cnt)
    span = np.maximum(applied[cu] - registered[cu] - 30 * MINUTE, 60)
    t = registered[cu] + (rng.random(len(cu)) * span).astype(np.int64)
    cls = rng.choice(4, len(cu), p=[0.6, 0.25, 0.05, 0.10])  # home, work, travel, dealer
    store = np.arange(n)
    t_store = applied - rng.integers(2 * MINUTE, 30 * MINUTE, n)
    gps = _gps_points(
        rng,
        c,
        d,
        np.concatenate([cu, store]),
        np.concatenate([t, t_store]),
        np.concatenate([cls, np.full(n, 3)]),
    )

    # --- Photo album GPS (EXIF), taken over two years, uploaded when the album is scanned
    cnt = np.where(rng.random(n) < 0.8, _n(rng, np.full(n, 9.0)), 0)
    cu = expand(cnt)
    t = registered[cu] - (rng.random(len(cu)) * 730 * DAY).astype(np.int64)
    cls = rng.choice(3, len(cu), p=[0.65, 0.10, 0.25])
    photos = _gps_points(rng, c, d, cu, t, cls, spread_km=4.0)
    photos["uploaded_at"] = registered[cu] + rng.integers(60, 300, len(cu))

    contacts = _contacts(rng, c, z_obs, f)
    return {
        "gps": gps,
        "sms": sms,
        "photos": photos,
        "contacts": contacts,
        "platform_set": platform_set,
        "n_plat": n_plat,
        "z_obs": z_obs,
    }


def _gps_points(rng, c: Customers, d: Dealers, cu, t, cls, spread_km: float = 2.0) -> dict:
    """Points around where the person really is (home/work), travel cities or the dealer."""
    m = len(cu)
    misstated = c.actual_city != c.home_city
    home_city = c.actual_city[cu]
    work_city = np.where(misstated[cu], c.actual_city[cu], c.work_city[cu])
    travel = rng.choice(geo.N_CITIES, m, p=geo.CITY_WEIGHT)
    dealer_city = d.city[c.dealer[cu]]
    city = np.choose(np.minimum(cls, 3), [home_city, work_city, travel, dealer_city])
    lat = np.choose(
        np.minimum(cls, 3),
        [
            c.actual_lat[cu],
            np.where(misstated[cu], c.actual_lat[cu], c.work_lat[cu]),
            geo.CITY_LAT[travel],
            d.lat[c.dealer[cu]],
        ],
    )
    lon = np.choose(
        np.minimum(cls, 3),
        [
            c.actual_lon[cu],
            np.where(misstated[cu], c.actual_lon[cu], c.work_lon[cu]),
            geo.CITY_LON[travel],
            d.lon[c.dealer[cu]],
        ],
    )
    km = np.where(cls == 2, 8.0, np.where(cls == 3, 0.1, spread_km))
    lat, lon = geo.jitter(rng, lat, lon, km)
    up = t + rng.integers(1, 30, m)
    return {"cust": cu, "event_time": t, "uploaded_at": up, "lat": lat, "lon": lon, "city": city}


def _contacts(rng, c: Customers, z_obs: np.ndarray, f: np.ndarray) -> dict:
    """Address book at registration: ordinary numbers plus blacklisted borrowers' numbers and
    loan-company lines; ring members carry each other and their organisers."""
    n = c.n
    blacklist_pool = vocab.mobiles(rng, max(300, n // 20))
    # loan-company lines: 400 hotlines, Shenzhen/Shanghai landlines (stored without the 0), agents
    loan_pool = np.concatenate(
        [
            4_000_000_000 + rng.integers(1_000_000, 9_999_999, 60),
            75_500_000_000 + rng.integers(20_000_000, 89_999_999, 40),
            2_100_000_000 + rng.integers(50_000_000, 69_999_999, 40),
            vocab.mobiles(rng, 60),
        ]
    )
    loan_landline = np.r_[np.zeros(60, bool), np.ones(80, bool), np.zeros(60, bool)]
    n_plain = 6 + rng.negative_binomial(3, 3 / (3 + 12), n)
    n_black = rng.poisson(np.exp(-2.8 + 0.9 * z_obs + 1.3 * f))
    n_loan = rng.poisson(np.exp(-1.4 + 0.7 * z_obs + 0.5 * f))
    cu_p, cu_b, cu_l = expand(n_plain), expand(n_black), expand(n_loan)
    pick_l = rng.integers(0, len(loan_pool), len(cu_l))
    phones = [
        vocab.mobiles(rng, len(cu_p)),
        blacklist_pool[rng.integers(0, len(blacklist_pool), len(cu_b))],
        loan_pool[pick_l],
    ]
    landline = [np.zeros(len(cu_p), bool), np.zeros(len(cu_b), bool), loan_landline[pick_l]]
    cust = [cu_p, cu_b, cu_l]
    flag = [
        np.zeros(len(cu_p), np.int8),
        np.ones(len(cu_b), np.int8),
        np.full(len(cu_l), 2, np.int8),
    ]
    for r in np.unique(c.ring[c.ring >= 0]):
        mem = np.flatnonzero(c.ring == r)
        book = np.concatenate([c.mobile[mem], vocab.mobiles(rng, 3)])  # members + organisers
        cu = np.repeat(mem, len(book))
        ph = np.tile(book, len(mem))
        keep = ph != c.mobile[cu]
        cust.append(cu[keep])
        phones.append(ph[keep])
        landline.append(np.zeros(keep.sum(), bool))
        flag.append(np.zeros(keep.sum(), np.int8))
    cu = np.concatenate(cust)
    t_reg = c.registered_at[cu]
    return {
        "cust": cu,
        "event_time": t_reg - (rng.random(len(cu)) * 1500 * DAY).astype(np.int64) - DAY,
        "uploaded_at": t_reg + rng.integers(120, 600, len(cu)),
        "phone": np.concatenate(phones),
        "landline": np.concatenate(landline),
        "flag": np.concatenate(flag),
    }


# ---------------------------------------------------------------- features the PD depends on
def observed_features(
    ev: dict[str, dict], c: Customers, as_of: np.ndarray
) -> dict[str, np.ndarray]:
    """Device features as the platform could compute them at `as_of` (uploaded_at <= as_of);
    the generative PD model uses exactly these definitions (see data/README.md)."""
    n = c.n
    out: dict[str, np.ndarray] = {}
    s = ev["sms"]
    vis = s["uploaded_at"] <= as_of[s["cust"]]
    age = as_of[s["cust"]] - s["event_time"]
    overdue = np.isin(s["kind"], OVERDUE_KINDS) & vis
    collect = np.isin(s["kind"], COLLECTION_KINDS) & vis
    out["sms_overdue_90d"] = np.bincount(s["cust"], overdue & (age <= 90 * DAY), n)
    out["sms_collection_180d"] = np.bincount(s["cust"], collect & (age <= 180 * DAY), n)
    pl = np.isin(s["kind"], PLATFORM_KINDS) & vis & (age <= 180 * DAY)
    pairs = np.unique(s["cust"][pl] * 64 + s["platform"][pl])
    out["sms_platforms_180d"] = np.bincount(pairs // 64, minlength=n).astype(float)

    g = ev["gps"]
    vis = g["uploaded_at"] <= as_of[g["cust"]]
    declared = (g["city"] == c.home_city[g["cust"]]) | (g["city"] == c.work_city[g["cust"]])
    tot = np.bincount(g["cust"], vis, n)
    out["gps_share_declared_city"] = np.bincount(g["cust"], vis & declared, n) / np.maximum(tot, 1)

    p = ev["photos"]
    vis = p["uploaded_at"] <= as_of[p["cust"]]
    far = geo.haversine_km(p["lat"], p["lon"], c.home_lat[p["cust"]], c.home_lon[p["cust"]]) > 100
    tot = np.bincount(p["cust"], vis, n)
    out["photo_far_share"] = np.bincount(p["cust"], vis & far, n) / np.maximum(tot, 1)

    k = ev["contacts"]
    vis = k["uploaded_at"] <= as_of[k["cust"]]
    out["contacts_blacklist"] = np.bincount(k["cust"], vis & (k["flag"] == 1), n)
    out["contacts_loan_company"] = np.bincount(k["cust"], vis & (k["flag"] == 2), n)
    return out


# ---------------------------------------------------------------- tables
def _event_base(cols: dict, customer_ids: pa.Array) -> dict[str, pa.Array]:
    n = len(cols["cust"])
    return {
        "event_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "customer_id": customer_ids.take(pa.array(cols["cust"])),
        "event_time": ts_array(cols["event_time"]),
        "uploaded_at": ts_array(cols["uploaded_at"]),
    }


def gps_table(cols: dict, customer_ids: pa.Array) -> pa.Table:
    base = _event_base(cols, customer_ids)
    base.update(
        {
            "lat": pa.array(cols["lat"]),
            "lon": pa.array(cols["lon"]),
            "city": text.pick(geo.CITY_NAME, cols["city"]),
            "province": text.pick(geo.CITY_PROVINCE, cols["city"]),
        }
    )
    return pa.table(base)


def photos_table(cols: dict, customer_ids: pa.Array) -> pa.Table:
    base = _event_base(cols, customer_ids)
    base.update({"lat": pa.array(cols["lat"]), "lon": pa.array(cols["lon"])})
    return pa.table(base)


def contacts_table(cols: dict, customer_ids: pa.Array) -> pa.Table:
    base = _event_base(cols, customer_ids)
    flag = cols["flag"]
    base.update(
        {
            "phone": vocab.phone_text(cols["phone"], cols["landline"]),
            "flag": pc.if_else(
                pa.array(flag > 0),
                text.pick(["", "blacklist", "loan_company"], flag),
                pa.scalar(None, pa.string()),
            ),
        }
    )
    return pa.table(base)


def sms_table(rng: np.random.Generator, cols: dict, customer_ids: pa.Array) -> pa.Table:
    """Render bodies and senders for the (already sorted) SMS rows."""
    n = len(cols["cust"])
    kind = cols["kind"]
    bank = rng.integers(0, len(vocab.BANKS), n)
    amt = cols["amount"]
    t = cols["event_time"]
    day = (t // DAY).astype("datetime64[D]")

    def md(rows: np.ndarray, shift: np.ndarray | int = 0) -> pa.Array:
        dd = day[rows] + np.asarray(shift)
        mon = (dd.astype("datetime64[M]").astype(np.int64) % 12) + 1
        dom = (dd - dd.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
        return text.concat(text.ints(mon), "月", text.ints(dom), "日")

    def field(name: str, rows: np.ndarray) -> pa.Array:
        m = len(rows)
        if name == "app":
            return text.pick(vocab.SERVICE_APPS, rng.integers(0, len(vocab.SERVICE_APPS), m))
        if name == "code":
            return text.padded(rng.integers(0, 1_000_000, m), 6)
        if name == "bank":
            return text.pick(vocab.BANKS, bank[rows])
        if name == "last4":
            return text.padded(rng.integers(0, 10_000, m), 4)
        if name == "md":
            # bills fall due a week after the notice; our reminders go out 3 days before
            k = kind[rows]
            return md(
                rows, np.select([k == OUR_REMIND, np.isin(k, [CARD_BILL, LOAN_REMIND])], [3, 7], 0)
            )
        if name == "amt":
            return text.money(amt[rows])
        if name == "amt2":
            return text.money(amt[rows] // 10)
        if name == "bal":
            return text.money((amt[rows] * np.exp(rng.normal(1.5, 1.0, m))).astype(np.int64))
        if name == "courier":
            return text.pick(vocab.COURIERS, rng.integers(0, len(vocab.COURIERS), m))
        if name == "place":
            return text.pick(vocab.PICKUP_PLACES, rng.integers(0, len(vocab.PICKUP_PLACES), m))
        if name == "shop":
            return text.pick(vocab.SHOPS, rng.integers(0, len(vocab.SHOPS), m))
        if name == "x":
            return text.ints(rng.choice([99, 199, 299, 399], m))
        if name == "y":
            return text.ints(rng.choice([10, 20, 30, 50], m))
        if name == "url":
            return text.padded(rng.integers(0, 10**7, m), 7)
        if name == "platform":
            return text.pick(vocab.LENDING_PLATFORMS, cols["platform"][rows])
        if name == "phone":
            return text.concat("400", text.padded(rng.integers(0, 10**7, m), 7))
        if name == "agency":
            return text.pick(
                vocab.COLLECTION_AGENCIES, rng.integers(0, len(vocab.COLLECTION_AGENCIES), m)
            )
        if name == "days":
            return text.ints(cols["days"][rows])
        if name == "k":
            return text.ints(cols["k"][rows])  # installment number in our reminders
        raise KeyError(name)

    body = text.render_many(SMS_TEMPLATES, kind, field)
    platform_sender = 10690000_0000 + cols["platform"] * 7919 + 1000
    sender = np.select(
        [
            np.isin(kind, [BANK_IN, BANK_OUT, CARD_BILL, CARD_OVERDUE]),
            np.isin(kind, [OUR_REMIND, OUR_OVERDUE]),
            np.isin(kind, PLATFORM_KINDS),
        ],
        [
            np.array(vocab.BANK_HOTLINES)[bank].astype(np.int64),
            np.full(n, 1069_0888_0000),
            platform_sender,
        ],
        default=10690000_0000 + rng.integers(0, 10**4, n) * 13,
    )
    base = _event_base(cols, customer_ids)
    base.update({"sender": text.ints(sender), "body": body})
    return pa.table(base)
