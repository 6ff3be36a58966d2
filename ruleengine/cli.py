"""``chedaitong rules …``: validate, test, backtest and list rule files.

Errors are one line on stderr: ``file:line: message`` for rule problems, ``error: …`` for
anything else. Exit codes: 0 ok, 1 invalid rules / failed cases / bad input, 2 usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ruleengine.errors import Issue, RuleEngineError, RuleFileError

DIR = click.Path(file_okay=False, path_type=Path)


class _RulesGroup(click.Group):
    """Turns engine errors into ``error: …`` and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RuleFileError as exc:
            _issues(exc.issues)
            sys.exit(1)
        except (RuleEngineError, OSError, ValueError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


def _issues(issues: list[Issue]) -> None:
    for issue in issues:
        click.echo(str(issue), err=True)
    click.echo(f"{len(issues)} problem(s) found", err=True)


def _dir(directory: Path | None) -> Path:
    from ruleengine.rulebook import default_rules_dir  # pandas + durable: only when run

    d = directory or default_rules_dir()
    if not d.is_dir():
        raise click.UsageError(f"rules directory {d} does not exist")
    return d


def catalog():
    """The platform's feature catalog: the command line is where the rule engine (which
    imports nothing of the platform) is handed the feature store's definitions."""
    from featurestore import catalog as feature_catalog

    return feature_catalog()


@click.group(cls=_RulesGroup, name="rules")
def rules() -> None:
    """Credit rules: validate, test, backtest, versions."""


@rules.command()
@click.argument("directory", required=False, type=DIR)
def validate(directory: Path | None) -> None:
    """Check the rule files of DIRECTORY (default: the configured rules directory)."""
    from ruleengine.compiler import compile_ruleset
    from ruleengine.loader import validate_dir

    d = _dir(directory)
    rulesets, issues = validate_dir(d, catalog())
    if issues:
        _issues(issues)
        sys.exit(1)
    for rs in rulesets.values():
        shards = len(compile_ruleset(rs, catalog()).shards)
        items = f"{len(rs.products)} products" if rs.products else f"{len(rs.rules)} rules"
        click.echo(
            f"{rs.name:<14} {rs.version:<24} {rs.kind:<9} {items:>12}, reads "
            f"{len(rs.features)} features, {shards} durable ruleset(s)  {rs.path}"
        )
    click.echo(f"ok: {len(rulesets)} rule file(s) valid")


@rules.command()
@click.argument("directory", required=False, type=DIR)
def test(directory: Path | None) -> None:
    """Run the analyst cases in DIRECTORY/tests on both executors."""
    from ruleengine.cases import run_cases
    from ruleengine.loader import validate_dir
    from ruleengine.rulebook import RuleBook

    d = _dir(directory)
    _, issues = validate_dir(d, catalog())
    if issues:
        _issues(issues)
        sys.exit(1)
    book = RuleBook(d, catalog=catalog())
    try:
        run = run_cases(book)
    finally:
        book.close()
    for failure in run.failures:
        click.echo(str(failure), err=True)
    summary = f"{len(run.cases)} case(s), {run.runs} run(s) on durable and vector"
    if run.failures:
        click.echo(f"FAILED: {summary}: {len(run.failures)} failure(s)", err=True)
        sys.exit(1)
    if not run.cases:
        click.echo(f"no cases found in {d / 'tests'}", err=True)
        sys.exit(1)
    click.echo(f"ok: {summary}")


@rules.command()
@click.option("--candidate", required=True, type=DIR, help="Rules directory to evaluate.")
@click.option(
    "--baseline",
    default="HEAD",
    show_default=True,
    help="Rules directory, or a git revision of the candidate's directory.",
)
@click.option(
    "--data",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Historical feature frame (.parquet or .csv) with application_id, bad_12m.",
)
@click.option("--out", required=True, type=DIR, help="Report directory (created).")
@click.option("--ruleset", default="underwriting", show_default=True)
def backtest(candidate: Path, baseline: str, data: Path, out: Path, ruleset: str) -> None:
    """Compare the CANDIDATE rules with a BASELINE on historical applications."""
    from ruleengine import backtest as bt
    from ruleengine.loader import load_dir

    cat = catalog()
    cand = load_dir(_dir(candidate), cat)
    base = bt.load_side(baseline, candidate, cat)
    frame = bt.read_data(data)
    report = bt.run_backtest(
        cand, base, frame, cat, ruleset=ruleset, labels=(str(baseline), str(candidate))
    )
    paths = bt.write_report(report, out)
    b, c = report["baseline"], report["candidate"]
    for side in (b, c):
        rates = " ".join(f"{o} {side['rates'][o]:.1%}" for o in bt.OUTCOMES)
        bad = side["approved_bad_rate"]
        bad_text = "–" if bad is None else f"{bad:.2%}"
        click.echo(f"{side['label']:<12} {side['version']:<24} {rates}  bad|approved {bad_text}")
    swap = report["swap"]
    click.echo(
        f"swap: {swap['newly_approved']['count']} newly approved, "
        f"{swap['newly_declined_or_referred']['count']} newly declined/referred"
    )
    click.echo(f"report: {paths['markdown']} ({paths['json'].name}, {paths['chart'].name})")


@rules.command()
@click.argument("directory", required=False, type=DIR)
def versions(directory: Path | None) -> None:
    """Print each ruleset's version (declared + content hash) as it would be loaded."""
    from ruleengine.loader import load_dir

    for rs in load_dir(_dir(directory), catalog()).values():
        click.echo(f"{rs.name:<14} {rs.version}")
