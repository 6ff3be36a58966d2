"""Vocabularies: names, phone prefixes, vehicles, banks, lenders and senders.

Lending-platform and collection-agency names are fictional on purpose; the lists are part of
the data contract (data/README.md repeats them) because feature code needs them to count the
"distinct lending platforms mentioned" in SMS.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chedaitong_sim.worldgen import text

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
)
# Rough frequency: the first names in the list are far more common.
SURNAME_WEIGHTS = 1.0 / (np.arange(len(SURNAMES)) + 4.0)
SURNAME_WEIGHTS /= SURNAME_WEIGHTS.sum()
GIVEN_MALE = list(
    "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳建国志文亮成东海峰晨博"
)
GIVEN_FEMALE = list("芳娜敏静丽艳娟霞燕玲桂丹萍红玉兰英梅婷雪慧颖琳倩洁璐欣悦晴怡佳雯月莉蕾薇")

MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        134,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        152,
        153,
        155,
        156,
        157,
        158,
        159,
        166,
        170,
        176,
        177,
        178,
        180,
        181,
        182,
        183,
        185,
        186,
        187,
        188,
        189,
        191,
        198,
        199,
    ]
)

# brand, tier (0 economy, 1 mid, 2 luxury), [(model, min price, max price in CNY)]
VEHICLES: list[tuple[str, int, list[tuple[str, int, int]]]] = [
    (
        "大众",
        1,
        [("朗逸", 100_000, 150_000), ("帕萨特", 180_000, 260_000), ("途观L", 220_000, 300_000)],
    ),
    (
        "丰田",
        1,
        [
            ("卡罗拉", 110_000, 160_000),
            ("凯美瑞", 180_000, 270_000),
            ("RAV4荣放", 170_000, 260_000),
        ],
    ),
    (
        "本田",
        1,
        [("思域", 130_000, 180_000), ("雅阁", 170_000, 260_000), ("CR-V", 180_000, 270_000)],
    ),
    ("日产", 0, [("轩逸", 90_000, 150_000), ("天籁", 180_000, 260_000)]),
    ("别克", 1, [("英朗", 90_000, 130_000), ("君越", 210_000, 300_000)]),
    (
        "比亚迪",
        0,
        [("秦PLUS", 80_000, 150_000), ("宋PLUS", 150_000, 200_000), ("汉", 200_000, 300_000)],
    ),
    ("吉利", 0, [("帝豪", 80_000, 110_000), ("星越L", 140_000, 190_000)]),
    ("长安", 0, [("CS75 PLUS", 110_000, 160_000), ("UNI-V", 110_000, 150_000)]),
    ("哈弗", 0, [("H6", 100_000, 150_000), ("大狗", 120_000, 170_000)]),
    ("奥迪", 2, [("A4L", 300_000, 400_000), ("Q5L", 390_000, 490_000), ("A6L", 420_000, 500_000)]),
    ("宝马", 2, [("3系", 300_000, 400_000), ("X3", 390_000, 490_000)]),
    ("奔驰", 2, [("C级", 320_000, 450_000), ("GLC", 420_000, 500_000)]),
]
BRANDS = [v[0] for v in VEHICLES]
BRAND_TIER = np.array([v[1] for v in VEHICLES])
MODEL_BRAND = np.array([b for b, v in enumerate(VEHICLES) for _ in v[2]])
MODEL_NAME = [m[0] for v in VEHICLES for m in v[2]]
MODEL_MIN = np.array([m[1] for v in VEHICLES for m in v[2]])
MODEL_MAX = np.array([m[2] for v in VEHICLES for m in v[2]])

BANKS = [
    "工商银行",
    "建设银行",
    "农业银行",
    "中国银行",
    "交通银行",
    "招商银行",
    "浦发银行",
    "中信银行",
    "兴业银行",
    "民生银行",
    "光大银行",
    "平安银行",
    "广发银行",
    "华夏银行",
]
BANK_HOTLINES = [
    "95588",
    "95533",
    "95599",
    "95566",
    "95559",
    "95555",
    "95528",
    "95558",
    "95561",
    "95568",
    "95595",
    "95511",
    "95508",
    "95577",
]

#: Fictional online lending platforms (appear in SMS and as bureau institutions).
LENDING_PLATFORMS = [
    "融易花",
    "速通贷",
    "青禾分期",
    "橙意借",
    "米粒钱包",
    "蓝鲸借款",
    "星火分期",
    "云朵贷",
    "如意花",
    "麦穗金融",
    "银杏借款",
    "北斗分期",
    "海豚钱包",
    "竹叶借",
    "鹿鸣消费金融",
    "锦程小贷",
]
#: Fictional debt collection agencies (sign SMS "on behalf of" a platform).
COLLECTION_AGENCIES = ["恒信资产管理", "正和商务咨询", "安融信息服务", "佳诚法务服务"]
#: The platform itself, as it appears in SMS signatures and bureau records.
OUR_NAME = "车贷通"
OUR_LENDER = "车贷通融资租赁有限公司"

SERVICE_APPS = ["优选商城", "出行助手", "外卖速达", "云盘", "视频会员", "社区团购", "网约车"]
COURIERS = ["顺达快递", "中通达", "韵捷快运", "邮政包裹", "京迅物流"]
SHOPS = ["优选商城", "悦享生活馆", "品质超市", "潮流服饰", "家电城", "美妆优品"]
PICKUP_PLACES = ["小区丰巢柜", "菜鸟驿站", "物业前台", "公司前台", "快递超市"]

EMPLOYMENT = ["salaried", "self_employed", "civil_servant", "freelancer", "retired"]
MARITAL = ["single", "married", "divorced", "widowed"]
EDUCATION = ["junior_high_or_below", "high_school", "college", "bachelor", "master_or_above"]


def phone_text(number: np.ndarray, landline: np.ndarray | None = None) -> pa.Array:
    """Phone numbers as text; landlines (area code without its leading 0) get the 0 back."""
    digits = text.ints(number)
    if landline is None:
        return digits
    return pc.if_else(pa.array(landline), text.concat("0", digits), digits)


def mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random 11-digit mainland mobile numbers as int64."""
    prefix = MOBILE_PREFIXES[rng.integers(0, len(MOBILE_PREFIXES), n)].astype(np.int64)
    return prefix * 100_000_000 + rng.integers(0, 100_000_000, n)


def names(rng: np.random.Generator, male: np.ndarray) -> pa.Array:
    """Chinese full names (surname + one or two given characters) matching the gender."""
    n = len(male)
    sur = text.pick(SURNAMES, rng.choice(len(SURNAMES), n, p=SURNAME_WEIGHTS))
    g_m = rng.integers(0, len(GIVEN_MALE), (2, n))
    g_f = rng.integers(0, len(GIVEN_FEMALE), (2, n))
    given = [
        pc.if_else(pa.array(male), text.pick(GIVEN_MALE, g_m[i]), text.pick(GIVEN_FEMALE, g_f[i]))
        for i in range(2)
    ]
    two = pa.array(rng.random(n) < 0.7)
    return pc.if_else(two, text.concat(sur, given[0], given[1]), text.concat(sur, given[0]))
