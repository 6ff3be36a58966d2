"""Synthetic car-loan world with known ground truth (issue 3).

`worldgen.generate.generate(out, customers, seed)` writes Parquet tables that look like what the
platform receives, plus the truth (`applications.true_pd`, `bad_12m`, `fraud_ring`) for
evaluation; `oracle_auc` measures how well the true PD ranks realised outcomes.
"""

from __future__ import annotations

__version__ = "1.0.0"

from chedaitong_sim.worldgen.evaluation import bad_rate, oracle_auc  # noqa: E402

__all__ = ["__version__", "bad_rate", "oracle_auc"]
