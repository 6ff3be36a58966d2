"""Encryption at rest: authenticated, row-bound, and never plaintext on disk."""

from __future__ import annotations

import pytest

from chedaitong.crypto import DataCipher, DecryptionError, mask_id_number, mask_phone

KEY = bytes(range(32))


def test_round_trip_and_ciphertext_does_not_contain_plaintext():
    cipher = DataCipher(KEY)
    secret = "【某某贷】您的借款已逾期3天，请尽快还款".encode()
    token = cipher.encrypt(secret, aad=b"raw_events:42")
    assert secret not in token
    assert cipher.decrypt(token, aad=b"raw_events:42") == secret
    assert cipher.encrypt(secret) != cipher.encrypt(secret)  # random nonce per value


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t, c: (t[:-1] + bytes([t[-1] ^ 1]), b"row:1", c),  # flipped bit
        lambda t, c: (t, b"row:2", c),  # moved to another row
        lambda t, c: (t, b"row:1", DataCipher(bytes(32))),  # another key
        lambda t, c: (b"\x02" + t[1:], b"row:1", c),  # unknown version
    ],
)
def test_tampered_or_misplaced_ciphertext_is_refused(tamper):
    cipher = DataCipher(KEY)
    token, aad, opener = tamper(cipher.encrypt(b"13800138000", aad=b"row:1"), cipher)
    with pytest.raises(DecryptionError):
        opener.decrypt(token, aad=aad)


def test_blind_index_is_keyed_and_stable():
    a, b = DataCipher(KEY), DataCipher(bytes(32))
    assert a.blind_index("110101199003071234") == a.blind_index("110101199003071234")
    assert a.blind_index("110101199003071234") != b.blind_index("110101199003071234")


def test_masks_show_only_what_staff_may_see():
    assert mask_id_number("11010119900307123X") == "110101********123X"
    assert mask_phone("13812345678") == "138****5678"
