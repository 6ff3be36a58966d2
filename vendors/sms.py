"""HTTP adapter for the SMS gateway. Sending is not repeatable by nature (a customer would get
the reminder twice), so every send carries an idempotency key."""

from __future__ import annotations

from collections.abc import Sequence

from vendors import wire
from vendors.batch import check_size, read_items
from vendors.http import VendorHttpClient, new_key
from vendors.interfaces import SMS_BATCH_MAX, BatchItem, SmsMessage, SmsReceipt
from vendors.masking import mask


class HttpSms:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def send(self, message: SmsMessage) -> SmsReceipt:
        body = {"phone": message.phone, "template": message.template,
                "params": dict(message.params)}
        data = self.http.post_json(
            wire.SMS, body, op="send", subject=f"{mask(message.phone, 'phone')} {message.template}",
            idempotency_key=message.idempotency_key or new_key(),
        )
        r = wire.Reader(data, self.http.vendor, "send")
        return SmsReceipt(r.string("message_id"), r.string("status"), r.time("accepted_at"))

    def send_batch(self, messages: Sequence[SmsMessage]) -> list[BatchItem]:
        """Many messages in one call; each item answered on its own (see `SmsVendor`)."""
        check_size(messages, SMS_BATCH_MAX, "sms")
        keys = [str(m.idempotency_key) for m in messages]
        body = {"messages": [{"phone": m.phone, "template": m.template,
                              "params": dict(m.params), "idempotency_key": m.idempotency_key}
                             for m in messages]}
        data = self.http.post_json(wire.SMS_BATCH, body, op="send_batch",
                                   subject=f"{len(messages)} messages",
                                   idempotency_key=new_key())
        return read_items(data, self.http.vendor, "send_batch", keys)
