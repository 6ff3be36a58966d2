"""ID-card photos (front and back) taken in the user app: kept encrypted, checked by the ID
vendor with the name and number, and recorded as the customer's ID-card check — the
`id_card_verified` feature the underwriting rules read, so the result is in the decision's
evidence.

The images are personal identifiers: kept like every upload (`files.save`: sealed with the data
key before they touch the disk), read back only for a vendor call.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Customer, claims
from chedaitong.db.origination import Verification
from chedaitong.db.partners import IdCardImage
from chedaitong.errors import Invalid, NotFound
from decisioning.container import Services, UploadDir
from decisioning.origination import files
from decisioning.origination.identity import _record, bind_if_confirmed, claim_check, vendor_failed
from vendors.errors import VendorError, VendorRejected
from vendors.interfaces import IdCheckRequest

SIDES = ("front", "back")


def store_image(*, session: Session, upload_dir: UploadDir, customer: Customer,
                side: str, upload: files.StoredFile) -> IdCardImage:
    """Seal and keep one side's photo (flushed)."""
    files.save(upload_dir, upload)
    row = IdCardImage(customer_id=customer.id, side=side, content_type=upload.content_type,
                      size=upload.size, sha256=upload.sha256, stored_sha256=upload.sha256)
    session.add(row)
    session.flush()
    return row


def read_image(*, upload_dir: UploadDir, image: IdCardImage) -> bytes:
    return files.load(upload_dir, image.stored_sha256)


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
    upload_dir = services.upload_dir
    store_image(session=session, upload_dir=upload_dir, customer=customer,
                side="front", upload=front)
    store_image(session=session, upload_dir=upload_dir, customer=customer,
                side="back", upload=back)
    session.commit()
    return verify_photos(session=session, services=services, customer=customer)


def verify_photos(*, session: Session, services: Services, customer: Customer) -> Verification:
    """Check the latest front and back photos with the ID vendor (committed)."""
    images = latest_images(session, customer)
    if set(images) != set(SIDES):
        raise NotFound("upload the front and back of the ID card first")
    upload_dir = services.upload_dir
    p = services.store.profile(customer)

    def ask(key: str):
        try:
            return services.vendor("id_check").verify(IdCheckRequest(
                name=p.name, id_number=p.id_number,
                front_image=read_image(upload_dir=upload_dir, image=images["front"]),
                back_image=read_image(upload_dir=upload_dir, image=images["back"]),
                idempotency_key=key))
        except VendorRejected as exc:
            raise Invalid("front", f"rejected by the ID-card service: {exc}") from None
        except VendorError as exc:
            raise vendor_failed("id_check", exc) from None

    # one ID check per customer at a time, the photo check and the plain one alike
    claimed, r = claim_check(session, "id_card", customer, ask, digest=claims.fingerprint(
        p.name, p.id_number, images["front"].sha256, images["back"].sha256))
    claims.finish(session, claimed)
    v = _record(session, services, customer, kind="id_card", passed=r.passed, score=None,
                request_id=r.request_id, detail=f"{r.verdict.value} photo {r.code}")
    session.commit()
    # with liveness already passed, the photos are what confirms the ID number is theirs
    bind_if_confirmed(session=session, customer=customer)
    return v
