"""The `chedaitong` command: one click group that every part of the platform extends."""

from __future__ import annotations

import sys

import click

from chedaitong import __version__
from chedaitong.config import ConfigError, Settings
from chedaitong.db import DatabaseUnavailable, check_reachable, make_engine
from chedaitong.db import migrate as migrations

# Operator mistakes that deserve one line on stderr, never a traceback.
OPERATOR_ERRORS = (ConfigError, DatabaseUnavailable)


class CliGroup(click.Group):
    """A click group that turns known operator errors into `error: …` and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OPERATOR_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=CliGroup)
@click.version_option(__version__, prog_name="chedaitong")
def main() -> None:
    """Chedaitong (车贷通): credit decisioning for dealership new-car loans."""


def settings_engine():
    """The configured database engine, checked reachable."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    check_reachable(engine)
    return engine


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.argument("revision", default="heads")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: every head)."""
    engine = settings_engine()
    migrations.upgrade(engine, revision)
    click.echo(f"database at revision {migrations.current_revision(engine)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' removes every table)."""
    engine = settings_engine()
    migrations.downgrade(engine, revision)
    click.echo(f"database at revision {migrations.current_revision(engine) or 'base'}")


@db.command("current")
def db_current() -> None:
    """Print the database's revision and the code's head revision."""
    engine = settings_engine()
    click.echo(f"current: {migrations.current_revision(engine) or 'base'}")
    click.echo(f"head: {migrations.head_revision()}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the API and pages with the development server (gunicorn in production)."""
    from webapp import create_app

    settings_engine()  # refuse to start on an unreachable database, with one line
    create_app().run(host=host, port=port)


def _register_subcommands() -> None:
    """Each part of the platform owns its command group; the console script collects them,
    plus the groups other installed distributions declare under the ``chedaitong.commands``
    entry point (the simulation's `data` and `demo`), which the runtime never imports itself."""
    from importlib.metadata import entry_points

    from decisioning.cli import decisions
    from decisioning.postloan.cli import postloan
    from featurestore.cli import features
    from models.cli import model
    from ruleengine.cli import rules
    from servicing.cli import servicing

    for group in (features, rules, model, decisions, servicing, postloan):
        main.add_command(group)
    for point in entry_points(group="chedaitong.commands"):
        main.add_command(point.load(), point.name)


_register_subcommands()

if __name__ == "__main__":  # pragma: no cover
    main()
