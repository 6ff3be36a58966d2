"""Cities the world lives in, and distance helpers.

Each city carries its province, centre coordinates, an administrative region code (used for the
first six digits of resident ID numbers) and a weight for how many customers live there.
"""

from __future__ import annotations

import numpy as np

# name, province, lat, lon, region code of a central district, population weight
_CITIES: list[tuple[str, str, float, float, str, float]] = [
    ("北京市", "北京市", 39.904, 116.407, "110105", 6.0),
    ("上海市", "上海市", 31.230, 121.474, "310115", 6.0),
    ("天津市", "天津市", 39.084, 117.201, "120101", 3.0),
    ("重庆市", "重庆市", 29.563, 106.551, "500103", 5.0),
    ("广州市", "广东省", 23.129, 113.264, "440106", 5.0),
    ("深圳市", "广东省", 22.543, 114.058, "440304", 5.0),
    ("东莞市", "广东省", 23.021, 113.752, "441900", 3.0),
    ("佛山市", "广东省", 23.022, 113.122, "440604", 3.0),
    ("杭州市", "浙江省", 30.274, 120.155, "330106", 4.0),
    ("宁波市", "浙江省", 29.868, 121.544, "330203", 3.0),
    ("温州市", "浙江省", 27.994, 120.699, "330302", 2.0),
    ("南京市", "江苏省", 32.060, 118.797, "320102", 4.0),
    ("苏州市", "江苏省", 31.299, 120.585, "320508", 4.0),
    ("无锡市", "江苏省", 31.491, 120.312, "320213", 3.0),
    ("成都市", "四川省", 30.573, 104.066, "510104", 5.0),
    ("绵阳市", "四川省", 31.467, 104.679, "510703", 1.0),
    ("武汉市", "湖北省", 30.593, 114.305, "420102", 4.0),
    ("宜昌市", "湖北省", 30.692, 111.286, "420502", 1.0),
    ("长沙市", "湖南省", 28.228, 112.939, "430102", 3.0),
    ("西安市", "陕西省", 34.341, 108.940, "610103", 3.0),
    ("郑州市", "河南省", 34.747, 113.625, "410102", 4.0),
    ("洛阳市", "河南省", 34.620, 112.454, "410302", 1.0),
    ("济南市", "山东省", 36.651, 117.120, "370102", 3.0),
    ("青岛市", "山东省", 36.067, 120.383, "370202", 3.0),
    ("石家庄市", "河北省", 38.042, 114.515, "130102", 2.0),
    ("太原市", "山西省", 37.871, 112.549, "140105", 2.0),
    ("沈阳市", "辽宁省", 41.806, 123.432, "210102", 2.0),
    ("大连市", "辽宁省", 38.914, 121.615, "210202", 2.0),
    ("长春市", "吉林省", 43.817, 125.324, "220102", 1.0),
    ("哈尔滨市", "黑龙江省", 45.803, 126.535, "230102", 2.0),
    ("合肥市", "安徽省", 31.821, 117.227, "340102", 3.0),
    ("南昌市", "江西省", 28.682, 115.858, "360102", 2.0),
    ("福州市", "福建省", 26.075, 119.306, "350102", 2.0),
    ("厦门市", "福建省", 24.480, 118.089, "350203", 2.0),
    ("昆明市", "云南省", 24.880, 102.833, "530102", 2.0),
    ("贵阳市", "贵州省", 26.647, 106.630, "520102", 2.0),
    ("南宁市", "广西壮族自治区", 22.817, 108.366, "450102", 2.0),
    ("海口市", "海南省", 20.044, 110.199, "460105", 1.0),
    ("兰州市", "甘肃省", 36.061, 103.834, "620102", 1.0),
    ("呼和浩特市", "内蒙古自治区", 40.842, 111.749, "150102", 1.0),
    ("银川市", "宁夏回族自治区", 38.487, 106.231, "640104", 1.0),
    ("西宁市", "青海省", 36.617, 101.778, "630102", 1.0),
    ("乌鲁木齐市", "新疆维吾尔自治区", 43.825, 87.617, "650102", 1.0),
]

CITY_NAME = np.array([c[0] for c in _CITIES])
CITY_PROVINCE = np.array([c[1] for c in _CITIES])
CITY_LAT = np.array([c[2] for c in _CITIES])
CITY_LON = np.array([c[3] for c in _CITIES])
CITY_REGION = np.array([c[4] for c in _CITIES])
CITY_WEIGHT = np.array([c[5] for c in _CITIES]) / sum(c[5] for c in _CITIES)
N_CITIES = len(_CITIES)
PROVINCES, CITY_PROVINCE_IDX = np.unique(CITY_PROVINCE, return_inverse=True)

#: For each city, an alternative city in the same province (itself when it is alone there).
SAME_PROVINCE_OTHER = np.array(
    [
        next((j for j in range(N_CITIES) if j != i and CITY_PROVINCE[j] == CITY_PROVINCE[i]), i)
        for i in range(N_CITIES)
    ]
)

KM_PER_DEG_LAT = 111.0


def jitter(
    rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray, km: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian scatter of `km` standard deviation around each point (rounded to 6 dp, ~0.1 m)."""
    n = len(lat)
    dlat = rng.normal(0.0, 1.0, n) * km / KM_PER_DEG_LAT
    dlon = rng.normal(0.0, 1.0, n) * km / (KM_PER_DEG_LAT * np.cos(np.radians(lat)))
    return np.round(lat + dlat, 6), np.round(lon + dlon, 6)


def haversine_km(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """Great-circle distance in km (the metric data/README.md tells feature code to use)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
