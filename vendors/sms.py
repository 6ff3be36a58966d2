"""HTTP adapter for the SMS gateway. Sending is not repeatable by nature (a customer would get
the reminder twice), so every send carries an idempotency key."""

from __future__ import annotations

from vendors import wire
from vendors.http import VendorHttpClient, new_key
from vendors.interfaces import SmsMessage, SmsReceipt
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
