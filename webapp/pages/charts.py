"""Server-side PNG charts (matplotlib, Agg backend: no display, safe in request threads when
each chart uses its own Figure rather than pyplot's global state)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

SIZE = (8, 3.6)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return buf.getvalue()


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def stacked_bars(title: str, x: Sequence[str], series: Mapping[str, Sequence[float]],
                 ylabel: str) -> bytes:
    fig = Figure(figsize=SIZE)
    ax = fig.subplots()
    if not x:
        _empty(ax, "no data yet")
    else:
        bottom = [0.0] * len(x)
        for name, values in series.items():
            ax.bar(x, values, bottom=bottom, label=name)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.legend(fontsize=8, ncol=min(len(series), 5))
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    return _png(fig)


def lines(title: str, x: Sequence[str], series: Mapping[str, Sequence[float | None]],
          ylabel: str, percent: bool = False) -> bytes:
    fig = Figure(figsize=SIZE)
    ax = fig.subplots()
    if not x or not series:
        _empty(ax, "no data yet")
    else:
        for name, values in series.items():
            ax.plot(x, [float("nan") if v is None else v for v in values], marker="o",
                    markersize=3, label=name)
        ax.legend(fontsize=8, ncol=min(len(series), 5))
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    return _png(fig)
