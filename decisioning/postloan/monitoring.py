"""What the post-loan runs show collectors and analysts: the recent finished runs, counts per
action, and the delinquency roll rate (share of loans moving to a worse bucket between
consecutive runs). Empty, not an error, when servicing has not run (or its tables are
missing)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from chedaitong.db.servicing import DelinquencySnapshot, PostloanRun

BUCKETS = ("M0", "M1", "M2", "M3", "M3+")
MAX_RUNS = 30


def recent_runs(*, session: Session, limit: int = MAX_RUNS) -> list[PostloanRun]:
    """The last finished runs, oldest first ([] when the servicing tables are not there)."""
    try:
        rows = session.scalars(select(PostloanRun).where(PostloanRun.status == "finished")
                               .order_by(PostloanRun.as_of.desc()).limit(limit)).all()
    except SQLAlchemyError:
        session.rollback()
        return []
    return list(reversed(rows))


def action_totals(report: dict[str, Any]) -> dict[str, int]:
    """{action: count over every send status} from a run report's ``by_action``."""
    return {a: sum(int(n) for n in (by or {}).values())
            for a, by in sorted((report.get("by_action") or {}).items())}


def roll_rates(transitions: Sequence[tuple[date, Counter]],
               labels: Sequence[str] = BUCKETS) -> dict[str, list[float | None]]:
    """Per starting bucket (but the worst), the share of its loans that are in a worse bucket
    at the next run; ``transitions`` is [(to-date, Counter({(from, to): loans}))]."""
    rank = {b: i for i, b in enumerate(labels)}
    out: dict[str, list[float | None]] = {}
    for start in labels[:-1]:
        series = []
        for _, counts in transitions:
            base = sum(n for (f, _), n in counts.items() if f == start)
            worse = sum(n for (f, t), n in counts.items()
                        if f == start and rank.get(t, -1) > rank[start])
            series.append(worse / base if base else None)
        out[f"{start}→worse"] = series
    return out


def bucket_transitions(*, session: Session,
                       dates: Sequence[date]) -> list[tuple[date, Counter]]:
    """Loans per (bucket, next bucket) between each pair of consecutive run dates."""
    d1, d2 = aliased(DelinquencySnapshot), aliased(DelinquencySnapshot)
    out = []
    try:
        for a, b in zip(dates, dates[1:], strict=False):
            rows = session.execute(
                select(d1.bucket, d2.bucket, func.count())
                .join(d2, d2.loan_id == d1.loan_id)
                .where(d1.as_of == a, d2.as_of == b).group_by(d1.bucket, d2.bucket)).all()
            out.append((b, Counter({(f, t): n for f, t, n in rows})))
    except SQLAlchemyError:
        session.rollback()
        return []
    return out
