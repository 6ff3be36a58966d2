"""HTTP adapter for the payment service that transfers the loan amount to the dealer.

A transfer moves money: every request carries an idempotency key (one per payout attempt), so
a retried request never pays twice; settlement is asynchronous and read back by `status`."""

from __future__ import annotations

from urllib.parse import quote

from vendors import wire
from vendors.http import VendorHttpClient
from vendors.interfaces import Transfer, TransferRequest, TransferStatus
from vendors.masking import mask


class HttpPayments:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def transfer(self, request: TransferRequest) -> Transfer:
        if not request.idempotency_key:
            raise ValueError("a transfer needs an idempotency key (one per payout attempt)")
        body = {"payout_ref": request.payout_ref, "amount_cents": request.amount_cents,
                "bank_name": request.bank_name, "account_name": request.account_name,
                "account_number": request.account_number, "value_date": request.value_date}
        data = self.http.post_json(
            wire.TRANSFERS, body, op="transfer",
            subject=f"payout={request.payout_ref} {mask(request.account_number, 'card')}",
            idempotency_key=request.idempotency_key,
        )
        return _transfer(wire.Reader(data, self.http.vendor, "transfer"))

    def status(self, transfer_id: str) -> Transfer:
        data = self.http.get_json(f"{wire.TRANSFERS}/{quote(transfer_id, safe='')}",
                                  op="status", subject=transfer_id)
        return _transfer(wire.Reader(data, self.http.vendor, "status"))


def _transfer(r: wire.Reader) -> Transfer:
    try:
        status = TransferStatus(r.string("status"))
    except ValueError:
        r.fail("status")
    return Transfer(r.string("transfer_id"), status, r.time("updated_at"),
                    r.opt_string("reason") or "")
