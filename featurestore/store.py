"""The online feature store over the database: ingest, materialise, serve.

Raw uploads are validated, de-duplicated, encrypted (`raw_events`) and reduced to sanitised
facts (`feature_facts`) in one transaction. A feature vector is computed from the facts by the
same code the historical path uses (`featurestore.compute`) and materialised in
`feature_vectors`, so serving a decision reads one row instead of re-aggregating events.

Only this module and `featurestore.compute`/`extract` see decrypted payloads or PII; what they
return to the rest of the platform is feature values.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from chedaitong.crypto import DataCipher, mask_id_number, mask_phone
from chedaitong.db import Customer, FeatureFact, FeatureVector, RawEvent
from chedaitong.db.base import as_utc
from chedaitong.db.idset import in_ids
from featurestore import compute, extract, offline, one_report
from featurestore.bureau import pboc_facts, thirdparty_facts
from featurestore.definitions import FeatureCatalog, catalog
from featurestore.facts import FACT_COLUMNS, empty_facts, normalise_facts
from featurestore.uploads import validate_upload


@dataclass(frozen=True)
class CustomerProfile:
    """What the customer declares and what identifies them (all encrypted at rest)."""

    name: str
    id_number: str
    phone: str
    birth_date: date
    home_lat: float
    home_lon: float
    home_city: str = ""
    home_province: str = ""
    monthly_income: float | None = None
    device_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplicationInput:
    """The application fields features need (what the consultant enters, plus the dealer)."""

    application_id: str
    customer_id: int
    vehicle_price: float
    loan_amount: float
    down_payment: float
    term_months: int
    lease_type: str
    dealer_channel: str
    dealer_lat: float
    dealer_lon: float


@dataclass(frozen=True)
class PendingReport:
    """A bureau report parsed and encrypted but not yet written (`prepare_bureau_reports`)."""

    event: RawEvent
    facts: list[one_report.Fact]


@dataclass(frozen=True)
class IngestResult:
    stored: int
    duplicates: int


def catalog_version(cat: FeatureCatalog) -> str:
    """Short digest of the catalog: a vector computed under another catalog is stale."""
    text = json.dumps([asdict(f) for f in cat.values()], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class FeatureStore:
    def __init__(self, cipher: DataCipher, cat: FeatureCatalog | None = None):
        self.cipher = cipher
        self.catalog = cat or catalog()
        self.version = catalog_version(self.catalog)

    # ---- customers ---------------------------------------------------------------------
    def register_customer(
        self,
        session: Session,
        external_ref: str,
        profile: CustomerProfile,
        registered_at: datetime,
        user_id: int | None = None,
    ) -> Customer:
        pii = json.dumps(asdict(profile), default=str, ensure_ascii=False).encode()
        customer = Customer(
            external_ref=external_ref,
            user_id=user_id,
            id_number_index=self.cipher.blind_index(profile.id_number),
            id_number_masked=mask_id_number(profile.id_number),
            phone_masked=mask_phone(profile.phone),
            pii_enc=b"",
        )
        session.add(customer)
        session.flush()
        customer.pii_enc = self.cipher.encrypt(pii, aad=self._aad("customers", customer.id))
        if profile.device_id:
            reg = pd.DataFrame(
                {
                    "customer_id": [str(customer.id)],
                    "device_id": [profile.device_id],
                    "registered_at": [registered_at],
                }
            )
            self._add_facts(session, extract.device_facts(reg, self.cipher.blind_index))
        return customer

    def find_customer(self, session: Session, id_number: str) -> Customer | None:
        """The customer whose identity is *verified* for ``id_number`` (pending claims typed
        into the user app by anyone do not count)."""
        index = self.cipher.blind_index(id_number)
        return session.scalar(select(Customer).where(Customer.id_number_index == index,
                                                     Customer.identity_status == "verified"))

    def profile(self, customer: StoredCustomer) -> CustomerProfile:
        """Decrypted profile — for feature computation and vendor calls only."""
        raw = json.loads(
            self.cipher.decrypt(customer.pii_enc, aad=self._aad("customers", customer.id))
        )
        raw["birth_date"] = date.fromisoformat(raw["birth_date"])
        return CustomerProfile(**raw)

    def replace_profile(self, customer: Customer, profile: CustomerProfile) -> None:
        """Re-encrypt an updated profile in place (the ID number, and so the blind index,
        never changes); the masked phone follows the new phone."""
        pii = json.dumps(asdict(profile), default=str, ensure_ascii=False).encode()
        customer.pii_enc = self.cipher.encrypt(pii, aad=self._aad("customers", customer.id))
        customer.phone_masked = mask_phone(profile.phone)

    # ---- ingest ------------------------------------------------------------------------
    def ingest_device(
        self,
        session: Session,
        customer: Customer,
        source: str,
        records: list[dict],
        uploaded_at: datetime | None = None,
    ) -> IngestResult:
        """Validate, de-duplicate, encrypt and reduce one app upload (all or nothing)."""
        uploaded_at = uploaded_at or datetime.now(UTC)
        parsed = validate_upload(source, records, now=uploaded_at)
        keep, duplicates = self._new_records(session, customer, source, parsed)
        raw_rows = [self._raw_event(customer, source, rec, uploaded_at, key) for key, rec in keep]
        session.add_all(raw_rows)
        session.flush()
        frame = pd.DataFrame(
            [
                {**rec, "customer_id": str(customer.id), "uploaded_at": uploaded_at}
                for _, rec in keep
            ]
        )
        if len(frame):
            frame["event_time"] = frame.get("event_time", uploaded_at)
            self._add_facts(session, self._device_facts(customer, source, frame))
            self.materialise_customer(session, customer.id, uploaded_at)
        return IngestResult(stored=len(keep), duplicates=duplicates)

    def ingest_identity(
        self,
        session: Session,
        customer: Customer,
        check_type: str,
        passed: bool,
        score: float | None,
        checked_at: datetime,
    ) -> None:
        raw = pd.DataFrame(
            {
                "customer_id": [str(customer.id)],
                "check_type": [check_type],
                "passed": [passed],
                "score": [score],
                "checked_at": [checked_at],
            }
        )
        self._add_facts(session, extract.identity_facts(raw))
        self.materialise_customer(session, customer.id, checked_at)

    def ingest_bureau(
        self,
        session: Session,
        customer: Customer,
        bureau: str,
        report_json: str,
        reported_at: datetime,
        materialise: bool = True,
    ) -> IngestResult:
        """Store a bureau report (encrypted) and its facts; raises `BureauReportError`.
        ``materialise=False``: the caller recomputes the customer's vector itself (once, after
        all of a decision's reports)."""
        raw = pd.DataFrame(
            {
                "customer_id": [str(customer.id)],
                "reported_at": [reported_at],
                "report_json": [report_json],
            }
        )
        parse = pboc_facts if bureau == "pboc" else thirdparty_facts
        facts = parse(raw, self.cipher.blind_index)  # parse before storing anything
        record = {"report_json": report_json}
        keep, duplicates = self._new_records(session, customer, bureau, [record])
        if not keep:
            return IngestResult(0, duplicates)
        session.add(self._raw_event(customer, bureau, record, reported_at, keep[0][0]))
        self._add_facts(session, facts)
        if materialise:
            self.materialise_customer(session, customer.id, reported_at)
        return IngestResult(1, 0)

    def add_bureau_report(self, session: Session, customer: Customer, bureau: str,
                          report_json: str, reported_at: datetime) -> list[one_report.Fact]:
        """`ingest_bureau` for the decision path: one report parsed in plain Python (no
        frame, no Arrow table), stored encrypted with its facts; returns the new facts
        (none for a report already on file). The caller updates the vector with
        `refresh_bureau_features` once all of a decision's reports are in."""
        pending = self.prepare_bureau_reports(session, customer, [(bureau, report_json)],
                                              reported_at)
        self.write_bureau_reports(session, pending)
        return [f for p in pending for f in p.facts]

    def prepare_bureau_reports(self, session: Session, customer: StoredCustomer,
                               reports: list[tuple[str, str]], reported_at: datetime
                               ) -> list[PendingReport]:
        """`add_bureau_report` without the write, for (bureau, report JSON) pairs: each report
        parsed, checked against what is on file (one read for all of them; a duplicate is
        left out) and encrypted, for `write_bureau_reports` later — a decision writes its
        reports with its record, so on SQLite the database write lock is not held while it
        scores (reads only until then)."""
        parsed = []
        for bureau, report_json in reports:
            facts = one_report.report_facts(bureau, report_json, reported_at,
                                             self.cipher.blind_index)  # parse before storing
            record = {"report_json": report_json}
            parsed.append((bureau, record, facts, self._dedupe_key(bureau, record)))
        if not parsed:
            return []
        existing = _stored_keys(session, customer, {bureau for bureau, *_ in parsed},
                                [key for *_, key in parsed])
        return [PendingReport(self._raw_event(customer, bureau, record, reported_at, key), facts)
                for bureau, record, facts, key in parsed if key not in existing]

    @staticmethod
    def write_bureau_reports(session: Session, reports: list[PendingReport]) -> None:
        """Store prepared reports: the encrypted event and its facts (one insert: a Core
        executemany on the table, as every row has every column; the ORM's bulk insert would
        split it by which values are None)."""
        rows = []
        for report in reports:
            session.add(report.event)
            rows += [{"customer_id": report.event.customer_id, "source": f.source,
                      "kind": f.kind, "event_time": f.event_time,
                      "uploaded_at": f.uploaded_at,
                      "value": None if f.value is None or math.isnan(f.value) else f.value,
                      "key": f.key} for f in report.facts]
        if rows:
            session.execute(insert(FeatureFact.__table__), rows)

    def bureau_facts(self, session: Session, customer_id: int) -> list[one_report.Fact]:
        """The customer's PBOC and third-party facts as plain rows (one indexed read)."""
        rows = session.execute(
            select(FeatureFact.source, FeatureFact.kind, FeatureFact.event_time,
                   FeatureFact.uploaded_at, FeatureFact.value, FeatureFact.key).where(
                FeatureFact.customer_id == customer_id,
                FeatureFact.source.in_(one_report.BUREAU_SOURCES))).all()
        return [one_report.Fact(r.source, r.kind, as_utc(r.event_time), as_utc(r.uploaded_at),
                                r.value, r.key) for r in rows]

    def refresh_bureau_features(self, session: Session, customer_id: int, as_of: datetime,
                                facts: list[one_report.Fact],
                                pending: list[PendingReport] | None = None) -> dict[str, Any]:
        """Update the customer's materialised vector after a bureau pull: the bureau
        features recomputed at ``as_of`` from ``facts`` (the customer's bureau facts, new
        reports included) on plain values; the device and identity features, which a bureau
        report does not touch, kept as materialised (the nightly job rolls their windows).
        Without a current vector the whole vector is computed by the batch path (from the
        stored facts: ``pending`` reports are written first)."""
        row = session.scalar(select(FeatureVector).where(
            FeatureVector.entity == "customer", FeatureVector.entity_id == str(customer_id)))
        if row is None or row.catalog_version != self.version:
            if pending:
                self.write_bureau_reports(session, pending)
                pending.clear()
            return self.materialise_customer(session, customer_id, as_of)
        bureau = vector_from_row(one_report.bureau_values(facts, as_of), self.catalog)
        values = {**row.values, **bureau}
        if as_utc(row.as_of) <= as_of:
            row.as_of, row.computed_at, row.values = as_of, datetime.now(UTC), values
        return values

    def import_world(
        self,
        session: Session,
        world: Path,
        customer_refs: list[str] | None = None,
        facts: pd.DataFrame | None = None,
    ) -> dict[str, int]:
        """Register a world's customers (PII encrypted) and load their facts; returns
        world customer id → database id. Used by the demo seed and the parity tests.

        Facts come from `offline.world_facts` — the extractors online ingest runs — so the
        database holds exactly what ingesting each upload would have produced.
        """
        people = offline.read_world_table(world, "customers")
        if customer_refs is not None:
            people = people[people["customer_id"].isin(customer_refs)]
        ids: dict[str, int] = {}
        for r in people.itertuples(index=False):
            profile = CustomerProfile(
                name=r.name,
                id_number=r.id_number,
                phone=r.mobile,
                birth_date=r.birth_date.date(),
                home_lat=r.home_lat,
                home_lon=r.home_lon,
                home_city=r.home_city,
                home_province=r.home_province,
                monthly_income=float(r.monthly_income),
                device_id=None,
                extra={name: getattr(r, name) for name in compute.PROFILE_CATEGORIES},
            )
            ids[r.customer_id] = self.register_customer(
                session, r.customer_id, profile, r.registered_at.to_pydatetime()
            ).id
        facts = facts if facts is not None else offline.world_facts(world, self.cipher.blind_index)
        mine = facts[facts["customer_id"].isin(list(ids))]
        rows = [
            {
                "customer_id": ids[r.customer_id],
                "source": r.source,
                "kind": r.kind,
                "event_time": r.event_time.to_pydatetime(),
                "uploaded_at": r.uploaded_at.to_pydatetime(),
                "value": None if pd.isna(r.value) else float(r.value),
                "key": None if pd.isna(r.key) else r.key,
            }
            for r in mine.itertuples(index=False)
        ]
        if rows:
            session.execute(insert(FeatureFact), rows)
        return ids

    # ---- serving -----------------------------------------------------------------------
    def facts(self, session: Session, customer_ids: list[int], *,
              bulk: bool | None = None) -> pd.DataFrame:
        """Facts of these customers, plus other customers' registrations on shared devices.

        `bulk` (default: on PostgreSQL) reads them by COPY; the same frame either way."""
        ids = list(customer_ids)
        if session.bind.dialect.name == "postgresql" if bulk is None else bulk:
            return _facts_by_copy(session, ids)
        rows = session.execute(
            select(*self._fact_columns()).where(in_ids(FeatureFact.customer_id, ids))
        ).all()
        keys = {r.key for r in rows if r.source == "device" and r.key}
        if keys:
            rows += session.execute(
                select(*self._fact_columns()).where(
                    FeatureFact.source == "device",
                    FeatureFact.key.in_(keys),
                    ~in_ids(FeatureFact.customer_id, ids),
                )
            ).all()
        if not rows:
            return empty_facts()
        frame = pd.DataFrame(rows, columns=FACT_COLUMNS)
        frame["customer_id"] = frame["customer_id"].astype(str)
        return normalise_facts(frame)

    def _entity_row(self, customer: Customer, app: ApplicationInput | None,
                    as_of: datetime, entity_id: str) -> pd.DataFrame:
        row: dict[str, Any] = {"entity_id": entity_id, "customer_id": str(customer.id),
                               "as_of": as_of}
        if app is not None:
            row.update(_application_entity(self.profile(customer), app))
            row["birth_date"] = pd.Timestamp(row["birth_date"])
        return pd.DataFrame([row])

    def application_vector(self, session: Session, app: ApplicationInput,
                           as_of: datetime | None = None) -> dict[str, Any]:
        """Compute every feature from the facts at ``as_of``, materialise and return it."""
        as_of = as_of or datetime.now(UTC)
        customer = self._customer(session, app.customer_id)
        entity = self._entity_row(customer, app, as_of, app.application_id)
        frame = compute.application_features(entity, self.facts(session, [customer.id]),
                                             self.catalog)
        values = vector_from_row(frame.iloc[0], self.catalog)
        self._materialise(session, "application", app.application_id, as_of, values)
        return values

    def materialise_customer(self, session: Session, customer_id: int,
                             as_of: datetime | None = None) -> dict[str, Any]:
        """Recompute and store the customer's evidence features (after an upload or a
        bureau pull, and nightly as windows roll)."""
        as_of = as_of or datetime.now(UTC)
        customer = self._customer(session, customer_id)
        entity = self._entity_row(customer, None, as_of, str(customer.id))
        frame = compute.customer_evidence(entity, self.facts(session, [customer.id]),
                                          self.catalog)
        values = vector_from_row(frame.iloc[0], self.catalog)
        self._materialise(session, "customer", str(customer.id), as_of, values)
        return values

    def decision_vector(self, session: Session, app: ApplicationInput,
                        as_of: datetime | None = None,
                        profile: CustomerProfile | None = None,
                        evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        """What a decision reads: the customer's materialised evidence (one row; computed
        now if absent) plus the application's own terms, computed from the application on
        plain values (no frame for one entity). ``profile``: the customer's, when the caller
        has decrypted it already; ``evidence``: the customer's vector, when the caller has
        just updated it (`refresh_bureau_features`)."""
        as_of = as_of or datetime.now(UTC)
        if evidence is None:
            evidence = self.online(session, "customer", str(app.customer_id))
        if evidence is None:
            evidence = self.materialise_customer(session, app.customer_id, as_of)
        profile = profile or self.profile(self._customer(session, app.customer_id))
        entity = _application_entity(profile, app)
        terms = compute.application_term_values({**entity, "as_of": as_of})
        return {**evidence, **vector_from_row(terms, self.catalog)}

    def _customer(self, session: Session, customer_id: int) -> Customer:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise LookupError(f"no customer {customer_id}")
        return customer

    def online(self, session: Session, entity: str, entity_id: str) -> dict[str, Any] | None:
        """The latest materialised vector (one indexed row read), or None.

        A prebuilt Core statement on the session's connection: through the ORM the same
        read cost ~0.5 ms against ~0.04 ms (measured on SQLite), on every decision. Pending
        changes are flushed first when the session autoflushes, as an ORM query would."""
        if session.autoflush:
            session.flush()
        row = session.connection().execute(
            _ONLINE_READ, {"entity": entity, "entity_id": entity_id}).first()
        if row is None or row.catalog_version != self.version:
            return None
        return row.values

    # ---- internals ---------------------------------------------------------------------
    @staticmethod
    def _aad(table: str, row_id: int | str) -> bytes:
        return f"{table}:{row_id}".encode()

    @staticmethod
    def _fact_columns():
        return [
            FeatureFact.customer_id,
            FeatureFact.source,
            FeatureFact.kind,
            FeatureFact.event_time,
            FeatureFact.uploaded_at,
            FeatureFact.value,
            FeatureFact.key,
        ]

    def _new_records(
        self, session: Session, customer: Customer, source: str, records: list[dict]
    ) -> tuple[list[tuple[str, dict]], int]:
        keyed: dict[str, dict] = {}
        for rec in records:
            keyed.setdefault(self._dedupe_key(source, rec), rec)
        existing = _stored_keys(session, customer, {source}, list(keyed))
        keep = [(k, r) for k, r in keyed.items() if k not in existing]
        return keep, len(records) - len(keep)

    def _dedupe_key(self, source: str, record: dict) -> str:
        canonical = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
        return self.cipher.blind_index(f"{source}|{canonical}")

    def _raw_event(
        self, customer: StoredCustomer, source: str, record: dict, uploaded_at: datetime,
        dedupe_key: str,
    ) -> RawEvent:
        payload = json.dumps(record, default=str, ensure_ascii=False).encode()
        return RawEvent(
            customer_id=customer.id,
            source=source,
            event_time=record.get("event_time", uploaded_at),
            uploaded_at=uploaded_at,
            dedupe_key=dedupe_key,
            # bound to customer + source + key: a payload copied to another row won't open
            payload_enc=self.cipher.encrypt(
                payload, aad=self._aad(f"raw_events:{customer.id}:{source}", dedupe_key)
            ),
        )

    def _device_facts(self, customer: Customer, source: str, frame: pd.DataFrame) -> pd.DataFrame:
        if source == "sms":
            return extract.sms_facts(frame, self.cipher.blind_index)
        if source == "contact":
            return extract.contact_facts(frame)
        if source == "app":
            return extract.app_event_facts(frame)
        p = self.profile(customer)
        if source == "vehicle_gps":
            return extract.vehicle_gps_facts(frame.assign(home_province=p.home_province))
        homes = pd.DataFrame(
            {"customer_id": [str(customer.id)], "home_lat": [p.home_lat], "home_lon": [p.home_lon]}
        )
        kind = "ping" if source == "gps" else "photo"
        return extract.located_facts(frame, homes, source, kind)

    @staticmethod
    def _add_facts(session: Session, facts: pd.DataFrame) -> None:
        session.add_all(
            FeatureFact(
                customer_id=int(r.customer_id),
                source=r.source,
                kind=r.kind,
                event_time=r.event_time.to_pydatetime(),
                uploaded_at=r.uploaded_at.to_pydatetime(),
                value=None if pd.isna(r.value) else float(r.value),
                key=None if pd.isna(r.key) else r.key,
            )
            for r in facts.itertuples(index=False)
        )

    def _materialise(
        self, session: Session, entity: str, entity_id: str, as_of: datetime, values: dict[str, Any]
    ) -> None:
        row = session.scalar(
            select(FeatureVector).where(
                FeatureVector.entity == entity, FeatureVector.entity_id == entity_id
            )
        )
        if row is None:
            row = FeatureVector(entity=entity, entity_id=entity_id)
            session.add(row)
        elif row.catalog_version == self.version and as_utc(row.as_of) > as_of:
            return  # a back-dated upload never replaces a newer vector
        row.as_of, row.computed_at = as_of, datetime.now(UTC)
        row.catalog_version, row.values = self.version, values


#: `FeatureStore.online`'s read, built once
_ONLINE_READ = select(FeatureVector.values, FeatureVector.catalog_version).where(
    FeatureVector.entity == bindparam("entity"), FeatureVector.entity_id == bindparam("entity_id"))


class StoredCustomer(Protocol):
    """What decrypting a profile and storing a customer's reports need of a customer: a
    `Customer`, or a row of those columns read without the ORM (the decision path)."""

    id: int
    pii_enc: bytes


def _application_entity(p: CustomerProfile, app: ApplicationInput) -> dict[str, Any]:
    """The entity columns an application's terms are computed from (profile + application)."""
    return {
        "birth_date": p.birth_date, "monthly_income": p.monthly_income,
        "vehicle_price": app.vehicle_price, "loan_amount": app.loan_amount,
        "down_payment": app.down_payment, "term_months": app.term_months,
        "lease_type": app.lease_type, "dealer_channel": app.dealer_channel,
        "home_lat": p.home_lat, "home_lon": p.home_lon,
        "dealer_lat": app.dealer_lat, "dealer_lon": app.dealer_lon,
        **{name: p.extra.get(name) for name in compute.PROFILE_CATEGORIES},
    }


def _is_missing(value: Any) -> bool:
    """`pd.isna` for the scalars a vector holds (None, NaN), without pandas per value."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _stored_keys(session: Session, customer: Customer, sources: set[str],
                 keys: list[str]) -> set[str]:
    """Which of ``keys`` the customer already has on file for ``sources`` (one indexed read):
    an upload or a bureau report seen before is a duplicate, never stored twice."""
    return set(session.scalars(select(RawEvent.dedupe_key).where(
        RawEvent.customer_id == customer.id, RawEvent.source.in_(sources),
        RawEvent.dedupe_key.in_(keys))))


def vector_from_row(row: pd.Series | dict[str, Any], cat: FeatureCatalog) -> dict[str, Any]:
    """One frame row → a JSON-safe vector: None for missing, int/bool/str by catalog dtype;
    category values outside the catalog's categories count as missing, as in frames."""
    out: dict[str, Any] = {}
    missing = pd.isna if isinstance(row, pd.Series) else _is_missing
    for name in (row.index if isinstance(row, pd.Series) else list(row)):
        if name not in cat:
            continue
        v, dtype = row[name], cat[name].dtype
        if missing(v):
            out[name] = None
        elif dtype == "int":
            out[name] = int(v)
        elif dtype == "bool":
            out[name] = bool(v)
        elif dtype == "category":
            out[name] = str(v) if str(v) in cat[name].categories else None
        else:
            out[name] = float(v)
    return out


def _facts_by_copy(session: Session, ids: list[int]) -> pd.DataFrame:
    """`FeatureStore.facts` on PostgreSQL: the same frame, the customers' own facts read by
    COPY (a nightly run reads the facts of a million customers; one Python row per fact was
    most of its read time); other customers' registrations on shared devices, few, by rows."""
    from chedaitong.db.bulk import id_array, read_frame

    if not ids:
        return empty_facts()
    # timestamps as integer microseconds since the epoch: no text formatted and parsed again
    micros = "(extract(epoch FROM {0}) * 1000000)::bigint AS {0}"
    wanted = id_array(ids)
    frame = read_frame(session.connection(), (
        f"SELECT customer_id, source, kind, {micros.format('event_time')}, "
        f"{micros.format('uploaded_at')}, value, key FROM {FeatureFact.__tablename__} "
        f"WHERE customer_id = ANY({wanted})"),
        **{c: str for c in ("customer_id", "source", "kind", "key")}, value="float64",
        event_time="int64", uploaded_at="int64")
    for col in ("event_time", "uploaded_at"):
        frame[col] = pd.to_datetime(frame[col], unit="us", utc=True)
    keys = set(frame.loc[frame["source"] == "device", "key"].dropna())
    if keys:
        shared = session.execute(
            select(*FeatureStore._fact_columns()).where(
                FeatureFact.source == "device", FeatureFact.key.in_(keys),
                ~in_ids(FeatureFact.customer_id, ids))).all()
        if shared:
            more = pd.DataFrame(shared, columns=FACT_COLUMNS)
            more["customer_id"] = more["customer_id"].astype(str)
            return normalise_facts(pd.concat([normalise_facts(frame), normalise_facts(more)],
                                             ignore_index=True))
    if frame.empty:
        return empty_facts()
    return normalise_facts(frame.reindex(columns=FACT_COLUMNS))
