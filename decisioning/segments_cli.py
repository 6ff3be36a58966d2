"""`chedaitong segments run`: the daily segment monitoring, for cron (beside the post-loan
inspection). One JSON line per day on stderr; new alerts are logged as warnings.

Exit codes: 0 done; 1 a day failed; 2 a usage mistake; 75 (EX_TEMPFAIL) another run holds
the lock. Only click at module level, so `chedaitong segments --help` stays instant.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta

import click

from chedaitong.clock import lender_today

EX_OK, EX_FAILED, EX_USAGE, EX_TEMPFAIL = 0, 1, 2, 75


@click.group()
def segments() -> None:
    """Segment monitoring: approvals, score drift, early bad rate (daily, cron)."""


@segments.command("run")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="the day (default today)")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="first day of a range")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="last day of a range")
@click.option("--thresholds", type=click.Path(exists=True, dir_okay=False),
              help="thresholds file (default rules/monitoring/segments.yaml)")
def run(as_of, start, end, thresholds) -> None:
    """Monitor one day (or each day of --from/--to); a finished day is not redone."""
    from chedaitong.config import Settings
    from chedaitong.db import make_engine
    from decisioning.postloan.lock import LockHeld
    from decisioning.segments import References, load_thresholds, run_day

    today = lender_today()
    if as_of and (start or end):
        click.echo("error: give --as-of or --from/--to, not both", err=True)
        sys.exit(EX_USAGE)
    if as_of:
        days = [as_of.date()]
    elif start or end:
        first, last = (start or end).date(), (end or start).date()
        if last < first:
            click.echo("error: --to is before --from", err=True)
            sys.exit(EX_USAGE)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    else:
        days = [today]
    if days[-1] > today:
        click.echo(f"error: {days[-1]} is after today ({today})", err=True)
        sys.exit(EX_USAGE)
    settings = Settings.from_env()
    try:
        limits = load_thresholds(thresholds)
    except (OSError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EX_USAGE)
    engine = make_engine(settings.database_url)
    refs = References(settings.model_dir)
    code = EX_OK
    for day in days:
        t = time.perf_counter()
        try:
            result = run_day(engine, day, thresholds=limits, refs=refs)
        except LockHeld as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EX_TEMPFAIL)
        except Exception as exc:  # noqa: BLE001 - reported per day, the exit code says it
            _log("failed", as_of=day, error=f"{type(exc).__name__}: {exc}")
            code = EX_FAILED
            continue
        _log("finished", as_of=day, decisions=result.metrics.get("decisions"),
             alerts=len(result.alerts), new_alerts=sum(1 for a in result.alerts if a.get("new")),
             seconds=round(time.perf_counter() - t, 3))
    sys.exit(code)


def _log(event: str, **fields: object) -> None:
    click.echo(json.dumps({"ts": round(time.time(), 3), "event": event, **fields},
                          default=str), err=True)


