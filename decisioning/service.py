"""The decision service: gather evidence, read features, decide, record — and replay.

`DecisionService.decide` is what submitting an application calls. Vendors are asked for the
bureau reports first (a vendor that is down or slow leaves a gap, which the rules refer —
never approve blind), then the feature vector is read, `policy.decide` concludes and a
`DecisionRecord` keeps the versions, features, fired rules, score, offers and timings.
`replay` recomputes a record with the versions it names and reports any difference.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row, bindparam, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached

from chedaitong.db import Application, Customer, Dealer, DecisionRecord
from decisioning.guidance import Vehicle, dealer_stock, guide, searches
from decisioning.policy import APPROVE, Outcome, decide, rules_version_of
from decisioning.routing import (
    CHALLENGER,
    CHAMPION,
    Assignment,
    RoutingStore,
    assign,
    routing_record,
)
from featurestore.store import ApplicationInput, CustomerProfile, FeatureStore, PendingReport
from models.errors import ModelError
from models.scoring import ScoringModel, load_challenger, load_champion, load_model
from ruleengine.errors import ReloadError
from ruleengine.rulebook import RuleBook, Serving
from vendors.adapters import Vendors
from vendors.errors import VendorError
from vendors.interfaces import BureauQuery

log = logging.getLogger(__name__)
REPORT_MAX_AGE = timedelta(days=30)  # a fresher bureau report is reused, not re-queried
MODEL_KEYS = ("model_pd", "model_score", "risk_grade")
RELOADS_TOLERATED = 3  # rule reloads during one decision before it fails (and is retried)
#: the second bureau's call runs here while the first runs in the deciding thread
_BUREAU_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="bureau")


# What a decision reads of the customer and the dealer, as prebuilt Core statements on the
# session's connection when the session does not hold the row already (the ORM loads of the
# two rows cost ~1.3 ms a decision, these ~0.13 ms on SQLite). They see what is stored, not
# what is pending in the session: the decision changes neither row before it reads them.
_CUSTOMER_READ = select(Customer.id, Customer.pii_enc, Customer.id_number_index).where(
    Customer.id == bindparam("id"))
_DEALER_READ = select(Dealer.channel, Dealer.lat, Dealer.lon).where(Dealer.id == bindparam("id"))
# The record is written by one Core INSERT: through the unit of work the same row cost
# ~0.45 ms a decision against ~0.25 ms (SQLite; the JSON encoding is ~0.07 ms of either).
_RECORD_INSERT = insert(DecisionRecord)


class ReplayError(LookupError):
    """A record cannot be replayed (unknown id, or a version no longer available)."""


#: ``decide(consent=ON_FILE)``: decide on the evidence already on file and query no bureau
#: (replays, the demo, benchmarks); the origination flows always pass the application's
#: consent, or None when there is none.
ON_FILE: Any = "on-file"


@dataclass(frozen=True)
class ConsentGrant:
    """The customer's credit-inquiry consent a decision may pull bureau reports under (the
    record lives in origination; the service is only told what it covers)."""

    id: int
    bureaus: tuple[str, ...]
    purpose: str
    expires_at: datetime
    revoked: bool = False

    def covers(self, bureau: str, at: datetime) -> bool:
        return not self.revoked and bureau in self.bureaus and at < self.expires_at

    @property
    def ref(self) -> str:
        """What travels in the vendor request as the authorisation reference."""
        return f"consent:{self.id}"


@dataclass
class DecisionService:
    store: FeatureStore
    rules: RuleBook
    model: ScoringModel | None
    challenger: ScoringModel | None = None
    vendors: Vendors | None = None
    model_root: Path | None = None
    rules_archive: Path | None = None
    routing: RoutingStore | None = None  # champion/challenger split; None: champion decides
    guidance: bool = True  # search re-apply options for declines and referrals
    # reload champion and challenger when the registry's aliases change (a promotion made by
    # another process: the analysts' page in one gunicorn worker, the CLI) — `refresh_models`
    follow_registry: bool = False
    _alias_stamp: tuple | None = field(default=None, init=False, repr=False, compare=False)
    _reload_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                         repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.follow_registry:
            self._alias_stamp = self._aliases_stamp()

    # ---- following the registry -------------------------------------------------------
    def _aliases_stamp(self) -> tuple | None:
        """The registry's alias generation (`Registry.generation`)."""
        if self.model_root is None:
            return None
        from models.registry import Registry

        return Registry(self.model_root).generation()

    def refresh_models(self) -> bool:
        """Load the registry's champion and challenger again if its aliases changed since
        they were loaded (True when they were). Called before every decision: every serving
        process follows a promotion at its next decision, at the cost of one ``stat``. A
        version that cannot be loaded leaves the old models serving (logged)."""
        if not self.follow_registry:
            return False
        stamp = self._aliases_stamp()
        if stamp == self._alias_stamp:
            return False
        with self._reload_lock:
            if stamp == self._alias_stamp:
                return False
            self._alias_stamp = stamp  # a broken promotion is logged once, not per decision
            try:
                champion = load_champion(self.model_root)
                challenger = load_challenger(self.model_root)
            except ModelError as exc:
                log.error("registry aliases changed but the models cannot be loaded; the "
                          "previous ones keep serving: %s", exc)
                return False
            old = (self.model and self.model.version, self.challenger and self.challenger.version)
            self.model, self.challenger = champion, challenger
            log.info("models reloaded after an alias change: champion %s → %s, challenger "
                     "%s → %s", old[0], champion.version, old[1],
                     challenger and challenger.version)
            return True

    # ---- deciding ---------------------------------------------------------------------
    def decide(self, session: Session, application: Application,
               as_of: datetime | None = None, *, consent: ConsentGrant | None = ON_FILE,
               platform_features: dict[str, Any] | None = None) -> DecisionRecord:
        """Decide one submitted application and insert its record in ``session``'s transaction
        (returned detached: `_stored_record`).

        Bureau reports are pulled only under ``consent`` (each bureau it covers, while it is
        live); without one nothing is sent to a bureau and ``consent_valid`` is false, which
        the underwriting rules refer. ``platform_features`` are the platform's own books
        (exposure, velocity: `origination.exposure`), recorded with the rest.
        """
        started = time.perf_counter()
        self.refresh_models()
        as_of = as_of or datetime.now(UTC)
        pending: list[PendingReport] = []
        # Reads only until the record: the new bureau reports, the vector's update and the
        # record are written together at the end (no autoflush before), so on SQLite the
        # write lock is taken after the scoring, rules and guidance, not before them.
        with session.no_autoflush:
            # the origination flow has loaded the customer already: no second read then
            customer = session.identity_map.get(
                Session.identity_key(Customer, application.customer_id)
            ) or session.connection().execute(_CUSTOMER_READ,
                                              {"id": application.customer_id}).one()
            profile = self.store.profile(customer)  # decrypted once per decision
            gaps, evidence = self._gather_bureau_evidence(session, customer, as_of, consent,
                                                          profile, pending)
            t_evidence = time.perf_counter()
            features = self.store.decision_vector(session, self._input(session, application),
                                                  as_of, profile=profile, evidence=evidence)
            features.update(platform_features or {})
            if consent is not ON_FILE:
                features["consent_valid"] = (consent is not None
                                             and consent.covers("pboc", as_of))
            t_features = time.perf_counter()
            deciding, shadow, routing = self._route(customer, features)
            result, guidance, serving = self._decide_on_one_version(
                session, application, features, deciding, shadow)
            routing["decided_by"] = result.model_version
            self._archive_rules(result.rules_version, serving)
            timings = {"evidence": (t_evidence - started) * 1e3,
                       "features": (t_features - t_evidence) * 1e3, **result.timings_ms,
                       "total": (time.perf_counter() - started) * 1e3}
            if guidance is not None:
                timings["guidance"] = guidance["latency_ms"]
        if pending:
            self.store.write_bureau_reports(session, pending)
        session.flush()  # what is pending (new reports, the vector's update) goes first
        values = dict(
            application_id=application.id, decided_at=datetime.now(UTC), as_of=as_of,
            outcome=result.outcome, rules_version=result.rules_version,
            model_version=result.model_version, challenger_version=result.challenger_version,
            features=result.features, fired_rules=result.fired_rules, model=result.model,
            challenger=result.challenger, offers=result.offers, reasons=result.reasons,
            evidence_gaps=gaps, timings_ms=timings, guidance=guidance, routing=routing,
            consent_id=consent.id if isinstance(consent, ConsentGrant) else None,
        )
        [record_id] = session.connection().execute(_RECORD_INSERT, values).inserted_primary_key
        return _stored_record(record_id, values)

    def _decide_on_one_version(self, session: Session, application: Application,
                               features: dict[str, Any], deciding: ScoringModel | None,
                               shadow: ScoringModel | None
                               ) -> tuple[Outcome, dict[str, Any] | None, Serving]:
        """(outcome, guidance, the rules serving) with the decision and its re-apply search
        run on one set of rule versions: a reload that lands between them (the analyst's
        SIGHUP, any time) would record versions some of the rules did not run on, so the
        pair is run again on the new set — a reload is rare, three in one decision an error."""
        for _ in range(RELOADS_TOLERATED):
            serving = self.rules.serving()
            result = decide(features, self.rules, deciding, shadow)
            guidance = self._guidance(session, application, result, deciding)
            if self.rules.serving() is serving:
                return result, guidance, serving
        raise ReloadError(f"the rules were reloaded {RELOADS_TOLERATED} times during one "
                          "decision; it is retried")

    def _route(self, customer: Row, features: dict[str, Any]
               ) -> tuple[ScoringModel | None, ScoringModel | None, dict[str, Any]]:
        """(deciding model, shadow model, routing record): the challenger decides for the
        customers its policy's share and segment give it, the champion shadows them."""
        policy = self.routing.policy() if self.routing is not None else None
        arm = assign(policy, customer.id_number_index, features)
        deciding, shadow = self.model, self.challenger
        if arm.arm == CHALLENGER:
            if self.challenger is None or self.model is None:
                arm = Assignment(CHAMPION, arm.bucket, arm.in_segment)
            else:
                deciding, shadow = self.challenger, self.model
        return deciding, shadow, routing_record(
            policy, arm, champion=self.model and self.model.version,
            challenger=self.challenger and self.challenger.version, decided_by=None)

    def _guidance(self, session: Session, application: Application, result: Outcome,
                  model: ScoringModel | None) -> dict[str, Any] | None:
        """Re-apply options for a decline or referral (None for an approval), searched with
        the model that decided."""
        if result.outcome == APPROVE or not self.guidance:
            return None
        # the stock is read only for a search that uses it; without one it is recorded as
        # [] (a replay of a record without a search does not search either)
        stock = (dealer_stock(session, application)
                 if searches(result.features, self.rules, model, result.fired_rules) else [])
        return guide(result.features, self.rules, model, fired=result.fired_rules,
                     vehicle={"vehicle_brand": application.vehicle_brand,
                              "vehicle_model": application.vehicle_model},
                     stock=stock).as_record()

    def _input(self, session: Session, app: Application) -> ApplicationInput:
        dealer = session.connection().execute(_DEALER_READ, {"id": app.dealer_id}).one()
        return ApplicationInput(
            application_id=app.ref, customer_id=app.customer_id,
            vehicle_price=float(app.vehicle_price), loan_amount=float(app.loan_amount),
            down_payment=float(app.down_payment), term_months=app.term_months,
            lease_type=app.lease_type, dealer_channel=dealer.channel,
            dealer_lat=dealer.lat if dealer.lat is not None else float("nan"),
            dealer_lon=dealer.lon if dealer.lon is not None else float("nan"),
        )

    def _gather_bureau_evidence(self, session: Session, customer: Row, as_of: datetime,
                                consent: Any, profile: CustomerProfile | None,
                                pending: list[PendingReport]
                                ) -> tuple[list[str], dict[str, Any] | None]:
        """Pull PBOC and third-party reports the consent covers unless a fresh one is on
        file; return the gaps and, when new reports were stored, the customer's evidence
        vector updated with them (None: the materialised one stands). The new reports are
        appended to ``pending`` for the caller to write with its record.

        A bureau the consent does not cover (or no live consent) is never queried: a
        ``<bureau>_no_consent`` gap. Both bureaus are asked at once, and nothing is written
        until both answered: the decision waits for the slower bureau, not their sum, and no
        database write lock is held across a vendor call. A vendor failure is not an error
        here: the decision goes on without that evidence and the missing-evidence rules refer
        it to a person. The customer's bureau facts are read once, as plain rows: they say
        which reports are fresh, and with the new reports' facts they give the bureau
        features (`FeatureStore.refresh_bureau_features`, no frame for one customer).
        """
        gaps: list[str] = []
        if consent is ON_FILE:
            return gaps, None
        if consent is None or not consent.covers("pboc", as_of):
            gaps.append("consent_missing")
        if self.vendors is None:
            return gaps, None
        profile = profile or self.store.profile(customer)
        facts = self.store.bureau_facts(session, customer.id)
        wanted = []
        for bureau, vendor in (("pboc", self.vendors.pboc),
                               ("thirdparty", self.vendors.third_party)):
            if consent is None or not consent.covers(bureau, as_of):
                gaps.append(f"{bureau}_no_consent")
            elif not _has_fresh_report(facts, bureau, as_of):
                wanted.append((bureau, vendor))

        def pull(bureau: str, vendor: Any) -> Any:
            query = BureauQuery(name=profile.name, id_number=profile.id_number,
                                phone=profile.phone, authorization_ref=consent.ref,
                                idempotency_key=f"{bureau}:{consent.ref}")
            try:
                return vendor.query(query)
            except VendorError as exc:
                log.warning("bureau %s unavailable for customer %s: %s", bureau, customer.id,
                            type(exc).__name__)
                return None

        others = [_BUREAU_POOL.submit(pull, b, v) for b, v in wanted[1:]]
        answers = [pull(*wanted[0])] if wanted else []
        answers += [f.result() for f in others]
        received = []
        for (bureau, _), report in zip(wanted, answers, strict=True):
            if report is None:
                gaps.append(f"{bureau}_unavailable")
            elif not report.found or not report.report_json:
                gaps.append(f"{bureau}_no_file")
            else:
                received.append((bureau, report.report_json))
        # Stamped with when we pulled them: that is what freshness and point-in-time
        # visibility are about (a sandbox may answer with a historical report date).
        writes = self.store.prepare_bureau_reports(session, customer, received, as_of)
        if not writes:
            return gaps, None
        new = [f for w in writes for f in w.facts]
        values = self.store.refresh_bureau_features(session, customer.id, as_of, facts + new,
                                                    pending=writes)
        pending += writes  # empty when the vector's rebuild had to write them first
        return gaps, values

    # ---- replay -----------------------------------------------------------------------
    def replay(self, session: Session, record_id: int) -> list[str]:
        """Recompute a recorded decision with its own versions and features; list differences."""
        record = session.get(DecisionRecord, record_id)
        if record is None:
            raise ReplayError(f"no decision record {record_id}")
        book = self._book_for(record.rules_version)
        model = self._model_for(record.model_version)
        challenger = self._model_for(record.challenger_version)
        features = {k: v for k, v in record.features.items() if k not in MODEL_KEYS}
        again = decide(features, book, model, challenger)
        recorded = Outcome(
            outcome=record.outcome, rules_version=record.rules_version,
            model_version=record.model_version, features=record.features,
            fired_rules=record.fired_rules, model=record.model, challenger=record.challenger,
            challenger_version=record.challenger_version, offers=record.offers,
            reasons=record.reasons,
        ).comparable()
        diffs = [f"{key}: recorded {recorded[key]!r}, replayed {value!r}"
                 for key, value in _normalised(again.comparable()).items()
                 if _normalised(recorded)[key] != value]
        if record.guidance is not None:
            inputs = record.guidance.get("inputs", {})
            options = guide(record.features, book, model, fired=record.fired_rules,
                            vehicle=inputs.get("vehicle"),
                            stock=[Vehicle.from_dict(v) for v in inputs.get("stock", [])]
                            ).as_record()["options"]
            if _normalised(options) != _normalised(record.guidance.get("options")):
                diffs.append(f"guidance: recorded {record.guidance.get('options')!r}, "
                             f"replayed {options!r}")
        return diffs

    def _book_for(self, version: str) -> RuleBook:
        if version == rules_version_of(self.rules):
            return self.rules
        archived = self._archive_dir(version)
        if archived is None or not archived.exists():
            raise ReplayError(f"rules version {version} is not archived")
        return RuleBook(archived, catalog=self.rules.catalog)

    def _model_for(self, version: str | None) -> ScoringModel | None:
        if version is None:
            return None
        for loaded in (self.model, self.challenger):
            if loaded is not None and loaded.version == version:
                return loaded
        try:
            return load_model(version, self.model_root)
        except ModelError as exc:
            raise ReplayError(f"model version {version} cannot be loaded: {exc}") from None

    def _archive_dir(self, version: str) -> Path | None:
        if self.rules_archive is None:
            return None
        return self.rules_archive / hashlib.sha256(version.encode()).hexdigest()[:16]

    def _archive_rules(self, version: str, serving: Serving) -> None:
        """Keep the rule files each recorded version was decided with — their bytes as
        loaded, not the directory now (an analyst may have edited a file since, not yet
        reloaded). Written aside and renamed, so concurrent decisions archive it once."""
        target = self._archive_dir(version)
        if target is None or target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        for name, data in serving.files.items():
            (tmp / name).write_bytes(data)
        try:
            tmp.rename(target)
        except OSError:  # another decision archived it first
            shutil.rmtree(tmp, ignore_errors=True)


def _stored_record(record_id: int, values: dict[str, Any]) -> DecisionRecord:
    """The record just inserted, as a detached object (the row exists; no session holds
    it): a record is never changed, so nothing needs the unit of work to track it, and a
    rolled-back transaction leaves no stale object behind in the session's identity map."""
    record = DecisionRecord(id=record_id, **values)
    make_transient_to_detached(record)
    return record


def _has_fresh_report(facts: list[Any], bureau: str, as_of: datetime) -> bool:
    """A report of ``bureau`` reached us within `REPORT_MAX_AGE` before ``as_of``."""
    newest = max((f.uploaded_at for f in facts if f.source == bureau and f.uploaded_at <= as_of),
                 default=None)
    return newest is not None and as_of - newest <= REPORT_MAX_AGE


def _normalised(d: dict[str, Any]) -> dict[str, Any]:
    """JSON round-trip, so floats/ints/tuples compare as the database stored them."""
    return json.loads(json.dumps(d, sort_keys=True, default=str))
