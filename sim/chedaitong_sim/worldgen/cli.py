"""Command line: `chedaitong data generate` (the lead wires the `data` group into the console
script) and `python -m chedaitong_sim.worldgen generate`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from chedaitong_sim.worldgen import MAX_CUSTOMERS


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse outputs we cannot write, before spending minutes generating."""
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise click.BadParameter(
            f"{out} is not empty (use --overwrite to replace it)", param_hint="--out"
        )
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise click.BadParameter(f"cannot write into {parent}", param_hint="--out")


@click.group(name="data", help="Synthetic data for development and evaluation.")
def data() -> None:
    pass


@data.command("generate")
@click.option(
    "--customers",
    type=click.IntRange(1, MAX_CUSTOMERS),
    required=True,
    help="Number of customers (1..500,000).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    default=42,
    show_default=True,
    help="Random seed; the same seed gives byte-identical files.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Output folder (created; written atomically).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing, non-empty output folder.")
def generate_cmd(customers: int, seed: int, out: Path, overwrite: bool) -> None:
    """Generate a synthetic car-loan world into OUT as Parquet tables plus manifest.json."""
    from chedaitong_sim.worldgen.generate import generate  # numpy and pandas: only when it runs

    _check_out(out, overwrite)
    try:
        m = generate(out, customers, seed, overwrite=overwrite)
    except OSError as e:
        raise click.UsageError(f"cannot write {out}: {e.strerror or e}") from e
    counts = ", ".join(f"{k}={v}" for k, v in m["row_counts"].items())
    click.echo(f"wrote {out} (seed {seed}): {counts}")
    click.echo(
        f"oracle AUC {_fmt(m['oracle_auc'], '.4f')}, bad rate {_fmt(m['bad_rate'], '.2%')} "
        f"(booked {_fmt(m['bad_rate_booked'], '.2%')}; before/after new channel "
        f"{_fmt(m['bad_rate_before_new_channel'], '.2%')}/"
        f"{_fmt(m['bad_rate_after_new_channel'], '.2%')})"
    )


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)
