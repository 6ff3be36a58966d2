"""HTTP adapter for the e-signature vendor: create a contract from a document, sign it, fetch
its status and the signed document (whose hash is checked on download)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote

from vendors import wire
from vendors.errors import VendorError
from vendors.http import VendorHttpClient, new_key
from vendors.interfaces import (
    Contract,
    ContractRequest,
    ContractStatus,
    SignedDocument,
    SignRequest,
)
from vendors.masking import mask


class HttpESign:
    def __init__(self, http: VendorHttpClient) -> None:
        self.http = http

    def create_contract(self, request: ContractRequest) -> Contract:
        body = {
            "application_id": request.application_id,
            "title": request.title,
            "document_b64": base64.b64encode(request.document).decode(),
            "signers": [
                {"name": s.name, "id_number": s.id_number, "phone": s.phone}
                for s in request.signers
            ],
        }
        data = self.http.post_json(
            wire.CONTRACTS, body, op="create_contract", subject=request.application_id,
            idempotency_key=request.idempotency_key or new_key(),
        )
        return self._contract(data, "create_contract")

    def sign(self, request: SignRequest) -> Contract:
        # Signing the same contract twice by the same signer is a no-op at the vendor; the
        # caller's key (one per intent) also makes a taken-over signing one charged call.
        data = self.http.post_json(
            f"{self._path(request.contract_id)}/sign",
            {"signer_id_number": request.signer_id_number,
             "verification_code": request.verification_code},
            op="sign", subject=f"{request.contract_id} {mask(request.signer_id_number)}",
            idempotency_key=request.idempotency_key or new_key(),
        )
        return self._contract(data, "sign")

    def status(self, contract_id: str) -> Contract:
        data = self.http.get_json(self._path(contract_id), op="status", subject=contract_id)
        return self._contract(data, "status")

    def signed_document(self, contract_id: str) -> SignedDocument:
        resp = self.http.get_bytes(f"{self._path(contract_id)}/document", op="document",
                                   subject=contract_id)
        content = resp.content
        digest = hashlib.sha256(content).hexdigest()
        claimed = resp.headers.get("X-Document-SHA256")
        if claimed != digest:
            raise VendorError(self.http.vendor, f"document of {contract_id} fails its hash check")
        media_type = resp.headers.get("Content-Type", "application/octet-stream")
        return SignedDocument(contract_id, content, digest, media_type)

    @staticmethod
    def _path(contract_id: str) -> str:
        return f"{wire.CONTRACTS}/{quote(contract_id, safe='')}"

    def _contract(self, data: dict[str, Any], op: str) -> Contract:
        r = wire.Reader(data, self.http.vendor, op)
        try:
            status = ContractStatus(r.string("status"))
        except ValueError:
            r.fail("status")
        return Contract(r.string("contract_id"), status, r.string("document_sha256"),
                        r.time("created_at"), r.opt_time("signed_at"))
