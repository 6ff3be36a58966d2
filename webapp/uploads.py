"""Uploaded files at the edge: type-checked by their first bytes (not the client's claim) and
size-limited before anything is stored (`decisioning.origination.files` keeps them)."""

from __future__ import annotations

from pathlib import Path

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import UnprocessableEntity

from decisioning.origination.files import StoredFile

MAX_BYTES = 10 * 1024 * 1024
#: magic prefix → media type; the only kinds of file the apps send.
SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
}
IMAGES = ("image/jpeg", "image/png")


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
    # the name is the client's: keep printable characters only (a NUL cannot be stored)
    clean = "".join(ch for ch in (file.filename or "") if ch.isprintable())
    name = Path(clean or "upload").name[:200] or "upload"
    return StoredFile.of(content, kind, name)
