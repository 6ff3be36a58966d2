"""Uploaded files kept outside the database under their SHA-256 (content-addressed, so a
re-upload is free and a document's hash is its name), encrypted at rest with the data key.

A signed contract, an ID photo or an invoice is personal data: a copy of the folder must not
be readable without the key, so each file is sealed (AES-GCM, bound to its hash) and written
0600 in 0700 folders. What may be uploaded is checked at the edge (`webapp.uploads`); this
module only stores bytes that passed.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from chedaitong.errors import Invalid
from decisioning.container import UploadDir


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    content_type: str
    filename: str
    content: bytes

    @classmethod
    def of(cls, content: bytes, content_type: str, filename: str) -> StoredFile:
        return cls(hashlib.sha256(content).hexdigest(), len(content), content_type, filename,
                   content)


def save(upload_dir: UploadDir, stored: StoredFile) -> Path:
    """Seal and write the bytes under ``<dir>/<aa>/<sha256>`` atomically; an existing copy is
    kept."""
    target = upload_dir.target(stored.sha256)
    if target.exists():
        return target
    for folder in (upload_dir.path, target.parent):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    sealed = upload_dir.cipher.encrypt(stored.content, aad=stored.sha256.encode())
    tmp = target.with_suffix(f".{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(sealed)
    os.replace(tmp, target)
    return target


def check_pdf(stored: StoredFile, field: str = "file") -> int:
    """The number of pages of a PDF that a PDF library can actually parse (Invalid naming
    ``field`` otherwise): a magic prefix like ``%PDF-`` alone proves nothing."""
    from pypdf import PdfReader  # imported when a PDF arrives, not at start-up
    from pypdf.errors import PyPdfError

    if stored.content_type != "application/pdf":
        raise Invalid(field, "must be a PDF document")
    try:
        pages = len(PdfReader(io.BytesIO(stored.content), strict=True).pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Invalid(field, f"not a readable PDF ({type(exc).__name__})") from None
    if pages < 1:
        raise Invalid(field, "the PDF has no pages")
    return pages
def load(upload_dir: UploadDir, sha256: str) -> bytes:
    """The clear bytes of a stored file (`chedaitong.crypto.DecryptionError` if tampered)."""
    return upload_dir.cipher.decrypt(upload_dir.target(sha256).read_bytes(),
                                     aad=sha256.encode())
