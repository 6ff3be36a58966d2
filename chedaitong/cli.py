"""The `chedaitong` command: one click group that every part of the platform extends.

Each part owns its command group in its own module; :data:`COMMAND_GROUPS` says where each one
lives, and :class:`LazyGroup` imports that module only when the group is used. So
``chedaitong --help`` loads click and nothing else of the platform, and a command's heavy
imports (pandas, scikit-learn, LightGBM, the world generator) happen when it runs.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from chedaitong import __version__

# name → ("module:attribute" of the click group, its one-line summary for `chedaitong --help`).
# The summary is here so the top-level help imports no group module; a test checks that each
# equals the group's own docstring summary.
COMMAND_GROUPS: dict[str, tuple[str, str]] = {
    "features": ("featurestore.cli:features", "Feature catalog and retrieval."),
    "rules": ("ruleengine.cli:rules", "Credit rules: validate, test, backtest, versions."),
    "model": ("models.cli:model",
              "Credit models: train, evaluate, registry (list / promote / rollback)."),
    "decisions": ("decisioning.cli:decisions", "Recorded decisions: replay and compare."),
    "segments": ("decisioning.segments_cli:segments",
                 "Segment monitoring: approvals, score drift, early bad rate (daily, cron)."),
    "servicing": ("servicing.cli:servicing", "Loan servicing: repayments and bank files."),
    "postloan": ("decisioning.postloan.cli:postloan",
                 "Post-loan inspection: penalty, delinquency, rescoring and collection actions."),
    "worker": ("decisioning.worker:worker",
               "Decision and outbox workers (their own processes) on the Redis queue."),
    "collections": ("decisioning.collections_cli:collections",
                    "Collections: ring the nightly phone tasks."),
}
# Other installed distributions add groups under this entry point (the simulation's `data` and
# `demo`); the runtime never imports them itself. Their summaries come from the group itself.
ENTRY_POINT_GROUP = "chedaitong.commands"


def plugin_groups() -> dict[str, tuple[str, str | None]]:
    """Command groups declared by other distributions: name → ("module:attribute", None)."""
    from importlib.metadata import entry_points

    return {p.name: (p.value, None) for p in entry_points(group=ENTRY_POINT_GROUP)}


def operator_error_types() -> tuple[type[Exception], ...]:
    """Operator mistakes that deserve one line on stderr, never a traceback."""
    from alembic.util import CommandError  # e.g. `db downgrade` to an unknown revision

    from chedaitong.config import ConfigError
    from chedaitong.db import DatabaseUnavailable

    return (ConfigError, DatabaseUnavailable, CommandError)


class LazyGroup(click.Group):
    """click's lazy-loading group: ``lazy`` maps a sub-command name to where it is defined
    and its summary; the module is imported the first time that sub-command is looked up."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str | None]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, cmd_name: str) -> click.Command:
        """Import and return the lazily declared sub-command ``cmd_name``."""
        module_name, _, attribute = self.lazy[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, with lazy groups summarised from the table (nothing imported)."""
        rows = []
        for name in self.list_commands(ctx):
            summary = self.lazy.get(name, (None, None))[1]
            if summary is not None and name not in self.commands:
                command = click.Command(name, help=summary)  # a stand-in for help
            else:
                command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(n, c.get_short_help_str(limit)) for n, c in rows])


class CommandLine(LazyGroup):
    """The `chedaitong` group: a ``CHEDAITONG_*`` typo stops any command (help still answers),
    and known operator errors (bad settings, unreachable database) become one ``error: …``
    line and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            if "--help" not in ctx.args:
                from chedaitong.config import check_known_variables

                check_known_variables(os.environ)
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # --help, usage errors: click's own handling
        except Exception as exc:
            if isinstance(exc, operator_error_types()):
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
            raise


@click.group(cls=CommandLine, lazy={**plugin_groups(), **COMMAND_GROUPS})
@click.version_option(__version__, prog_name="chedaitong")
def main() -> None:
    """Chedaitong (车贷通): credit decisioning for dealership new-car loans."""


def settings_engine():
    """The configured database engine, checked reachable."""
    from chedaitong.config import Settings
    from chedaitong.db import check_reachable, make_engine

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
    from chedaitong.db import migrate as migrations

    engine = settings_engine()
    migrations.upgrade(engine, revision)
    click.echo(f"database at revision {migrations.current_revision(engine)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' removes every table)."""
    from chedaitong.db import migrate as migrations

    engine = settings_engine()
    migrations.downgrade(engine, revision)
    click.echo(f"database at revision {migrations.current_revision(engine) or 'base'}")


@db.command("current")
def db_current() -> None:
    """Print the database's revision and the code's head revision."""
    from chedaitong.db import migrate as migrations

    engine = settings_engine()
    click.echo(f"current: {migrations.current_revision(engine) or 'base'}")
    click.echo(f"head: {migrations.head_revision()}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="0: any free port (the address served is printed)")
def serve(host: str, port: int) -> None:
    """Serve the API and pages with the development server (gunicorn in production).

    SIGHUP reloads the rule files, as under gunicorn (see docs/operations.md)."""
    from webapp import create_app, run_dev_server
    from webapp.services import install_rules_reload, start_embedded_worker

    settings_engine()  # refuse to start on an unreachable database, with one line
    app = create_app()
    install_rules_reload(app)
    start_embedded_worker(app)  # without CHEDAITONG_QUEUE_URL, decisions are taken in here
    run_dev_server(app, host=host, port=port)


if __name__ == "__main__":  # pragma: no cover
    main()
