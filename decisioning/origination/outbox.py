"""The outbox: vendor sends written in the state change's own transaction, delivered after.

A step that changes state adds the messages it owes — the decision SMS, the contract sent
for e-signature — to the same transaction with `add`; once it commits, a worker calls
`deliver_batch` (the queue's delivery tasks, or `deliver_now` where no queue runs). A
vendor that is down fails the delivery, not the step: the row keeps its attempts and last
error and is retried with backoff until it goes through or `MAX_ATTEMPTS` mark it dead. The
vendor call carries the row's idempotency key, so a delivery retried after a crash between
sending and marking is not sent twice.

Why one way to send an SMS: a vendor keeps idempotency keys per endpoint (the sandbox's
single send and batch items are two namespaces, as at Aliyun), so a message first tried
through one endpoint and retried through the other would reach the customer twice. Every
SMS goes through the batch endpoint, first try and retries alike, whoever delivers it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, DecisionRecord
from chedaitong.db.idset import in_ids
from chedaitong.db.origination import LoanContract, Notification
from chedaitong.db.outbox import DEAD, DELIVERED, PENDING, OutboxMessage
from vendors.errors import VendorError
from vendors.interfaces import SMS_BATCH_MAX, ContractRequest, Signer, SmsMessage

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 12
SMS = "sms"
ESIGN_CONTRACT = "esign_contract"
#: a contract not yet accepted by the e-signature vendor (then its status is the vendor's)
CONTRACT_SENDING, CONTRACT_SEND_FAILED = "sending", "send_failed"


class DeliveryFailed(RuntimeError):
    """The vendor failed this time; the message stays pending (the queue retries it)."""


def add(session: Session, *, kind: str, key: str, payload: dict[str, Any],
        application_id: int | None = None) -> OutboxMessage:
    """A message to deliver once the caller's transaction commits (flushed, not committed)."""
    message = OutboxMessage(kind=kind, idempotency_key=key, payload=payload,
                            application_id=application_id, status=PENDING, attempts=0,
                            next_attempt_at=datetime.now(UTC))
    session.add(message)
    session.flush()
    return message


#: the decision SMS's notification row, inserted as a plain row (`add_decision_sms`)
_NOTE_INSERT = insert(Notification)


def add_decision_sms(session: Session, *, application: Application,
                     record: DecisionRecord) -> tuple[OutboxMessage, int]:
    """The "your result is ready" SMS (the outcome only; details are in the app), pending:
    the outbox message and the id of the notification it delivers. The notification is one
    plain INSERT (its id back from it): nothing reads it in this transaction, so only the
    outbox message goes through the unit of work — one flush, not one for each."""
    [note_id] = session.connection().execute(_NOTE_INSERT, {
        "application_id": application.id, "customer_id": application.customer_id,
        "template": "DECISION_READY", "status": "pending"}).inserted_primary_key
    return add(session, kind=SMS, key=f"sms:decision:{application.ref}:{record.id}",
               application_id=application.id,
               payload={"notification_id": note_id, "template": "DECISION_READY",
                        "params": [["ref", application.ref], ["outcome", record.outcome]]}
               ), note_id


def _sms_failed(session: Session, message: OutboxMessage, error: str, final: bool) -> None:
    note = session.get(Notification, message.payload["notification_id"])
    note.error = error
    if final:
        note.status = "failed"


def add_contract(session: Session, *, application: Application,
                 contract: LoanContract) -> OutboxMessage:
    """Creating ``contract`` at the e-signature vendor, pending (the payload names the row;
    the signer's identity is decrypted at delivery, so the outbox holds no identifier)."""
    return add(session, kind=ESIGN_CONTRACT, key=f"contract:{application.ref}",
               application_id=application.id, payload={"contract_id": contract.id})


def _send_contract(session: Session, services: Any, message: OutboxMessage) -> None:
    contract = session.get(LoanContract, message.payload["contract_id"])
    application = session.get(Application, contract.application_id)
    p = services.store.profile(session.get(Customer, application.customer_id))
    created = services.vendor("esign").create_contract(ContractRequest(
        application_id=application.ref, title=f"Loan contract {application.ref}",
        document=contract.document_text.encode(),
        signers=(Signer(name=p.name, id_number=p.id_number, phone=p.phone),),
        idempotency_key=message.idempotency_key))
    contract.vendor_contract_id, contract.status = created.contract_id, created.status.value


def _contract_failed(session: Session, message: OutboxMessage, error: str, final: bool) -> None:
    if final:
        session.get(LoanContract, message.payload["contract_id"]).status = CONTRACT_SEND_FAILED


#: kind → send, for the kinds delivered one by one (the SMS go in batches: `deliver_batch`);
#: send makes the vendor call and records its result on the session
_ONE_BY_ONE: dict[str, Callable[..., None]] = {ESIGN_CONTRACT: _send_contract}
#: kind → on_failure(session, message, reason, final): what a failed attempt marks
_ON_FAILURE: dict[str, Callable[..., None]] = {SMS: _sms_failed,
                                               ESIGN_CONTRACT: _contract_failed}


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: 1 s, 2 s, 4 s … capped at 5 minutes."""
    return timedelta(seconds=min(300, 2 ** max(0, attempts - 1)))


def _deliver_one(*, session: Session, services: Any, message_id: int) -> str:
    """Deliver one pending message of a one-by-one kind and commit; returns its status
    (``delivered``, ``dead``, or the status it already had). Raises `DeliveryFailed` when the
    vendor failed and the message will be tried again."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.status != PENDING:
        session.rollback()
        return message.status if message else "missing"
    send = _ONE_BY_ONE[message.kind]
    session.commit()  # end the read: no database lock is held across the vendor call
    try:
        send(session, services, message)
    except VendorError as exc:
        session.rollback()
        message = session.get(OutboxMessage, message_id)
        final = _failed(session, message, type(exc).__name__, f"{type(exc).__name__}: {exc}")
        session.commit()
        if final:
            return DEAD
        raise DeliveryFailed(f"{message.kind} {message.id}: {message.last_error}") from None
    _delivered(message)
    session.commit()
    return DELIVERED


def _failed(session: Session, message: OutboxMessage, reason: str, error: str) -> bool:
    """Count a failed attempt at ``message`` (dead after `MAX_ATTEMPTS`); True when dead."""
    message.attempts += 1
    message.last_error = error[:200]
    final = message.attempts >= MAX_ATTEMPTS
    message.status = DEAD if final else PENDING
    message.next_attempt_at = datetime.now(UTC) + backoff(message.attempts)
    _ON_FAILURE[message.kind](session, message, reason, final)
    if final:
        log.error("outbox %s %s dead after %s attempts", message.kind, message.id,
                  message.attempts)
    return final


def _delivered(message: OutboxMessage) -> None:
    message.attempts += 1
    message.status, message.delivered_at, message.last_error = DELIVERED, datetime.now(UTC), None


def deliver_batch(*, session: Session, services: Any, message_ids: list[int]) -> list[int]:
    """Deliver pending messages and commit: the SMS ones in one vendor call per
    `SMS_BATCH_MAX` (each item with its message's idempotency key; the only way an SMS is
    sent, see the module's docstring), the others one by one. Returns the ids the vendor
    failed this time, still pending (the caller queues their retries).

    Why: a decision worker sends one SMS per decision; one call for the SMS of the decisions
    taken within a short window costs one request, three reads and one commit however many
    there are, not a request and a commit each."""
    retry: list[int] = []
    messages = list(session.scalars(select(OutboxMessage).where(
        in_ids(OutboxMessage.id, message_ids), OutboxMessage.status == PENDING)
        .order_by(OutboxMessage.id)))
    sms = [m for m in messages if m.kind == SMS]
    for message in messages:
        if message.kind != SMS:
            try:
                _deliver_one(session=session, services=services, message_id=message.id)
            except DeliveryFailed as exc:
                log.warning("outbox delivery deferred: %s", exc)
                retry.append(message.id)
    if not sms:
        session.commit()
        return retry
    notes = {n.id: n for n in session.scalars(select(Notification).where(
        in_ids(Notification.id, [m.payload["notification_id"] for m in sms])))}
    if services.vendors is None:  # no SMS vendor configured (a bare demo): nothing to send
        for message in sms:
            notes[message.payload["notification_id"]].status = "skipped"
            _delivered(message)
        session.commit()
        return retry
    customers = {c.id: c for c in session.scalars(select(Customer).where(
        in_ids(Customer.id, {n.customer_id for n in notes.values()})))}
    session.commit()  # end the reads: no database lock is held across the vendor call
    # the phones are decrypted here, at delivery, so the outbox rows hold no identifier
    phones: dict[int, str] = {}
    for message in sms:
        customer_id = notes[message.payload["notification_id"]].customer_id
        if customer_id not in phones:
            phones[customer_id] = services.store.profile(customers[customer_id]).phone
    for start in range(0, len(sms), SMS_BATCH_MAX):
        part = sms[start:start + SMS_BATCH_MAX]
        texts = [SmsMessage(
            phone=phones[notes[m.payload["notification_id"]].customer_id],
            template=m.payload["template"], params=tuple(tuple(p) for p in m.payload["params"]),
            idempotency_key=m.idempotency_key) for m in part]
        try:
            answers = services.vendors.sms.send_batch(texts)
        except VendorError as exc:
            for message in part:
                if not _failed(session, message, type(exc).__name__,
                               f"{type(exc).__name__}: {exc}"):
                    retry.append(message.id)
            continue
        for message, answer in zip(part, answers, strict=True):
            note = notes[message.payload["notification_id"]]
            if answer.ok:
                note.status, note.vendor_message_id, note.error = "accepted", answer.ref, None
                _delivered(message)
            elif not _failed(session, message, answer.code, f"{answer.code}: {answer.message}"):
                retry.append(message.id)
    session.commit()
    return retry


def deliver_now(*, session: Session, services: Any, message_ids: list[int]) -> None:
    """Deliver in this thread (no queue configured), through the same batch call a worker
    makes; a failure stays pending for a worker or the next try."""
    left = deliver_batch(session=session, services=services, message_ids=message_ids)
    if left:
        log.warning("outbox delivery deferred: %s", left)


def due(session: Session, *, older_than: timedelta = timedelta(seconds=0),
        limit: int = 500) -> list[int]:
    """Pending messages whose next attempt is due (by ``older_than``): what a sweep resends
    when a queue message was lost (a process died between commit and enqueue)."""
    cutoff = datetime.now(UTC) - older_than
    return list(session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= cutoff)
        .order_by(OutboxMessage.id).limit(limit)))
