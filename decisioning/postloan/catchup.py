"""Which business days a bare `postloan run` closes: from the last closed day to yesterday.

Every calendar day is a business day of the post-loan book (penalty interest accrues daily);
"today" is the lender's calendar day (`chedaitong.clock.lender_today`), which is not closed
until it is over. A day whose run did not finish (interrupted, failed, crashed) is closed
again first; days already finished in between are no-ops (`already_finished`).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from chedaitong.db.servicing import PostloanRun


def default_days(engine: Engine, today: date) -> list[date]:
    """The days to close, oldest first; empty when the book is closed through yesterday.

    Without any run yet, only yesterday (a first run does not invent a history)."""
    yesterday = today - timedelta(days=1)
    with Session(engine) as session:
        last = session.scalar(select(func.max(PostloanRun.as_of))
                              .where(PostloanRun.status == "finished"))
        unfinished = session.scalar(select(func.min(PostloanRun.as_of))
                                    .where(PostloanRun.status != "finished",
                                           PostloanRun.as_of <= yesterday))
    starts = [d for d in (last and last + timedelta(days=1), unfinished) if d is not None]
    start = min(starts) if starts else yesterday
    return [start + timedelta(days=k) for k in range((yesterday - start).days + 1)]
