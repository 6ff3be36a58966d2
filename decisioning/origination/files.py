"""Uploaded files kept outside the database under their SHA-256 (content-addressed, so a
re-upload is free and a document's hash is its name). What may be uploaded is checked at the
edge (`webapp.uploads`); this module only stores bytes that passed."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from chedaitong.errors import Invalid


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


def save(upload_dir: Path, stored: StoredFile) -> Path:
    """Write the bytes under ``<dir>/<aa>/<sha256>`` atomically; an existing copy is kept."""
    target = upload_dir / stored.sha256[:2] / stored.sha256
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(stored.content)
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
