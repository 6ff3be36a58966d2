"""Encryption at rest for raw device data and personal identifiers.

AES-256-GCM (authenticated: a flipped bit or a ciphertext moved to another row fails to
decrypt) with a random 96-bit nonce per value. The associated data binds each ciphertext to its
row and column, so copying a payload between customers is detected. A keyed blind index
(HMAC-SHA256) lets the platform find a customer by ID number or phone, and de-duplicate uploads,
without storing or hashing the plaintext with a guessable unkeyed hash.

Both sub-keys are derived from the one configured data key (HKDF), so rotating
`CHEDAITONG_DATA_KEY` rotates both.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"  # leading byte of every token, so a future scheme can coexist
NONCE_BYTES = 12


class DecryptionError(ValueError):
    """A token is corrupt, was produced under another key, or belongs to another row."""


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key)


class DataCipher:
    """Seal and open small values (JSON payloads, identifiers) with the platform data key."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the data key must be 32 bytes")
        self._aead = AESGCM(_derive(key, b"chedaitong/aead/v1"))
        self._index_key = _derive(key, b"chedaitong/blind-index/v1")

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, token: bytes, aad: bytes = b"") -> bytes:
        if not token or token[:1] != VERSION:
            raise DecryptionError("unknown ciphertext version")
        nonce, body = token[1 : 1 + NONCE_BYTES], token[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, aad)
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None

    def blind_index(self, value: str) -> str:
        """A stable keyed digest (hex) of ``value`` for equality look-ups and de-duplication."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


def mask_id_number(id_number: str) -> str:
    """Show the region code and the last four characters only: 110101********1234."""
    if len(id_number) < 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_phone(phone: str) -> str:
    """138****5678."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_account(number: str) -> str:
    """Bank card numbers: last four digits only."""
    return "*" * max(len(number) - 4, 0) + number[-4:]
