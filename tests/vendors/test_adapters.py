"""Each adapter against the sandbox's hash oracle (no world): answers are realistic, typed and
deterministic, malformed input is rejected, and the e-signature and collection flows work."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest

from chedaitong_sim.sandbox import running_sandbox
from chedaitong_sim.sandbox.answers import LIVENESS_THRESHOLD, Oracle, unit
from chedaitong_sim.testing import fast_vendors, find_id_number, make_id_number
from vendors import VendorError, VendorHttpClient, VendorRejected
from vendors.esign import HttpESign
from vendors.identity import HttpIdCheck
from vendors.interfaces import (
    BureauQuery,
    CaseStatus,
    CollectionCase,
    CollectionVendor,
    ContractRequest,
    ContractStatus,
    ESignVendor,
    FourElementRequest,
    FourElementVendor,
    IdCheckRequest,
    IdCheckVendor,
    LivenessRequest,
    LivenessVendor,
    PbocVendor,
    Signer,
    SignRequest,
    SmsMessage,
    SmsVendor,
    ThirdPartyBureauVendor,
    Verdict,
)

ID = find_id_number(lambda i: unit("id_check", i) >= 0.006 and unit("pboc-file", i) >= 0.08
                    and unit("tp-file", i) >= 0.03)
BAD_CHECKSUM = ID[:17] + ("0" if ID[17] != "0" else "1")
PHONE = "13812345678"
CARD = "6222020200112233445"
AS_OF = datetime(2024, 6, 30, 15, 0, tzinfo=UTC)


def test_adapters_satisfy_their_interfaces(vendors):
    pairs = [(vendors.id_check, IdCheckVendor), (vendors.liveness, LivenessVendor),
             (vendors.four_element, FourElementVendor), (vendors.pboc, PbocVendor),
             (vendors.third_party, ThirdPartyBureauVendor), (vendors.esign, ESignVendor),
             (vendors.sms, SmsVendor), (vendors.collection, CollectionVendor)]
    for adapter, protocol in pairs:
        assert isinstance(adapter, protocol)


def test_id_check(vendors):
    ok = vendors.id_check.verify(IdCheckRequest("张三", ID))
    assert ok.verdict is Verdict.MATCH and ok.passed and ok.code == "0000"
    missing = vendors.id_check.verify(IdCheckRequest("张三", BAD_CHECKSUM))
    assert missing.verdict is Verdict.NOT_FOUND and missing.code == "2001" and not missing.passed


def test_liveness_scores_depend_on_the_selfie(vendors):
    oracle = Oracle()
    selfies = [f"selfie-{k}".encode() for k in range(60)]
    expected = [oracle.liveness(ID, s, 0) for s in selfies]
    assert any(e.passed for e in expected) and any(not e.passed for e in expected)
    failing = next(s for s, e in zip(selfies, expected, strict=True) if not e.passed)
    for selfie in (selfies[0], failing):
        got = vendors.liveness.compare(LivenessRequest("张三", ID, selfie))
        want = oracle.liveness(ID, selfie, 0)
        assert (got.passed, got.score) == (want.passed, want.score)
        assert got.threshold == LIVENESS_THRESHOLD
        assert got.passed == (got.score >= got.threshold)
    unknown = vendors.liveness.compare(LivenessRequest("张三", BAD_CHECKSUM, b"x"))
    assert not unknown.passed and unknown.code == "3002"


def test_four_element(vendors):
    cards = [f"62220202001122{k:05d}" for k in range(200)]
    mismatch_card = next(c for c in cards if unit("4e", "张三", ID, c, PHONE) < 0.04)
    match_card = next(c for c in cards if unit("4e", "张三", ID, c, PHONE) >= 0.04)
    assert vendors.four_element.verify(FourElementRequest("张三", ID, match_card, PHONE)).passed
    bad = vendors.four_element.verify(FourElementRequest("张三", ID, mismatch_card, PHONE))
    assert bad.verdict is Verdict.MISMATCH and bad.code == "1001"
    with pytest.raises(VendorRejected) as exc:
        vendors.four_element.verify(FourElementRequest("张三", ID, CARD, "12345"))
    assert exc.value.code == "INVALID_PHONE"


def test_pboc_report(vendors):
    query = BureauQuery("张三", ID, authorization_ref="AUTH-1", as_of=AS_OF)
    report = vendors.pboc.query(query)
    assert report.found and report.code == "0000"
    assert report.reported_at == AS_OF
    body = json.loads(report.report_json)  # the synthetic world's report layout
    assert body["report_id"] == report.report_id
    assert body["report_time"] == "2024-06-30T23:00:00"  # China Standard Time, like the world
    assert body["query_reason"] == "loan_approval"
    assert body["subject"] == {"name": "张三", "id_number": ID}
    assert set(body) == {"report_id", "report_time", "query_reason", "subject", "loans",
                         "cards", "inquiries"}
    for card in body["cards"]:
        assert len(card["repayment_24m"]) == 24 and 0 <= card["balance"] <= card["credit_limit"]
    assert vendors.pboc.query(query).report_json == report.report_json  # deterministic
    post_loan = BureauQuery("张三", ID, authorization_ref="A", as_of=AS_OF,
                            reason="post_loan_management")
    assert json.loads(vendors.pboc.query(post_loan).report_json)["query_reason"] == (
        "post_loan_management")
    with pytest.raises(VendorRejected):
        vendors.pboc.query(BureauQuery("张三", ID, authorization_ref="A", reason="curiosity"))


def test_pboc_thin_file_and_authorisation(vendors):
    thin = find_id_number(lambda i: unit("pboc-file", i) < 0.08)
    report = vendors.pboc.query(BureauQuery("李四", thin, authorization_ref="AUTH-2"))
    assert not report.found and report.code == "4004" and report.report_json is None
    with pytest.raises(VendorRejected) as exc:
        vendors.pboc.query(BureauQuery("张三", ID))
    assert exc.value.code == "AUTHORIZATION_REQUIRED"


def test_third_party_report(vendors):
    report = vendors.third_party.query(BureauQuery("张三", ID, phone=PHONE, as_of=AS_OF))
    assert report.found
    assert 300 <= report.score <= 900
    body = json.loads(report.report_json)
    assert body["score"] == report.score
    assert report.blacklisted is body["blacklist"]["hit"]
    assert report.multi_lending_platforms == body["multi_lending"]["platforms_90d"]
    assert not vendors.third_party.query(BureauQuery("张三", BAD_CHECKSUM)).found


def test_answers_do_not_depend_on_the_sandbox_seed():
    query = BureauQuery("张三", ID, authorization_ref="AUTH-1", as_of=AS_OF)
    seen = []
    for seed in (1, 2):
        with running_sandbox(latency_ms=0, seed=seed) as srv, fast_vendors(srv.base_url) as v:
            seen.append((v.pboc.query(query).report_json, v.third_party.query(query).score))
    assert seen[0] == seen[1]


def test_esign_flow(vendors):
    document = "汽车融资租赁合同\n租赁物：某品牌新车一辆\n".encode()
    signer = Signer("张三", ID, PHONE)
    created = vendors.esign.create_contract(
        ContractRequest("AP0001", "融资租赁合同", document, (signer,)))
    assert created.status is ContractStatus.AWAITING_SIGNATURE
    assert created.document_sha256 == hashlib.sha256(document).hexdigest()
    with pytest.raises(VendorRejected) as exc:
        vendors.esign.signed_document(created.contract_id)
    assert exc.value.status == 409

    other = make_id_number("31010419850101001")
    with pytest.raises(VendorRejected) as exc:
        vendors.esign.sign(SignRequest(created.contract_id, other, "123456"))
    assert exc.value.status == 403

    signed = vendors.esign.sign(SignRequest(created.contract_id, ID, "123456"))
    assert signed.status is ContractStatus.SIGNED and signed.signed_at is not None
    assert vendors.esign.sign(SignRequest(created.contract_id, ID, "123456")) == signed
    assert vendors.esign.status(created.contract_id) == signed

    doc = vendors.esign.signed_document(created.contract_id)
    assert doc.content.startswith(document)
    text = doc.content.decode()
    assert f"document_sha256: {created.document_sha256}" in text
    assert "seal: " in text and ID not in text
    assert doc.sha256 == hashlib.sha256(doc.content).hexdigest()
    assert doc.media_type.startswith("text/plain")

    with pytest.raises(VendorRejected) as exc:
        vendors.esign.status("CT-NOPE")
    assert exc.value.status == 404


def test_tampered_document_fails_the_hash_check():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"tampered",
                              headers={"X-Document-SHA256": "0" * 64})

    esign = HttpESign(VendorHttpClient("esign", "http://vendor.test",
                                       transport=httpx.MockTransport(handler)))
    with pytest.raises(VendorError, match="hash check"):
        esign.signed_document("CT1")


def test_malformed_response_is_a_vendor_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"request_id": "R1", "result": "maybe"})

    check = HttpIdCheck(VendorHttpClient("id_check", "http://vendor.test",
                                         transport=httpx.MockTransport(handler)))
    with pytest.raises(VendorError, match="'result'"):
        check.verify(IdCheckRequest("张三", ID))


def test_sms(sandbox, vendors):
    receipt = vendors.sms.send(SmsMessage(PHONE, "REPAY_REMINDER", (("due", "2024-07-01"),)))
    assert receipt.status == "accepted" and receipt.message_id.startswith("SM")
    [message] = sandbox.records("messages")
    assert message["phone"] == "138****5678" and message["template"] == "REPAY_REMINDER"
    with pytest.raises(VendorRejected):
        vendors.sms.send(SmsMessage(PHONE, "free text is not a template"))


def test_collection_flow(sandbox, vendors):
    assignment = vendors.collection.assign(
        CollectionCase("LN0001", "张三", ID, PHONE, 352_000, 47, "M2"))
    assert assignment.status is CaseStatus.ASSIGNED and assignment.agency
    status = vendors.collection.status(assignment.case_id)
    assert status.status is CaseStatus.ASSIGNED and status.recovered_cents == 0
    sandbox.update_case(assignment.case_id, status="recovered", recovered_cents=352_000,
                        note="客户已还款")
    status = vendors.collection.status(assignment.case_id)
    assert (status.status, status.recovered_cents, status.note) == (
        CaseStatus.RECOVERED, 352_000, "客户已还款")
    # once recovered, the loan may be assigned again later
    again = vendors.collection.assign(CollectionCase("LN0001", "张三", ID, PHONE, 10_000, 31, "M1"))
    assert again.case_id != assignment.case_id
