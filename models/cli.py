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
        from chedaitong.config import ConfigError as SettingsError

        try:
            return super().invoke(ctx)
        except (ModelError, SettingsError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


def registry_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--registry", "registry_path", type=click.Path(file_okay=False, path_type=Path),
        default=None, help="Registry root [default: CHEDAITONG_MODEL_DIR or <var dir>/models].",
    )(f)


def _registry(path: Path | None) -> Any:
    from models.registry import Registry

    return Registry(path)


@click.group(cls=ModelGroup)
def model() -> None:
    """Credit models: train, evaluate, registry (list / promote / rollback)."""


@model.command("train")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", default=None, help="0/1 label column (1 = bad) [default: bad_12m].")
@click.option("--features", default=None, help="Comma-separated feature names to use.")
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="YAML: your column → catalog feature, or new features with dtype/direction.")
@click.option("--time", "time_col", default=None,
              help="Time column for the split [default: applied_at]; 'none' = row order.")
@click.option("--valid-from", default=None, help="Validation starts at this date.")
@click.option("--test-from", default=None, help="Out-of-time test starts at this date.")
@click.option("--fractions", default="0.6,0.2,0.2", show_default=True,
              help="Train/validation/test shares in time order (when no dates are given).")
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
def train_cmd(data: Path, target: str | None, features: str | None, mapping: Path | None,
              time_col: str | None, valid_from: str | None, test_from: str | None,
              fractions: str, learning_rate: float, max_rounds: int, early_stopping: int,
              monotone_method: str, calibration: str, seed: int, threads: int,
              no_baseline: bool, no_report: bool, registry_path: Path | None) -> None:
    """Train a model on DATA (Parquet or CSV) and register it as a new version."""
    import pandas as pd

    from models.data import SplitSpec, read_table
    from models.errors import ConfigError
    from models.features import load_mapping
    from models.train import TrainConfig, describe, train_and_register

    try:
        fr = tuple(float(x) for x in fractions.split(","))
        split = SplitSpec(
            valid_from=pd.Timestamp(valid_from) if valid_from else None,
            test_from=pd.Timestamp(test_from) if test_from else None,
            fractions=fr,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise ConfigError(f"bad split option: {exc}") from None
    config = TrainConfig(learning_rate=learning_rate, max_rounds=max_rounds,
                         early_stopping_rounds=early_stopping,
                         monotone_constraints_method=monotone_method, calibration=calibration,
                         seed=seed, num_threads=threads, baseline=not no_baseline)
    cmap = load_mapping(mapping) if mapping else None
    frame = read_table(data)
    registry = _registry(registry_path)
    version, trained = train_and_register(
        frame, registry, target=target,
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
def evaluate_cmd(version: str, data: Path, out: Path | None, since: str | None, threads: int,
                 registry_path: Path | None) -> None:
    """Report on VERSION (or champion/challenger) against a labelled frame."""
    from models.data import read_table
    from models.evaluate import evaluate_version

    registry = _registry(registry_path)
    resolved = registry.resolve(version)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out or registry.root / "reports" / f"{resolved}-{stamp}"
    summary, paths = evaluate_version(registry, version, read_table(data), out, label=str(data),
                                      since=since, num_threads=threads)
    m = summary["model"]
    line = (f"{resolved}: AUC {m['auc']:.4f}  KS {m['ks']:.4f}  Brier {m['brier']:.5f}  "
            f"ECE {m['ece']:.4f}")
    if "baseline" in summary:
        line += f" | WOE scorecard AUC {summary['baseline']['auc']:.4f}"
    if "oracle" in summary:
        line += f" | oracle AUC {summary['oracle']['auc']:.4f}"
    click.echo(line)
    if "psi" in summary:
        click.echo(f"score PSI vs training: {summary['psi']['score']:.4f}")
    click.echo(f"report: {paths[0]}")


@model.command("list")
@registry_option
def list_cmd(registry_path: Path | None) -> None:
    """Registered versions with their OOT AUC and aliases."""
    registry = _registry(registry_path)
    rows = registry.summary()
    if not rows:
        click.echo(f"no versions in {registry.root}")
        return

    def f(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else "–"

    click.echo(f"{'version':<8} {'OOT AUC':>8} {'WOE AUC':>8} {'oracle':>8} {'features':>8}  "
               f"{'created':<25} aliases")
    for r in rows:
        if "error" in r:
            click.echo(f"{r['version']:<8} CORRUPT: {r['error']}")
            continue
        click.echo(f"{r['version']:<8} {f(r['oot_auc']):>8} {f(r['baseline_auc']):>8} "
                   f"{f(r['oracle_auc']):>8} {r['features']:>8}  {r['created_at'] or '':<25} "
                   f"{','.join(r['aliases'])}")


@model.command("promote")
@click.argument("version")
@click.option("--alias", default="champion", show_default=True,
              type=click.Choice(["champion", "challenger"]))
@click.option("--force", is_flag=True, help="Promote even if its OOT AUC is below the champion's.")
@click.option("--note", default="", help="Why (kept in the alias history).")
@registry_option
def promote_cmd(version: str, alias: str, force: bool, note: str,
                registry_path: Path | None) -> None:
    """Point an alias (default champion) at VERSION."""
    entry = _registry(registry_path).promote(version, alias, force=force, note=note)
    click.echo(f"{alias}: {entry['from'] or '(none)'} → {entry['to']}"
               + (" (forced)" if entry["forced"] else ""))


@model.command("rollback")
@click.option("--alias", default="champion", show_default=True,
              type=click.Choice(["champion", "challenger"]))
@click.option("--note", default="", help="Why (kept in the alias history).")
@registry_option
def rollback_cmd(alias: str, note: str, registry_path: Path | None) -> None:
    """Point an alias back at its previous version."""
    entry = _registry(registry_path).rollback(alias, note=note)
    click.echo(f"{alias}: {entry['from']} → {entry['to']} (rollback)")


@model.command("history")
@registry_option
def history_cmd(registry_path: Path | None) -> None:
    """The alias change log, oldest first."""
    for e in _registry(registry_path).history():
        forced = "  forced" if e.get("forced") else ""
        note = f"  {e['note']}" if e.get("note") else ""
        click.echo(f"{e['at']}  {e['who']:<12} {e['action']:<9} {e['alias']:<10} "
                   f"{e['from'] or '(none)'} → {e['to'] or '(none)'}{forced}{note}")
