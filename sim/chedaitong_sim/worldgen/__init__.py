"""Synthetic car-loan world with known ground truth (issue 3).

`worldgen.generate.generate(out, customers, seed)` writes Parquet tables that look like what the
platform receives, plus the truth (`applications.true_pd`, `bad_12m`, `fraud_ring`) for
evaluation; `oracle_auc` measures how well the true PD ranks realised outcomes.
"""

from __future__ import annotations

__version__ = "1.0.0"
MAX_CUSTOMERS = 500_000  # the largest world `generate` accepts: ~12 GB of memory; we have 24

__all__ = ["MAX_CUSTOMERS", "__version__", "bad_rate", "oracle_auc"]


def __getattr__(name: str):
    # numpy/pandas/scikit-learn load on first use, not with the package: `chedaitong data
    # --help` imports `worldgen.cli` and must stay instant.
    if name in ("bad_rate", "oracle_auc"):
        from chedaitong_sim.worldgen import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module 'chedaitong_sim.worldgen' has no attribute {name!r}")
