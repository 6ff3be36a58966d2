"""The synthetic world as the sandbox vendors see it: who exists (by ID number), how their
identity checks went, and their bureau reports over time.

Loaded defensively from the generator's Parquet tables (``<name>.parquet`` files or dataset
folders): alternative table and column names are accepted, and a missing table or column just
leaves that part of the world empty (the sandbox then answers from its hash oracle).
"""

from __future__ import annotations

import bisect
import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

log = logging.getLogger("chedaitong_sim.sandbox")
CST = timezone(timedelta(hours=8), "CST")

TABLES = {
    "customers": ("customers",),
    "checks": ("identity_checks", "checks", "identity"),
    "pboc": ("bureau_pboc", "pboc_reports", "pboc"),
    "third_party": ("bureau_thirdparty", "bureau_third_party", "thirdparty_reports",
                    "third_party_reports"),
    "bureau": ("bureau_reports", "bureau"),  # one table for both, told apart by a column
}
CHECK_TYPES = {
    "id_card": "id_card", "idcard": "id_card", "id_check": "id_card",
    "liveness": "liveness", "face": "liveness",
    "four_element": "four_element", "bank_card_4e": "four_element",
    "four_elements": "four_element", "bank_card": "four_element",
}
PASS_WORDS = {"pass", "passed", "true", "1", "match", "ok", "success", "y", "yes"}


@dataclass(frozen=True)
class Person:
    customer_id: str
    name: str | None
    phone: str | None


@dataclass(frozen=True)
class Check:
    passed: bool
    score: float | None
    code: str | None
    message: str | None


@dataclass(frozen=True)
class Report:
    report_id: str
    reported_at: datetime
    report_json: str


@dataclass
class World:
    people: dict[str, Person] = field(default_factory=dict)
    checks: dict[tuple[str, str], list[Check]] = field(default_factory=dict)
    reports: dict[tuple[str, str], list[Report]] = field(default_factory=dict)

    def person(self, id_number: str) -> Person | None:
        return self.people.get(id_number)

    def check_history(self, customer_id: str, check_type: str) -> list[Check]:
        return self.checks.get((customer_id, check_type), [])

    def report(self, bureau: str, customer_id: str, as_of: datetime | None) -> Report | None:
        """The latest report at ``as_of`` (default: the latest of all)."""
        rows = self.reports.get((bureau, customer_id))
        if not rows:
            return None
        if as_of is None:
            return rows[-1]
        i = bisect.bisect_right([r.reported_at for r in rows], as_of)
        return rows[i - 1] if i else None

    def summary(self) -> dict[str, int]:
        return {
            "people": len(self.people),
            "checks": sum(len(v) for v in self.checks.values()),
            "reports": sum(len(v) for v in self.reports.values()),
        }

    @classmethod
    def load(cls, directory: str | Path) -> World | None:
        """The world in ``directory``, or None when it has no usable customers table."""
        root = Path(directory)
        customers = _read(root, "customers", ["customer_id", "id_number", "name", "full_name",
                                              "phone", "mobile", "mobile_phone"])
        if customers is None or not {"customer_id", "id_number"} <= set(customers.columns):
            log.warning("sandbox: no customers table with customer_id and id_number in %s; "
                        "answering from the hash oracle", root)
            return None
        world = cls()
        name_col = _first(customers, "name", "full_name")
        phone_col = _first(customers, "phone", "mobile", "mobile_phone")
        for row in customers.itertuples(index=False):
            rec = row._asdict()
            id_number = _text(rec["id_number"])
            if id_number:
                world.people[id_number.upper()] = Person(
                    _text(rec["customer_id"]) or "", _text(rec.get(name_col)),
                    _text(rec.get(phone_col)),
                )
        world._load_checks(root)
        world._load_reports(root)
        log.info("sandbox: world %s loaded: %s", root, world.summary())
        return world

    def _load_checks(self, root: Path) -> None:
        wanted = ["customer_id", "check_type", "passed", "result", "score", "result_code", "code",
                  "message", "requested_at", "checked_at", "created_at", "check_id"]
        frame = _read(root, "checks", wanted)
        if frame is None or not {"customer_id", "check_type"} <= set(frame.columns):
            return
        order = [c for c in ("requested_at", "checked_at", "created_at", "check_id")
                 if c in frame.columns]
        if order:
            frame = frame.sort_values(["customer_id", *order], kind="stable")
        checks: dict[tuple[str, str], list[Check]] = defaultdict(list)
        code_col = _first(frame, "result_code", "code")
        for row in frame.itertuples(index=False):
            rec = row._asdict()
            kind = CHECK_TYPES.get(str(rec["check_type"]).lower())
            if kind is None:
                continue
            verdict = rec.get("passed", rec.get("result"))
            checks[(_text(rec["customer_id"]) or "", kind)].append(Check(
                passed=_text(verdict).lower() in PASS_WORDS if verdict is not None else False,
                score=_number(rec.get("score")), code=_text(rec.get(code_col)),
                message=_text(rec.get("message")),
            ))
        self.checks = dict(checks)

    def _load_reports(self, root: Path) -> None:
        wanted = ["customer_id", "report_id", "reported_at", "report_date", "requested_at",
                  "report_json", "report", "payload", "bureau", "source"]
        frames = {b: _read(root, b, wanted) for b in ("pboc", "third_party")}
        combined = _read(root, "bureau", wanted)
        kind_col = _first(combined, "bureau", "source") if combined is not None else None
        if combined is not None and kind_col:
            is_pboc = combined[kind_col].astype(str).str.lower().str.contains("pboc")
            frames["pboc"] = frames["pboc"] if frames["pboc"] is not None else combined[is_pboc]
            if frames["third_party"] is None:
                frames["third_party"] = combined[~is_pboc]
        reports: dict[tuple[str, str], list[Report]] = defaultdict(list)
        naive_tz = _naive_tz(root)
        for bureau, frame in frames.items():
            if frame is None:
                continue
            when_col = _first(frame, "reported_at", "report_date", "requested_at")
            body_col = _first(frame, "report_json", "report", "payload")
            if "customer_id" not in frame.columns or not when_col or not body_col:
                log.warning("sandbox: %s reports lack customer_id/reported_at/report_json", bureau)
                continue
            for i, row in enumerate(frame.itertuples(index=False)):
                rec = row._asdict()
                body = rec[body_col]
                if body is None:
                    continue
                text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
                prefix = "PB" if bureau == "pboc" else "TP"
                reports[(bureau, _text(rec["customer_id"]) or "")].append(Report(
                    report_id=_text(rec.get("report_id")) or f"{prefix}W{i:09d}",
                    reported_at=_timestamp(rec[when_col], naive_tz), report_json=text,
                ))
        for rows in reports.values():
            rows.sort(key=lambda r: r.reported_at)
        self.reports = dict(reports)


def _locate(root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for candidate in (root / f"{name}.parquet", root / name):
            if candidate.exists():
                return candidate
    for name in names:
        found = sorted(root.rglob(f"{name}.parquet"))
        if found:
            return found[0]
    return None


def _read(root: Path, table: str, columns: list[str]) -> pd.DataFrame | None:
    """The wanted columns that exist, as pandas; None when the table is missing or unreadable."""
    path = _locate(root, TABLES[table])
    if path is None:
        return None
    try:
        dataset = ds.dataset(path, format="parquet")
        present = [c for c in columns if c in dataset.schema.names]
        return dataset.to_table(columns=present).to_pandas()
    except Exception as exc:  # a half-written or foreign file must not stop the sandbox
        log.warning("sandbox: cannot read %s: %s", path, exc)
        return None


def _first(frame: pd.DataFrame | None, *names: str) -> str | None:
    if frame is None:
        return None
    return next((n for n in names if n in frame.columns), None)


def _text(value: Any) -> str | None:
    """Strings as they are; integral numbers (phones stored as int64) without a decimal point."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _timestamp(value: Any, naive_tz: tzinfo) -> datetime:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize(naive_tz) if ts.tzinfo is None else ts
    return ts.tz_convert(UTC).to_pydatetime()


def _naive_tz(root: Path) -> tzinfo:
    """Zone of naive timestamps: China Standard Time, as the generator's manifest states
    ("naive China Standard Time (UTC+8)"), unless the manifest says plain UTC."""
    try:
        note = str(json.loads((root / "manifest.json").read_text("utf-8")).get("timestamps", ""))
    except (OSError, ValueError, AttributeError):
        note = ""
    if "UTC" in note and "+8" not in note and "China" not in note:
        return UTC
    return CST
