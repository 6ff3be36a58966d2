"""Uploaded files: type-checked by their first bytes (not the client's claim), size-limited,
stored outside the database under their SHA-256 (content-addressed, so a re-upload is free).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import UnprocessableEntity

MAX_BYTES = 10 * 1024 * 1024
#: magic prefix → media type; the only kinds of file the apps send.
SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
}


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    content_type: str
    filename: str
    content: bytes


def _reject(field: str, reason: str) -> UnprocessableEntity:
    err = UnprocessableEntity(f"{field}: {reason}")
    err.data = {"messages": {"files": {field: [reason]}}}
    return err


def sniff(content: bytes) -> str | None:
    return next((t for magic, t in SIGNATURES.items() if content.startswith(magic)), None)


def read_upload(file: FileStorage | None, field: str = "file",
                allowed: tuple[str, ...] = tuple(SIGNATURES.values())) -> StoredFile:
    """Validate one multipart file (422 naming ``field`` when missing, empty, too big or of a
    type not in ``allowed``)."""
    if file is None:
        raise _reject(field, "a file is required (multipart/form-data)")
    content = file.stream.read(MAX_BYTES + 1)
    if not content:
        raise _reject(field, "the file is empty")
    if len(content) > MAX_BYTES:
        raise _reject(field, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    kind = sniff(content)
    if kind not in allowed:
        raise _reject(field, "unsupported file type; send " + ", ".join(allowed))
    name = Path(file.filename or "upload").name[:200] or "upload"
    return StoredFile(hashlib.sha256(content).hexdigest(), len(content), kind, name, content)


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
