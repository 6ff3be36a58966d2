"""`chedaitong features …`: list the catalog, write its docs, build historical frames.

Only click and the catalog at module level, so `chedaitong features --help` stays instant; the
commands import pandas and the offline store when they run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from featurestore.definitions import catalog
from featurestore.docs import features_markdown

if TYPE_CHECKING:
    from chedaitong.crypto import DataCipher

DOCS_PATH = Path("docs/features.md")


@click.group()
def features() -> None:
    """Feature catalog and retrieval."""


@features.command("list")
@click.option("--entity", type=click.Choice(["application", "loan", "decision"]))
def list_features(entity: str | None) -> None:
    """Print every feature: name, type, entity, source, direction."""
    for f in catalog().values():
        if entity and f.entity != entity:
            continue
        click.echo(
            f"{f.name:36} {f.dtype:9} {f.entity:12} {f.source:18} {f.direction:+d}  {f.description}"
        )


@features.command("docs")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=DOCS_PATH, show_default=True
)
@click.option("--check", is_flag=True, help="Exit 1 if the file is out of date instead.")
def write_docs(out: Path, check: bool) -> None:
    """Write the catalog as Markdown."""
    text = features_markdown(catalog())
    if check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            raise click.ClickException(f"{out} is out of date: run `chedaitong features docs`")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")


@features.command("build")
@click.option("--world", type=click.Path(file_okay=False, exists=True, path_type=Path),
              required=True, help="A generated world (data/sample or `chedaitong data generate`).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Offline store directory (replaced atomically).")
def build(world: Path, out: Path) -> None:
    """Reduce a world's raw tables to the offline store (facts + entity tables)."""
    from featurestore import offline

    counts = offline.build_offline_store(world, out, _cipher().blind_index)
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()) + f" → {out}")


@features.command("historical")
@click.option("--store", type=click.Path(file_okay=False, exists=True, path_type=Path),
              required=True, help="Offline store built by `features build`.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Parquet file for the point-in-time application frame.")
@click.option("--loans", is_flag=True,
              help="Loan-month snapshots (the behaviour score's frame) instead of applications.")
@click.option("--dpd", default=60, show_default=True, type=int,
              help="With --loans: the target is reaching this many days past due…")
@click.option("--horizon-months", default=6, show_default=True, type=int,
              help="…within this many months after the snapshot.")
@click.option("--application-scores", type=click.Path(dir_okay=False, exists=True,
                                                       path_type=Path), default=None,
              help="With --loans: Parquet with application_id and model_score (the "
                   "application model's points at booking).")
def historical(store: Path, out: Path, loans: bool, dpd: int, horizon_months: int,
               application_scores: Path | None) -> None:
    """Point-in-time application features (plus labels and segments) for training."""
    import pandas as pd

    from featurestore import offline, snapshots

    if loans:
        scores = None
        if application_scores is not None:
            table = pd.read_parquet(application_scores)
            scores = table.set_index("application_id")["model_score"]
        frame = snapshots.historical_loan_snapshots(
            store, dpd=dpd, horizon_months=horizon_months, application_scores=scores)
        what = f"loan-month snapshots (target {snapshots.target_name(dpd, horizon_months)})"
    else:
        frame = offline.historical_applications(store)
        what = "applications"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    click.echo(f"{len(frame)} {what} × {frame.shape[1]} columns → {out}")


def _cipher() -> DataCipher:
    """The configured data key: digests in the offline store match the online store's."""
    from chedaitong.config import Settings
    from chedaitong.crypto import DataCipher

    return DataCipher(Settings.from_env().data_key)
