"""``chedaitong model …`` (also ``python -m models …``): train, evaluate, list, promote, rollback.

Operator mistakes (bad table, unknown version, refused promotion, bad settings) print one
``error: …`` line on stderr and exit 1.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from models.errors import ModelError


class ModelGroup(click.Group):
    """Turns ModelError (and settings errors) into one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModelError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except Exception as exc:
            # settings are read only for a default registry: don't import them otherwise
            config = sys.modules.get("chedaitong.config")
            if config is not None and isinstance(exc, config.ConfigError):
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
            raise


def registry_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--registry", "registry_path", type=click.Path(file_okay=False, path_type=Path),
        default=None, help="Registry root [default: CHEDAITONG_MODEL_DIR or <var dir>/models].",
    )(f)


def purpose_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--purpose", default="application", show_default=True,
        type=click.Choice(["application", "behaviour"]),
        help="Which models: application scores or behaviour scores of loans on the books "
             "(own versions, champion/challenger and history).",
    )(f)


def _registry(path: Path | None, purpose: str = "application") -> Any:
    from models.registry import Registry

    return Registry(path, purpose)


@click.group(cls=ModelGroup)
def model() -> None:
    """Credit models: train, evaluate, registry (list / promote / rollback)."""


def parse_seconds(text: str | None) -> float:
    """``60s``, ``90``, ``2m`` → seconds (0 for none)."""
    from models.errors import ConfigError

    if not text:
        return 0.0
    t = text.strip().lower()
    unit = {"s": 1, "m": 60, "h": 3600}.get(t[-1:])
    try:
        value = float(t[:-1] if unit else t) * (unit or 1)
    except ValueError:
        raise ConfigError(f"--tune needs a time budget such as 60s or 2m, not {text!r}") from None
    if value <= 0:
        raise ConfigError("--tune needs a positive time budget")
    return value


@model.command("train")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", default=None, help="Label column [default: bad_12m].")
@click.option("--bad", default=None,
              help="Comma-separated target labels meaning bad, for a text target (others good).")
@click.option("--features", default=None, help="Comma-separated feature names to use.")
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="YAML: your column → catalog feature, or new features with dtype/direction.")
@click.option("--time", "time_col", default=None,
              help="Time column for the split [default: applied_at]; 'none' = row order.")
@click.option("--test-from", default=None, help="Out-of-time test part starts at this date.")
@click.option("--test-fraction", default=0.2, show_default=True, type=float,
              help="Share of rows (latest first) held out as the test part, when no date.")
@click.option("--family", default="auto", show_default=True,
              type=click.Choice(["auto", "lightgbm", "scorecard", "blend"]),
              help="Model family; auto keeps the best on the cross-validation folds.")
@click.option("--folds", default=None, type=int, help="Cross-validation folds [default: 5].")
@click.option("--tune", default=None, metavar="BUDGET",
              help="Search LightGBM settings with Optuna for this long (e.g. 60s).")
@click.option("--grades", default="auto", show_default=True,
              help="Grade bands: auto | pd:1,2.5,5,10 (PD %) | quantile:20,40,60,80 (% best); "
                   "auto for --purpose behaviour: quantile:50,75,90,97 of its training PD.")
@click.option("--learning-rate", default=0.05, show_default=True, type=float)
@click.option("--max-rounds", default=2000, show_default=True, type=int)
@click.option("--early-stopping", default=100, show_default=True, type=int)
@click.option("--monotone-method", default="intermediate", show_default=True,
              help="basic | intermediate | advanced")
@click.option("--calibration", default="platt", show_default=True, help="platt | isotonic")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--threads", default=2, show_default=True, type=int)
@click.option("--no-baseline", is_flag=True, help="Skip the WOE scorecard baseline.")
@click.option("--no-report", is_flag=True, help="Skip the training report.")
@registry_option
@purpose_option
def train_cmd(data: Path, target: str | None, bad: str | None, features: str | None,
              mapping: Path | None, time_col: str | None, test_from: str | None,
              test_fraction: float, family: str, folds: int | None, tune: str | None,
              grades: str, learning_rate: float, max_rounds: int, early_stopping: int,
              monotone_method: str, calibration: str, seed: int, threads: int,
              no_baseline: bool, no_report: bool, registry_path: Path | None,
              purpose: str) -> None:
    """Train a model on DATA (Parquet or CSV) and register it as a new version."""
    import pandas as pd

    from models.data import SplitSpec, read_table
    from models.errors import ConfigError
    from models.features import load_mapping
    from models.scorecard import GradeSpec
    from models.train import TrainConfig, describe, train_and_register

    try:
        split = SplitSpec(test_from=pd.Timestamp(test_from) if test_from else None,
                          test_fraction=test_fraction)
    except ValueError as exc:
        raise ConfigError(f"bad split option: {exc}") from None
    config = TrainConfig(family=family, learning_rate=learning_rate, max_rounds=max_rounds,
                         early_stopping_rounds=early_stopping, folds=folds,
                         monotone_constraints_method=monotone_method, calibration=calibration,
                         seed=seed, num_threads=threads, baseline=not no_baseline,
                         tune_seconds=parse_seconds(tune), grades=GradeSpec.parse(grades))
    cmap = load_mapping(mapping) if mapping else None
    frame = read_table(data)
    registry = _registry(registry_path, purpose)
    version, trained = train_and_register(
        frame, registry, target=target,
        bad=[b.strip() for b in bad.split(",") if b.strip()] if bad else None,
        features=[f.strip() for f in features.split(",") if f.strip()] if features else None,
        mapping=cmap, time="" if (time_col or "").lower() == "none" else time_col,
        split=split, config=config, report=not no_report, source=str(data),
    )
    for line in describe(version, registry.root / version, trained):
        click.echo(line)


@model.command("evaluate")
@click.argument("version")
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Labelled frame (Parquet or CSV).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder [default: <registry>/reports/<version>-<UTC time>].")
@click.option("--since", default=None, help="Only rows at or after this date.")
@click.option("--threads", default=2, show_default=True, type=int)
@registry_option
@purpose_option
def evaluate_cmd(version: str, data: Path, out: Path | None, since: str | None, threads: int,
                 registry_path: Path | None, purpose: str) -> None:
    """Report on VERSION (or champion/challenger) against a labelled frame."""
    from models.data import read_table
    from models.evaluate import evaluate_version

    registry = _registry(registry_path, purpose)
    resolved = registry.resolve(version)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out or registry.root / "reports" / f"{resolved}-{stamp}"
    summary, paths = evaluate_version(registry, version, read_table(data), out, label=str(data),
                                      since=since, num_threads=threads)
    m, d = summary["model"], summary["data"]
    line = (f"{resolved}: AUC {m['auc']:.4f}  KS {m['ks']:.4f}  Brier {m['brier']:.5f}  "
            f"ECE {m['ece']:.4f}")
    if "baseline" in summary:
        line += f" | WOE scorecard AUC {summary['baseline']['auc']:.4f}"
    if "oracle" in summary:
        line += f" | oracle AUC {summary['oracle']['auc']:.4f}"
    click.echo(line)
    if d.get("rows_trained_on"):
        click.echo(f"warning: {d['rows_trained_on']:,} of {d['rows']:,} rows were in the "
                   "model's training data (row fingerprints): these metrics are optimistic")
    if d.get("rows_before_oot"):
        click.echo(f"warning: {d['rows_before_oot']:,} rows fall before the model's "
                   f"out-of-time cut-off {d['oot_from']}: these metrics are optimistic")
    if "psi" in summary:
        click.echo(f"score PSI vs training: {summary['psi']['score']:.4f}")
    click.echo(f"report: {paths[0]}")


@model.command("list")
@registry_option
@purpose_option
def list_cmd(registry_path: Path | None, purpose: str) -> None:
    """Registered versions with their family, test-part AUC and aliases."""
    registry = _registry(registry_path, purpose)
    rows = registry.summary()
    if not rows:
        click.echo(f"no versions in {registry.root}")
        return

    def f(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else "–"

    click.echo(f"{'version':<8} {'family':<9} {'test AUC':>8} {'WOE AUC':>8} {'oracle':>8} "
               f"{'features':>8}  {'created':<25} aliases")
    for r in rows:
        if "error" in r:
            click.echo(f"{r['version']:<8} CORRUPT: {r['error']}")
            continue
        click.echo(f"{r['version']:<8} {r['family']:<9} {f(r['oot_auc']):>8} "
                   f"{f(r['baseline_auc']):>8} "
                   f"{f(r['oracle_auc']):>8} {r['features']:>8}  {r['created_at'] or '':<25} "
                   f"{','.join(r['aliases'])}")


@model.command("promote")
@click.argument("version")
@click.option("--alias", default="champion", show_default=True,
              type=click.Choice(["champion", "challenger"]))
@click.option("--force", is_flag=True,
              help="Promote even if its test AUC is below the champion's.")
@click.option("--note", default="", help="Why (kept in the alias history).")
@registry_option
@purpose_option
def promote_cmd(version: str, alias: str, force: bool, note: str,
                registry_path: Path | None, purpose: str) -> None:
    """Point an alias (default champion) at VERSION."""
    entry = _registry(registry_path, purpose).promote(version, alias, force=force, note=note)
    click.echo(f"{alias}: {entry['from'] or '(none)'} → {entry['to']}"
               + (" (forced)" if entry["forced"] else ""))


@model.command("rollback")
@click.option("--alias", default="champion", show_default=True,
              type=click.Choice(["champion", "challenger"]))
@click.option("--note", default="", help="Why (kept in the alias history).")
@registry_option
@purpose_option
def rollback_cmd(alias: str, note: str, registry_path: Path | None, purpose: str) -> None:
    """Point an alias back at its previous version."""
    entry = _registry(registry_path, purpose).rollback(alias, note=note)
    click.echo(f"{alias}: {entry['from']} → {entry['to']} (rollback)")


@model.command("history")
@registry_option
@purpose_option
def history_cmd(registry_path: Path | None, purpose: str) -> None:
    """The alias change log, oldest first."""
    for e in _registry(registry_path, purpose).history():
        forced = "  forced" if e.get("forced") else ""
        note = f"  {e['note']}" if e.get("note") else ""
        click.echo(f"{e['at']}  {e['who']:<12} {e['action']:<9} {e['alias']:<10} "
                   f"{e['from'] or '(none)'} → {e['to'] or '(none)'}{forced}{note}")
