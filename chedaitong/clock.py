"""The lender's calendar: business days are China Standard Time days, whatever the host's zone.

A cron job on a UTC host at 23:30 UTC is already on the next day in Shanghai; closing or refusing
days by the host's clock would be off by one for eight hours a day.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LENDER_TIMEZONE = ZoneInfo("Asia/Shanghai")


def lender_today() -> date:
    """Return today's date on the lender's calendar."""
    return datetime.now(LENDER_TIMEZONE).date()
