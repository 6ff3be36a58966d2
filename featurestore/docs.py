"""`docs/features.md`, generated from the catalog so the docs cannot drift from the code."""

from __future__ import annotations

from featurestore.definitions import FeatureCatalog

DIRECTION = {1: "↑ risk", -1: "↓ risk", 0: "—"}


def features_markdown(cat: FeatureCatalog) -> str:
    lines = [
        "# Feature catalog",
        "",
        "Generated from `featurestore/catalog.yaml` by `chedaitong features docs`; do not edit.",
        "Direction is the declared effect of a higher value on risk; the model uses it as a",
        "monotone constraint. *Missing* says what an empty value means.",
    ]
    for entity in ("application", "loan", "decision"):
        lines += [
            "",
            f"## {entity} features",
            "",
            "| name | type | source | description | missing | direction | owner |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in cat.for_entity(entity):
            dtype = f.dtype + (f" ({', '.join(f.categories)})" if f.categories else "")
            dtype += f" [{f.unit}]" if f.unit else ""
            lines.append(
                f"| `{f.name}` | {dtype} | {f.source} | {f.description} | {f.missing} "
                f"| {DIRECTION[f.direction]} | {f.owner} |"
            )
    return "\n".join(lines) + "\n"
