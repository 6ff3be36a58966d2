"""ID-card photos without Flask: sealed on disk, and the vendor's verdict is the evidence the
decision reads (`id_card_verified` in the customer's feature vector)."""

from __future__ import annotations

from decisioning.origination import idcard
from decisioning.origination.files import StoredFile

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 48
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 48


def _photo(content: bytes, kind: str) -> StoredFile:
    return StoredFile.of(content, kind, "card")


def test_photos_are_sealed_and_the_verdict_is_decision_evidence(people, services):
    s, store = people.session, services.store
    v = idcard.upload_and_verify(session=s, services=services, customer=people.customer,
                                 front=_photo(JPEG + b"TAMPERED", "image/jpeg"),
                                 back=_photo(PNG, "image/png"))
    assert not v.passed and "PHOTO_TAMPERED" in v.detail
    evidence = store.materialise_customer(s, people.customer.id)
    assert evidence["id_card_verified"] is False
    on_disk = b"".join(p.read_bytes() for p in services.upload_dir.path.rglob("*") if p.is_file())
    assert JPEG + b"TAMPERED" not in on_disk and PNG not in on_disk
    images = idcard.latest_images(s, people.customer)
    assert idcard.read_image(upload_dir=services.upload_dir,
                             image=images["front"]) == JPEG + b"TAMPERED"

    v = idcard.upload_and_verify(session=s, services=services, customer=people.customer,
                                 front=_photo(JPEG + b"ok", "image/jpeg"),
                                 back=_photo(PNG + b"ok", "image/png"))
    assert v.passed
    assert store.materialise_customer(s, people.customer.id)["id_card_verified"] is True
