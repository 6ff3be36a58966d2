"""No log line or error message carries a full ID, card or phone number — on success, on
retries, on rejections and on give-up."""

from __future__ import annotations

import logging

import pytest

from chedaitong_sim.testing import make_id_number
from vendors import VendorError, mask
from vendors.interfaces import (
    BureauQuery,
    CollectionCase,
    ContractRequest,
    FourElementRequest,
    IdCheckRequest,
    LivenessRequest,
    Signer,
    SignRequest,
    SmsMessage,
)

ID = make_id_number("11010119900307123")
PHONE = "13812345678"
CARD = "6222020200112233445"
SECRETS = (ID, PHONE, CARD, "张三")


def test_logs_and_errors_are_masked(sandbox, vendors, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.script("four_element", {"status": 503})
    sandbox.script("sms", {"timeout": True})
    vendors.id_check.verify(IdCheckRequest("张三", ID))
    vendors.liveness.compare(LivenessRequest("张三", ID, b"selfie"))
    vendors.four_element.verify(FourElementRequest("张三", ID, CARD, PHONE))
    vendors.pboc.query(BureauQuery("张三", ID, phone=PHONE, authorization_ref="A"))
    vendors.third_party.query(BureauQuery("张三", ID, phone=PHONE))
    contract = vendors.esign.create_contract(
        ContractRequest("AP1", "合同", b"text", (Signer("张三", ID, PHONE),)))
    vendors.esign.sign(SignRequest(contract.contract_id, ID, "123456"))
    vendors.sms.send(SmsMessage(PHONE, "REPAY_REMINDER"))
    vendors.collection.assign(CollectionCase("LN1", "张三", ID, PHONE, 100, 31, "M1"))

    sandbox.outage("pboc", down=True)
    errors = []
    for request in (BureauQuery("张三", ID, authorization_ref="A"), BureauQuery("张三", ID)):
        with pytest.raises(VendorError) as exc:
            vendors.pboc.query(request)
        errors.append(str(exc.value))
    with pytest.raises(VendorError) as exc:  # a rejection whose message names the field
        vendors.four_element.verify(FourElementRequest("张三", ID, CARD, "1381234567"))
    errors.append(str(exc.value))

    text = caplog.text + "\n".join(errors)
    vendor_lines = [r for r in caplog.records if r.name.startswith("vendors.")]
    assert len(vendor_lines) >= 12
    assert any("attempt=2" in r.getMessage() for r in vendor_lines)  # retries were logged
    for secret in SECRETS:
        assert secret not in text
    assert mask(ID) in text and mask(PHONE) in text and mask(CARD) in text


def test_scrub_catches_an_adapter_that_forgets_to_mask(sandbox, caplog):
    from vendors.http import VendorHttpClient

    caplog.set_level(logging.INFO)
    client = VendorHttpClient("id_check", sandbox.base_url)
    client.post_json("/idcheck/v1/verify", {"name": "张三", "id_number": ID}, op="verify",
                     subject=f"{ID} {PHONE}", idempotency_key="k")
    client.close()
    assert ID not in caplog.text and PHONE not in caplog.text
    assert mask(ID) in caplog.text
