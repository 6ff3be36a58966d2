"""What each sandbox vendor answers: from the synthetic world when one is loaded, otherwise a
deterministic function of a hash of the inputs (same question, same answer, across runs).

A person the world does not know, or an ID number failing its GB 11643 check digit, is "not
found" — the answer real vendors give for stale or invented identities.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chedaitong_sim.sandbox.world import CST, Check, World
from vendors.interfaces import Verdict

LIVENESS_THRESHOLD = 0.70
INSTITUTIONS = ("工商银行", "建设银行", "招商银行", "中信银行", "光大银行", "平安普惠",
                "捷信消费金融", "马上消费金融", "微众银行", "车贷通融资租赁有限公司")
LOAN_TYPES = ("mortgage", "auto", "consumer", "business")
INQUIRY_REASONS = ("loan_approval", "credit_card_approval", "guarantee_review", "self_query")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number_valid(id_number: str) -> bool:
    """GB 11643-1999: 17 digits and an ISO 7064 MOD 11-2 check character."""
    if len(id_number) != 18 or not id_number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(id_number[:17], _WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == id_number[17].upper()


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) determined by ``parts``."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def _ref(prefix: str, *parts: object) -> str:
    return prefix + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16].upper()


@dataclass(frozen=True)
class CheckAnswer:
    verdict: Verdict
    code: str
    message: str


@dataclass(frozen=True)
class LivenessAnswer:
    passed: bool
    score: float
    code: str
    message: str


@dataclass(frozen=True)
class ReportAnswer:
    report_id: str
    reported_at: datetime
    report_json: str


ID_MATCH = CheckAnswer(Verdict.MATCH, "0000", "一致")
ID_MISMATCH = CheckAnswer(Verdict.MISMATCH, "2002", "姓名与身份证号不一致")
ID_NOT_FOUND = CheckAnswer(Verdict.NOT_FOUND, "2001", "库中无此号")
CARD_MATCH = CheckAnswer(Verdict.MATCH, "0000", "四要素一致")
CARD_MISMATCH = CheckAnswer(Verdict.MISMATCH, "1001", "四要素不一致")
CARD_NOT_FOUND = CheckAnswer(Verdict.NOT_FOUND, "1002", "无此身份信息")
NO_PHOTO = LivenessAnswer(False, 0.0, "3002", "无留存照片")


class Oracle:
    def __init__(self, world: World | None = None) -> None:
        self.world = world

    # -- identity -------------------------------------------------------------------------
    def id_check(self, name: str, id_number: str) -> CheckAnswer:
        if not id_number_valid(id_number):
            return ID_NOT_FOUND
        if self.world is None:
            u = unit("id_check", id_number)
            return ID_NOT_FOUND if u < 0.003 else ID_MISMATCH if u < 0.006 else ID_MATCH
        person = self.world.person(id_number)
        if person is None:
            return ID_NOT_FOUND
        if person.name and person.name != name:
            return ID_MISMATCH
        history = self.world.check_history(person.customer_id, "id_card")
        if history and not history[-1].passed:
            return CheckAnswer(Verdict.NOT_FOUND, history[-1].code or ID_NOT_FOUND.code,
                               history[-1].message or ID_NOT_FOUND.message)
        return ID_MATCH

    def liveness(self, id_number: str, selfie: bytes, attempt: int) -> LivenessAnswer:
        """``attempt`` (0-based, per ID number) replays the world's attempts in order."""
        if not id_number_valid(id_number):
            return NO_PHOTO
        if self.world is not None:
            person = self.world.person(id_number)
            if person is None:
                return NO_PHOTO
            history = self.world.check_history(person.customer_id, "liveness")
            if history:
                return _liveness_from(history[min(attempt, len(history) - 1)])
        u = unit("liveness", id_number, hashlib.sha256(selfie).hexdigest())
        score = round(0.985 - 0.45 * u**6, 4)
        return _liveness(score >= LIVENESS_THRESHOLD, score)

    def four_element(self, name: str, id_number: str, card: str, phone: str,
                     attempt: int) -> CheckAnswer:
        if not id_number_valid(id_number):
            return CARD_NOT_FOUND
        if self.world is None:
            return CARD_MISMATCH if unit("4e", name, id_number, card, phone) < 0.04 else CARD_MATCH
        person = self.world.person(id_number)
        if person is None:
            return CARD_NOT_FOUND
        if (person.name and person.name != name) or (person.phone and person.phone != phone):
            return CARD_MISMATCH
        history = self.world.check_history(person.customer_id, "four_element")
        if history:
            row = history[min(attempt, len(history) - 1)]
            if not row.passed:
                return CheckAnswer(Verdict.MISMATCH, row.code or CARD_MISMATCH.code,
                                   row.message or CARD_MISMATCH.message)
        return CARD_MATCH

    # -- bureaus --------------------------------------------------------------------------
    def pboc(self, name: str, id_number: str, as_of: datetime | None,
             reason: str = "loan_approval") -> ReportAnswer | None:
        """None: no credit file (thin-file customer, unknown person or invalid ID)."""
        if not id_number_valid(id_number):
            return None
        if self.world is not None:
            return self._world_report("pboc", id_number, as_of)
        if unit("pboc-file", id_number) < 0.08:
            return None
        when = _day(as_of)
        body = _pboc_body(name, id_number, when, reason)
        return ReportAnswer(body["report_id"], when, _dump(body))

    def third_party(self, name: str, id_number: str,
                    as_of: datetime | None) -> tuple[ReportAnswer, dict[str, Any]] | None:
        """The report and its headline fields (score, blacklist, multi_lending_platforms)."""
        if not id_number_valid(id_number):
            return None
        if self.world is not None:
            report = self._world_report("third_party", id_number, as_of)
            return None if report is None else (report, headline(report.report_json))
        if unit("tp-file", id_number) < 0.03:
            return None
        when = _day(as_of)
        body = _third_party_body(id_number, when)
        return ReportAnswer(body["report_id"], when, _dump(body)), headline(_dump(body))

    def _world_report(self, bureau: str, id_number: str,
                      as_of: datetime | None) -> ReportAnswer | None:
        assert self.world is not None
        person = self.world.person(id_number)
        if person is None:
            return None
        report = self.world.report(bureau, person.customer_id, as_of)
        if report is None:
            return None
        return ReportAnswer(report.report_id, report.reported_at, report.report_json)


def headline(report_json: str) -> dict[str, Any]:
    """Score, blacklist flag and multi-lending count from a third-party report, looked up under
    the names vendors use; absent fields are None."""
    try:
        data = json.loads(report_json)
    except ValueError:
        return {"score": None, "blacklist": None, "multi_lending_platforms": None}
    data = data if isinstance(data, dict) else {}

    def pick(*keys: str) -> Any:
        return next((data[k] for k in keys if k in data), None)

    score = pick("score", "tp_score", "credit_score")
    blacklist = pick("blacklist", "blacklisted", "hit_blacklist")
    if isinstance(blacklist, dict):  # {"hit": true, "types": [...]}
        blacklist = blacklist.get("hit")
    multi = pick("multi_lending_platforms", "multi_lending", "multi_lending_count")
    if isinstance(multi, dict):  # counts per window: the 90-day platform count is the headline
        counts = {k: v for k, v in multi.items() if isinstance(v, int | float)}
        multi = counts.get("platforms_90d", max(
            (v for k, v in counts.items() if "platform" in k), default=None))
    return {
        "score": int(score) if isinstance(score, int | float) else None,
        "blacklist": bool(blacklist) if blacklist is not None else None,
        "multi_lending_platforms": int(multi) if isinstance(multi, int | float) else None,
    }


def _liveness(passed: bool, score: float) -> LivenessAnswer:
    return LivenessAnswer(passed, score, "0000" if passed else "3001",
                          "活体通过" if passed else "活体未通过")


def _liveness_from(row: Check) -> LivenessAnswer:
    score = row.score if row.score is not None else (0.9 if row.passed else 0.4)
    return _liveness(row.passed, round(score, 4))


def _day(as_of: datetime | None) -> datetime:
    """Without ``as_of`` a report is dated to the day, so repeated queries get the same report."""
    if as_of is not None:
        return as_of.astimezone(UTC)
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _local(when: datetime) -> datetime:
    """Reports state times in China Standard Time, without an offset (as the world does)."""
    return when.astimezone(CST).replace(tzinfo=None)


def _months_back(when: datetime, months: int) -> date:
    y, m = divmod(when.year * 12 + when.month - 1 - months, 12)
    return date(y, m + 1, min(when.day, 28))


def _history(u: Callable[..., float], key: object, opened: date, when: datetime,
             risk: float) -> tuple[str, int]:
    """24-month repayment string (oldest first; "/" not yet open, "N" current, "1".."7" months
    late) and the current months late."""
    chars, level = [], 0
    for k in range(23, -1, -1):
        if _months_back(when, k) < opened:
            chars.append("/")
            level = 0
            continue
        x = u("late", key, k)
        if level == 0:
            level = int(x < risk**6 / 3)  # the riskiest fall behind ~1 month in 3
        elif x < 0.45:
            level = 0  # cured
        elif x < 0.75:
            level = min(level + 1, 7)  # rolled one month deeper; otherwise stays
        chars.append(str(level) if level else "N")
    return "".join(chars), level


def _pboc_body(name: str, id_number: str, when: datetime, reason: str) -> dict[str, Any]:
    """A report in the synthetic world's layout: cards, loans and inquiries (amounts in yuan)."""

    def u(*p: object) -> float:
        return unit("pboc", id_number, *p)

    risk = u("risk")
    today = _local(when).date()
    cards, loans = [], []
    for i in range(int(u("cards") * 5)):
        opened = today - timedelta(days=int(60 + u("open", i) * 3600))
        limit = (10 + int(u("limit", i) * 50)) * 1000
        repay, late = _history(u, ("c", i), opened, when, risk)
        cards.append({
            "account_id": f"A{int(u('acct', i) * 1e8):08d}",
            "institution": INSTITUTIONS[int(u("inst", i) * len(INSTITUTIONS))],
            "opened_on": opened.isoformat(), "credit_limit": limit,
            "balance": int(limit * u("util", i) ** (1.6 - risk)), "status": "active",
            "overdue_months": late, "overdue_amount": late * limit // 20,
            "repayment_24m": repay,
        })
    for i in range(int(u("loans") * 3)):
        term = (12, 24, 36, 60)[int(u("term", i) * 4)]
        opened = today - timedelta(days=int(30 + u("lopen", i) * 1800))
        principal = (20 + int(u("amount", i) * 280)) * 1000
        elapsed = min(term, (today - opened).days // 30)
        payment = round(principal * 1.08 / term)
        repay, late = _history(u, ("l", i), opened, when, risk)
        loans.append({
            "account_id": f"A{int(u('lacct', i) * 1e8):08d}",
            "institution": INSTITUTIONS[int(u("linst", i) * len(INSTITUTIONS))],
            "loan_type": LOAN_TYPES[int(u("ltype", i) * len(LOAN_TYPES))],
            "opened_on": opened.isoformat(),
            "due_on": (opened + timedelta(days=term * 30)).isoformat(),
            "principal": principal, "balance": principal * (term - elapsed) // term,
            "monthly_payment": payment, "status": "open" if elapsed < term else "closed",
            "overdue_months": late, "overdue_amount": late * payment, "repayment_24m": repay,
        })
    inquiries = [
        {
            "date": (today - timedelta(days=int(u("inq-day", i) * 730))).isoformat(),
            "institution": INSTITUTIONS[int(u("inq-org", i) * len(INSTITUTIONS))],
            "reason": INQUIRY_REASONS[int(u("r", i) * len(INQUIRY_REASONS))],
        }
        for i in range(int(u("inq") ** 2 * 8 + risk * 4))
    ]
    return {
        "report_id": _ref("PB", id_number, when.isoformat()),
        "report_time": _local(when).isoformat(timespec="seconds"),
        "query_reason": reason,
        "subject": {"name": name, "id_number": id_number},
        "loans": loans, "cards": cards,
        "inquiries": sorted(inquiries, key=lambda q: q["date"]),
    }


def _third_party_body(id_number: str, when: datetime) -> dict[str, Any]:
    """The world's third-party layout: score 300-900 (higher is safer), risk level, blacklist
    hits and multi-lending counts."""
    risk = unit("tp-risk", id_number)
    ml = unit("tp-ml", id_number)
    score = int(900 - 600 * risk**1.5)
    blacklist = risk > 0.985
    court = unit("tp-court", id_number) < 0.01
    ml90 = int(ml**3 * 10 + (risk > 0.7) * 3)
    return {
        "report_id": _ref("TP", id_number, when.isoformat()),
        "score": score,
        "risk_level": "low" if score >= 650 else "medium" if score >= 550 else "high",
        "blacklist": {"hit": blacklist or court,
                      "types": ["overdue_blacklist"] * blacklist + ["court_dishonest"] * court},
        "multi_lending": {"platforms_7d": int(ml90 * ml**3 * 0.5),
                          "platforms_30d": int(ml90 * ml * 0.6), "platforms_90d": ml90,
                          "applications_90d": ml90 + int(unit("tp-apps", id_number) * 3)},
    }
