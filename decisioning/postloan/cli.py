"""`chedaitong postloan run`: the nightly inspection, for cron.

Without a date it catches up: every day from the last closed business day to yesterday (the
lender's calendar), an unfinished day first. A day with failed vendor sends is still closed and
the next days run; the failures are listed in that day's ``day_finished`` line and report and
retried by the next run.

Exit codes:
  0   every day closed, every hand-off delivered (or nothing to do);
  1   a day failed to close (committed chunks stay; later days are not attempted);
  2   a usage mistake, e.g. a day after today without ``--allow-future``;
  3   every day closed, but some vendor sends failed (listed; retried by the next run);
  75  (EX_TEMPFAIL) another run holds the lock — try again later;
  130 / 143  stopped by SIGINT / SIGTERM after committing the current chunk; the day is marked
      ``interrupted`` and the lock released; the next run resumes it.
Progress is a bar on a terminal and one JSON line per chunk and per day otherwise (cron log).

Only click at module level, so `chedaitong postloan --help` stays instant.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import date, timedelta
from typing import Any

import click

from chedaitong.clock import lender_today

EX_OK, EX_FAILED, EX_USAGE, EX_SENDS_FAILED, EX_TEMPFAIL = 0, 1, 2, 3, 75


def _log(event: str, **fields: object) -> None:
    click.echo(json.dumps({"ts": round(time.time(), 3), "event": event, **fields},
                          default=str), err=True)


def _days(as_of: date | None, start: date | None, end: date | None, *, allow_future: bool,
          today: date) -> list[date] | None:
    """The business days to close, in order (None: catch up, see `catchup`); a usage mistake
    exits 2 with one line.

    A day after ``today`` is refused unless ``allow_future``: closing it would accrue penalty
    interest and send reminders for days that have not happened (2099 for 2029 is a typo, and
    would run for decades of daily accrual)."""
    if as_of and (start or end):
        _usage("give --as-of or --from/--to, not both")
    if as_of:
        days = [as_of]
    elif not (start or end):
        return None
    elif not (start and end) or end < start:
        _usage("give --as-of DATE, or --from D --to D with D ≤ D")
    else:
        days = [start + timedelta(days=k) for k in range((end - start).days + 1)]
    if days[-1] > today and not allow_future:
        option = "--as-of" if as_of else "--to"
        _usage(f"{option} {days[-1]} is after today ({today}); give --allow-future to "
               "simulate days ahead")
    return days


def _usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EX_USAGE)


@click.group("postloan")
def postloan_group() -> None:
    """Post-loan inspection: penalty, delinquency, rescoring and collection actions."""


@postloan_group.command("run")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Business day.")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day to catch up.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day to catch up.")
@click.option("--engine", "engine_kind", type=click.Choice(["pandas", "dask"]), default="pandas",
              show_default=True)
@click.option("--scheduler", help="Dask scheduler address (host:port) whose workers read and "
              "write their own loan ranges; default a local cluster of --workers processes.")
@click.option("--workers", default=2, show_default=True,
              help="Worker processes of the local Dask cluster (without --scheduler).")
@click.option("--chunk-size", default=5_000, show_default=True, help="Loans per transaction.")
@click.option("--no-send", is_flag=True, help="Create actions but do not call the vendors.")
@click.option("--allow-future", is_flag=True,
              help="Accept days after today (simulations of a generated world).")
def run(as_of, start, end, engine_kind, scheduler, workers, chunk_size, no_send,
        allow_future) -> None:
    """Close one business day, each day of --from..--to in order, or (no date) every day
    from the last closed one to yesterday."""
    days = _days(as_of and as_of.date(), start and start.date(), end and end.date(),
                 allow_future=allow_future, today=lender_today())
    from chedaitong.config import Settings
    from chedaitong.db import check_reachable, make_engine
    from decisioning.postloan import lock as postloan_lock
    from decisioning.postloan import run as job
    from decisioning.postloan import shutdown
    from decisioning.postloan.inspection import Resources

    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    check_reachable(engine)
    try:
        held = postloan_lock.acquire(engine, job.LOCK_NAME)
    except postloan_lock.LockHeld as exc:
        _log("lock_held", detail=str(exc))
        sys.exit(EX_TEMPFAIL)
    code = EX_OK
    client = None
    try:
        with shutdown.stop_on_signals():
            if days is None:
                from decisioning.postloan.catchup import default_days

                days = default_days(engine, lender_today())
                _log("catch_up", days=[d.isoformat() for d in days])
            from decisioning.container import build_services

            services = build_services(settings, with_vendors=not no_send)
            store, vendors = services.store, services.vendors
            closer = None
            if engine_kind == "dask":
                from decisioning.postloan.distributed import connect, make_closer

                client = connect(scheduler, workers)
                closer = make_closer(client)
            resources = Resources(str(settings.model_dir), str(settings.rules_dir))
            for day in days:
                shutdown.check()
                code = max(code, _run_one(engine, day, resources, store, vendors, held.holder,
                                          engine_kind, chunk_size, closer,
                                          refresh_policy(settings)))
                if code == EX_FAILED:
                    break
    except shutdown.Interrupted as exc:
        _log("interrupted", signal=str(exc))
        code = exc.exit_code
    finally:
        if client is not None:
            client.close()
        held.release()
        engine.dispose()
    sys.exit(code)


def refresh_policy(settings: Any) -> Any:
    """The nightly bureau refresh's policy from the settings (age, nightly bound)."""
    from decisioning.postloan.bureau_refresh import RefreshPolicy

    return RefreshPolicy(max_age=timedelta(days=settings.bureau_refresh_days),
                         per_night=settings.bureau_refresh_per_night)


def _run_one(engine, day, resources, store, vendors, holder, engine_kind, chunk_size,
             closer, bureau_policy=None) -> int:
    from decisioning.postloan import run as job
    from decisioning.postloan import shutdown

    tty = sys.stderr.isatty()
    bar = None
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if tty:
            if bar is None:
                bar = click.progressbar(length=total, label=f"postloan {day}", file=sys.stderr)
                bar.__enter__()
            bar.update(done - bar.pos)
        else:
            _log("chunk", as_of=day, done=done, total=total)

    _log("day_started", as_of=day, engine=engine_kind) if not tty else None
    try:
        outcome = job.run_day(
            engine, day, resources=resources, store=store, vendors=vendors, holder=holder,
            engine_kind=engine_kind, chunk_size=chunk_size, closer=closer, progress=progress,
            **({} if bureau_policy is None else {"bureau_policy": bureau_policy}),
        )
    except shutdown.Interrupted:
        raise
    except Exception as exc:  # reported for cron; the committed chunks stay committed
        logging.getLogger("chedaitong.postloan").exception("post-loan run failed")
        _log("day_failed", as_of=day, error=f"{type(exc).__name__}: {exc}")
        return EX_FAILED
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    _log("day_finished", as_of=day, status=outcome.status, loans=outcome.loans,
         sent=outcome.sent, failed_sends=outcome.failed_sends,
         seconds=round(time.perf_counter() - started, 2), report=outcome.report)
    if outcome.failed_sends:
        _log("sends_failed", as_of=day, failed=outcome.report.get("failed_sends", []),
             totals=outcome.report.get("failed_sends_total", {}))
    return EX_SENDS_FAILED if outcome.failed_sends else EX_OK


postloan = postloan_group  # the name `chedaitong.cli` registers
