"""The online store: uploads validated and de-duplicated, raw data encrypted, vectors served."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from chedaitong.crypto import DataCipher
from chedaitong.db import Customer, FeatureFact, RawEvent
from featurestore.store import ApplicationInput, CustomerProfile, FeatureStore
from featurestore.uploads import UploadRejected

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ID_NUMBER = "110101199003074514"
SECRET_SMS = "【闪电贷】您在本平台的借款已逾期7天，请立即还款，否则将上报征信。"


@pytest.fixture
def store() -> FeatureStore:
    return FeatureStore(DataCipher(bytes(range(32))))


@pytest.fixture
def customer(engine, store):
    with Session(engine) as s:
        c = store.register_customer(
            s,
            "CU1",
            CustomerProfile(
                name="李娜",
                id_number=ID_NUMBER,
                phone="13912345678",
                birth_date=date(1990, 3, 7),
                home_lat=39.90,
                home_lon=116.40,
                home_city="北京",
                monthly_income=15000.0,
                device_id="dev-abc",
            ),
            registered_at=NOW - timedelta(days=200),
        )
        s.commit()
        return c.id


def load(engine, store, cid):
    s = Session(engine)
    return s, s.get(Customer, cid)


def test_upload_is_stored_once_encrypted_and_reduced_to_facts(engine, store, customer):
    sms = [
        {
            "event_time": (NOW - timedelta(days=3)).isoformat(),
            "sender": "10690000",
            "text": SECRET_SMS,
        }
    ]
    s, c = load(engine, store, customer)
    with s:
        first = store.ingest_device(s, c, "sms", sms, uploaded_at=NOW)
        again = store.ingest_device(s, c, "sms", sms, uploaded_at=NOW)
        s.commit()
        assert (first.stored, first.duplicates) == (1, 0)
        assert (again.stored, again.duplicates) == (0, 1)
        kinds = s.scalars(select(FeatureFact.kind).where(FeatureFact.source == "sms")).all()
        assert sorted(kinds) == ["collection", "upload"]  # the replay added nothing
        payload = s.scalar(select(RawEvent.payload_enc))
        assert SECRET_SMS.encode() not in payload and "闪电贷".encode() not in payload


def test_no_plaintext_identifier_or_device_data_anywhere_in_the_database(engine, store, customer):
    s, c = load(engine, store, customer)
    with s:
        store.ingest_device(
            s,
            c,
            "sms",
            [{"event_time": NOW.isoformat(), "sender": "1069", "text": SECRET_SMS}],
            uploaded_at=NOW,
        )
        store.ingest_device(
            s, c, "contact", [{"phone": "13700001111", "tag": "blacklist"}], uploaded_at=NOW
        )
        store.ingest_device(
            s,
            c,
            "photo",
            [{"event_time": NOW.isoformat(), "lat": 31.2304, "lon": 121.4737}],
            uploaded_at=NOW,
        )
        s.commit()
        dump = []
        for table in ("customers", "raw_events", "feature_facts", "feature_vectors"):
            for row in s.execute(text(f"SELECT * FROM {table}")):
                dump.append(
                    " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
                )
        everything = "\n".join(dump)
    for secret in (
        ID_NUMBER,
        "13912345678",
        "13700001111",
        "李娜",
        "闪电贷",
        "31.2304",
        "121.4737",
    ):
        assert secret not in everything, secret


@pytest.mark.parametrize(
    ("source", "record", "field"),
    [
        ("gps", {"event_time": "2026-06-01T10:00:00Z", "lat": 91, "lon": 116}, "lat"),
        ("gps", {"event_time": "2027-01-01T10:00:00Z", "lat": 39, "lon": 116}, "event_time"),
        ("sms", {"event_time": "2026-06-01T10:00:00Z", "sender": "1", "text": "x", "pw": 1}, "pw"),
        ("contact", {"phone": "call me"}, "phone"),
    ],
)
def test_malformed_upload_is_rejected_whole_and_nothing_stored(
    engine, store, customer, source, record, field
):
    good = {
        "gps": {"event_time": "2026-06-01T09:00:00Z", "lat": 39.9, "lon": 116.4},
        "sms": {"event_time": "2026-06-01T09:00:00Z", "sender": "1", "text": "逾期"},
        "contact": {"phone": "13700001111"},
    }[source]
    s, c = load(engine, store, customer)
    with s:
        with pytest.raises(UploadRejected) as err:
            store.ingest_device(s, c, source, [good, record], uploaded_at=NOW)
        assert field in err.value.errors[1]
        s.commit()
        assert s.scalar(select(RawEvent.id)) is None


def test_oversize_batch_is_rejected(engine, store, customer):
    s, c = load(engine, store, customer)
    ping = {"event_time": "2026-06-01T09:00:00Z", "lat": 39.9, "lon": 116.4}
    with s, pytest.raises(UploadRejected, match="exceeds the limit"):
        store.ingest_device(s, c, "gps", [ping] * 5001, uploaded_at=NOW)


def test_application_vector_is_materialised_and_served(engine, store, customer):
    s, c = load(engine, store, customer)
    with s:
        store.ingest_device(
            s,
            c,
            "gps",
            [
                {"event_time": (NOW - timedelta(days=d)).isoformat(), "lat": 39.91, "lon": 116.41}
                for d in range(1, 6)
            ]
            + [{"event_time": (NOW - timedelta(days=2)).isoformat(), "lat": 31.23, "lon": 121.47}],
            uploaded_at=NOW,
        )
        store.ingest_identity(s, c, "liveness", True, 0.93, NOW - timedelta(hours=1))
        app = ApplicationInput(
            "AP1",
            c.id,
            vehicle_price=200000,
            loan_amount=140000,
            down_payment=60000,
            term_months=36,
            lease_type="leaseback",
            dealer_channel="4s_store",
            dealer_lat=39.95,
            dealer_lon=116.30,
        )
        vec = store.application_vector(s, app, as_of=NOW)
        s.commit()
        assert vec["gps_pings_90d"] == 6
        assert vec["gps_share_in_home_city_90d"] == pytest.approx(5 / 6)
        assert vec["liveness_passed"] is True and vec["liveness_score"] == pytest.approx(0.93)
        assert vec["loan_to_value"] == pytest.approx(0.7)
        assert vec["age_at_application"] == 36
        assert vec["sms_collection_30d"] is None  # no SMS upload: missing, not zero
        assert vec["bureau_report_available"] is False
        assert store.online(s, "application", "AP1") == vec
        assert store.find_customer(s, ID_NUMBER).id == c.id
