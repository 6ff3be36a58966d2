"""`chedaitong servicing …`: ledger operations run by operators or cron.

Only click at module level, so `chedaitong servicing --help` stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
def servicing() -> None:
    """Loan servicing: repayments and bank files."""


def _source(value: str) -> str:
    """1-32 characters: what a repayment stores of its channel (`bankfile.SOURCE_MAX`; not
    imported here, so `--help` stays instant)."""
    if not 1 <= len(value) <= 32:
        raise click.BadParameter("must be 1 to 32 characters")
    return value


@servicing.command("import-bank-file")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default="bank", show_default=True,
              callback=lambda _ctx, _param, value: _source(value),
              help="Payment channel; with each line's txn_id it makes the import idempotent.")
def import_bank_file_cmd(file: Path, source: str) -> None:
    """Post a bank CSV (loan_ref,amount,paid_on,txn_id). Exit 1 when any line was refused."""
    from chedaitong.config import Settings
    from chedaitong.db import check_reachable, make_engine, make_session_factory
    from servicing.bankfile import import_bank_file

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    check_reachable(engine)
    report = import_bank_file(make_session_factory(engine), file, source=source)
    engine.dispose()
    click.echo(f"posted {report.posted}, already posted {report.already_posted}, "
               f"refused {len(report.errors)}")
    for line, reason in report.errors:
        click.echo(f"line {line}: {reason}", err=True)
    sys.exit(0 if report.ok else 1)
