"""Messages to the customer. Sent inline today (a failed SMS is recorded, never undoes the
step that triggered it); an outbox delivered by a worker is the place for them next."""

from __future__ import annotations

from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, DecisionRecord
from chedaitong.db.origination import Notification
from decisioning.container import Services
from vendors.errors import VendorError
from vendors.interfaces import SmsMessage


def notify_decision(*, session: Session, services: Services, application: Application,
                    record: DecisionRecord) -> Notification:
    """SMS the customer that a result is ready (the outcome only; details are in the app),
    committed; ``skipped`` without vendors, ``failed`` when the SMS vendor fails."""
    customer = session.get(Customer, application.customer_id)
    note = Notification(application_id=application.id, customer_id=customer.id,
                        template="DECISION_READY", status="skipped")
    if services.vendors is not None:
        phone = services.store.profile(customer).phone
        try:
            receipt = services.vendors.sms.send(SmsMessage(
                phone=phone, template="DECISION_READY",
                params=(("ref", application.ref), ("outcome", record.outcome)),
                idempotency_key=f"sms:decision:{application.ref}:{record.id}"))
            note.status, note.vendor_message_id = "accepted", receipt.message_id
        except VendorError as exc:  # a lost SMS must not undo the decision
            note.status, note.error = "failed", type(exc).__name__
    session.add(note)
    session.commit()
    return note
