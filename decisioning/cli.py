"""`chedaitong decisions …`: replay recorded decisions.

Only click is imported at module level (`chedaitong decisions --help` stays instant); the
decision stack is imported by the command that needs it.
"""

from __future__ import annotations

import sys

import click


@click.group()
def decisions() -> None:
    """Recorded decisions: replay and compare."""


@decisions.command("replay")
@click.argument("record_ids", nargs=-1, type=int)
@click.option("--all", "replay_all", is_flag=True, help="Replay every recorded decision.")
def replay(record_ids: tuple[int, ...], replay_all: bool) -> None:
    """Recompute decisions with their recorded versions and print any difference (exit 1)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from chedaitong.config import Settings
    from chedaitong.db import DecisionRecord, check_reachable, make_engine
    from chedaitong.db.base import MAX_ID
    from decisioning.container import build_decision_service
    from decisioning.service import ReplayError

    beyond = [i for i in record_ids if i > MAX_ID]  # the driver would overflow on them
    if beyond:
        raise click.BadParameter(f"{beyond[0]} is not a record id (at most {MAX_ID})",
                                 param_hint="RECORD_IDS")
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    check_reachable(engine)
    service = build_decision_service(settings)
    differing = 0
    with Session(engine) as session:
        ids = list(record_ids) or []
        if replay_all:
            ids = list(session.scalars(select(DecisionRecord.id).order_by(DecisionRecord.id)))
        if not ids:
            raise click.UsageError("give record ids or --all")
        for record_id in ids:
            try:
                diffs = service.replay(session, record_id)
            except ReplayError as exc:
                click.echo(f"{record_id}: cannot replay: {exc}", err=True)
                differing += 1
                continue
            differing += bool(diffs)
            click.echo(f"{record_id}: " + ("same" if not diffs else "DIFFERENT"))
            for d in diffs:
                click.echo(f"  {d}")
    click.echo(f"{len(ids)} replayed, {differing} different or not replayable")
    sys.exit(1 if differing else 0)
