"""`chedaitong collections call-tasks`: the worker that rings the nightly run's phone tasks
through the outbound-call vendor (cron, after `postloan run`). Only click at module level."""

from __future__ import annotations

import json
import sys
from datetime import date

import click


@click.group()
def collections() -> None:
    """Collections: ring the nightly phone tasks."""


@collections.command("call-tasks")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Tasks of this business day and earlier (default: the lender's today).")
def call_tasks(as_of) -> None:
    """Place a reminder call for every queued (or failed) phone task; a loan with an open
    promise to pay is skipped. Exit 1 when a call failed (the next run retries it)."""
    from sqlalchemy.orm import Session

    from chedaitong.clock import lender_today
    from chedaitong.config import Settings
    from chedaitong.db import check_reachable, make_engine
    from decisioning.collections import dispatch_phone_tasks
    from decisioning.container import build_services

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    check_reachable(engine)
    day: date = as_of.date() if as_of else lender_today()
    services = build_services(settings)
    try:
        with Session(engine) as session:
            counts = dispatch_phone_tasks(session=session, services=services, as_of=day)
    finally:
        services.close()
    click.echo(json.dumps({"as_of": day.isoformat(), **counts}))
    sys.exit(1 if counts["failed"] else 0)
