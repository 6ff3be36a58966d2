from __future__ import annotations

import pytest

from vendors import mask, scrub
from vendors.interfaces import BureauQuery, FourElementRequest

ID = "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (ID, "auto", "110105********002X"),
        ("13812345678", "auto", "138****5678"),
        ("+8613812345678", "auto", "138****5678"),
        ("6222020200112233445", "auto", "***************3445"),
        ("张三丰", "auto", "张**"),
        ("13812345678", "phone", "138****5678"),
        (None, "auto", "-"),
    ],
)
def test_mask_shapes(value, kind, expected):
    assert mask(value, kind) == expected


def test_scrub_masks_identifiers_inside_text():
    text = f"bad id {ID}, card 6222020200112233445 and phone 13812345678; contract CT0000000012"
    out = scrub(text)
    assert ID not in out and "6222020200112233445" not in out and "13812345678" not in out
    assert "110105********002X" in out and "138****5678" in out
    assert "CT0000000012" in out  # short reference numbers are left alone


def test_requests_do_not_print_identifiers():
    req = FourElementRequest("张三", ID, "6222020200112233445", "13812345678")
    query = BureauQuery("张三", ID, phone="13812345678", authorization_ref="AUTH-1")
    for text in (repr(req), repr(query), str(req)):
        assert ID not in text and "13812345678" not in text and "张三" not in text
    assert "AUTH-1" in repr(query)
