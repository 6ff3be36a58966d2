"""ID-card photos (front and back) taken in the user app: kept encrypted, checked by the ID
vendor with the name and number, and recorded as the customer's ID-card check — the
`id_card_verified` feature the underwriting rules read, so the result is in the decision's
evidence.

The images are personal identifiers: AES-GCM sealed (bound to customer and side) before they
touch the disk, stored under the ciphertext's digest, readable only for a vendor call.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.crypto import DataCipher
from chedaitong.db import Customer
from chedaitong.db.origination import Verification
from chedaitong.db.partners import IdCardImage
from chedaitong.errors import Invalid, NotFound
from decisioning.container import Services
from decisioning.origination import files
from decisioning.origination.identity import _record, vendor_failed
from vendors.errors import VendorError, VendorRejected
from vendors.interfaces import IdCheckRequest

SIDES = ("front", "back")


def _aad(customer_id: int, side: str) -> bytes:
    return f"id_card_images:{customer_id}:{side}".encode()


def store_image(*, session: Session, cipher: DataCipher, upload_dir: Path, customer: Customer,
                side: str, upload: files.StoredFile) -> IdCardImage:
    """Seal and keep one side's photo (flushed)."""
    sealed = cipher.encrypt(upload.content, aad=_aad(customer.id, side))
    stored = files.StoredFile.of(sealed, "application/octet-stream", f"id-{side}.enc")
    files.save(upload_dir, stored)
    row = IdCardImage(customer_id=customer.id, side=side, content_type=upload.content_type,
                      size=upload.size, sha256=upload.sha256, stored_sha256=stored.sha256)
    session.add(row)
    session.flush()
    return row


def read_image(*, cipher: DataCipher, upload_dir: Path, image: IdCardImage) -> bytes:
    sealed = (upload_dir / image.stored_sha256[:2] / image.stored_sha256).read_bytes()
    return cipher.decrypt(sealed, aad=_aad(image.customer_id, image.side))


def latest_images(session: Session, customer: Customer) -> dict[str, IdCardImage]:
    out: dict[str, IdCardImage] = {}
    for row in session.scalars(select(IdCardImage).where(
            IdCardImage.customer_id == customer.id).order_by(IdCardImage.id)):
        out[row.side] = row
    return out


def upload_and_verify(*, session: Session, services: Services, customer: Customer,
                      front: files.StoredFile, back: files.StoredFile) -> Verification:
    """Keep both photos, have the ID vendor check them with the name and number, record the
    result as the ID-card check (committed). A vendor outage records no check and raises
    VendorFailed (the photos stay kept; `verify_photos` checks them again)."""
    if front.sha256 == back.sha256:
        raise Invalid("back", "the back is the same picture as the front")
    cipher, upload_dir = services.store.cipher, services.upload_dir
    store_image(session=session, cipher=cipher, upload_dir=upload_dir, customer=customer,
                side="front", upload=front)
    store_image(session=session, cipher=cipher, upload_dir=upload_dir, customer=customer,
                side="back", upload=back)
    session.commit()
    return verify_photos(session=session, services=services, customer=customer)


def verify_photos(*, session: Session, services: Services, customer: Customer) -> Verification:
    """Check the latest front and back photos with the ID vendor (committed)."""
    images = latest_images(session, customer)
    if set(images) != set(SIDES):
        raise NotFound("upload the front and back of the ID card first")
    cipher, upload_dir = services.store.cipher, services.upload_dir
    p = services.store.profile(customer)
    try:
        r = services.vendor("id_check").verify(IdCheckRequest(
            name=p.name, id_number=p.id_number,
            front_image=read_image(cipher=cipher, upload_dir=upload_dir, image=images["front"]),
            back_image=read_image(cipher=cipher, upload_dir=upload_dir, image=images["back"])))
    except VendorRejected as exc:
        raise Invalid("front", f"rejected by the ID-card service: {exc}") from None
    except VendorError as exc:
        raise vendor_failed("id_check", exc) from None
    v = _record(session, services, customer, kind="id_card", passed=r.passed, score=None,
                request_id=r.request_id, detail=f"{r.verdict.value} photo {r.code}")
    session.commit()
    return v
