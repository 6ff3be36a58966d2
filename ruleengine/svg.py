"""A small grouped bar chart written as SVG by hand (matplotlib is not a dependency)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

COLOURS = ("#8c8c8c", "#1f6fb4", "#d9822b", "#3a9e5c")


def grouped_bars(
    title: str,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    width: int = 640,
    height: int = 320,
    percent: bool = True,
) -> str:
    """Bars for each group (x axis) and series (legend); values in [0, 1] when ``percent``."""
    left, right, top, bottom = 48, 16, 40, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vs in series for v in vs if v is not None]
    vmax = max([*values, 1e-9])
    vmax = min(1.0, vmax * 1.15) if percent else vmax * 1.15
    slot = plot_w / max(len(groups), 1)
    bar = slot * 0.8 / max(len(series), 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" font-size="14">'
        f"{escape(title)}</text>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#333"/>',
    ]
    for k in range(5):
        frac = k / 4
        y = top + plot_h * (1 - frac)
        label = f"{vmax * frac:.0%}" if percent else f"{vmax * frac:.3g}"
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for g, group in enumerate(groups):
        x0 = left + g * slot + slot * 0.1
        for s, (_, vals) in enumerate(series):
            v = vals[g]
            if v is None:
                continue
            h = plot_h * v / vmax
            x, y = x0 + s * bar, top + plot_h - h
            colour = COLOURS[s % len(COLOURS)]
            text = f"{v:.1%}" if percent else f"{v:.3g}"
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar * 0.92:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(text)}</title></rect>'
            )
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'font-size="10">{escape(text)}</text>'
            )
        out.append(
            f'<text x="{left + (g + 0.5) * slot:.1f}" y="{top + plot_h + 18}" '
            f'text-anchor="middle">{escape(group)}</text>'
        )
    for s, (name, _) in enumerate(series):
        x = left + s * 160
        y = height - 12
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLOURS[s % 4]}"/>')
        out.append(f'<text x="{x + 18}" y="{y}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
