"""Training: LightGBM with early stopping on the validation part, monotone constraints from
each feature's declared risk direction, native categorical handling, fixed seeds and explicit
threads; then calibration on validation, the WOE baseline on train, metrics on the OOT part.

``train_and_register`` is the whole pipeline behind ``chedaitong model train``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.calibration import Calibrator, make_calibrator
from models.data import Prepared, Split, SplitSpec, prepare, split_frame
from models.errors import ConfigError
from models.evaluate import reference_distribution, summarize
from models.features import ColumnMapping, FeatureSpec, encode_frame
from models.scorecard import Scorecard
from models.scoring import ScoringModel

if TYPE_CHECKING:
    import lightgbm as lgb

    from models.baseline import WoeScorecard
    from models.registry import Registry

#: LightGBM 4.7 accepts a misspelled method silently, so we check it ourselves.
MONOTONE_METHODS = ("basic", "intermediate", "advanced")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and run settings (all stored with the version)."""

    learning_rate: float = 0.05
    num_leaves: int = 31
    max_depth: int = 8  # bounds the reason tables (2^d per leaf) and overfitting
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    cat_smooth: float = 10.0
    max_rounds: int = 2000
    early_stopping_rounds: int = 100
    monotone_constraints_method: str = "intermediate"
    seed: int = 42
    num_threads: int = 2
    calibration: str = "platt"
    baseline: bool = True

    def __post_init__(self) -> None:
        if self.monotone_constraints_method not in MONOTONE_METHODS:
            raise ConfigError(
                f"monotone_constraints_method must be one of {', '.join(MONOTONE_METHODS)}, "
                f"not {self.monotone_constraints_method!r}"
            )
        if self.num_threads < 1:
            raise ConfigError("num_threads must be at least 1")
        if not 0 < self.learning_rate <= 1:
            raise ConfigError("learning_rate must be in (0, 1]")
        if self.max_rounds < 1 or self.early_stopping_rounds < 1:
            raise ConfigError("max_rounds and early_stopping_rounds must be positive")
        make_calibrator(self.calibration)  # validates the name

    def lgb_params(self, specs: Sequence[FeatureSpec]) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": ["binary_logloss", "auc"],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "cat_smooth": self.cat_smooth,
            "monotone_constraints": [s.monotone for s in specs],
            "monotone_constraints_method": self.monotone_constraints_method,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }


@dataclass
class TrainedModel:
    """Everything a version folder stores, in memory."""

    model: ScoringModel
    specs: list[FeatureSpec]
    params: dict[str, Any]
    split: dict[str, Any]
    metrics: dict[str, Any]
    reference: dict[str, Any]
    fingerprint: dict[str, Any]
    baseline: WoeScorecard | None
    oot_frame: pd.DataFrame  # the OOT part (for the training report)

    @property
    def booster(self) -> lgb.Booster:
        return self.model.booster

    @property
    def calibrator(self) -> Calibrator:
        return self.model.calibrator


def fingerprint(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """SHA-256 over the row hashes of ``columns`` (in order) plus their names and dtypes:
    identical training data ⇔ identical fingerprint."""
    h = hashlib.sha256()
    sub = frame[list(columns)]
    h.update(repr([(c, str(sub[c].dtype)) for c in sub.columns]).encode())
    h.update(pd.util.hash_pandas_object(sub, index=False).to_numpy().tobytes())
    return {"sha256": h.hexdigest(), "rows": int(len(frame)), "columns": list(columns)}


def fit(prepared: Prepared, split: Split, config: TrainConfig = TrainConfig()) -> TrainedModel:
    """Train, calibrate and measure on a prepared, split table."""
    import time

    import lightgbm as lgb

    started = time.perf_counter()
    specs = list(prepared.specs)
    frame, target = prepared.frame, prepared.target
    X = encode_frame(frame, specs)
    y = frame[target].to_numpy(dtype=float)
    cat_idx = [j for j, s in enumerate(specs) if s.dtype == "category"]
    params = config.lgb_params(specs)
    names = [s.name for s in specs]
    dtrain = lgb.Dataset(X[split.train], y[split.train], feature_name=names,
                         categorical_feature=cat_idx, free_raw_data=True)
    dvalid = lgb.Dataset(X[split.valid], y[split.valid], reference=dtrain)
    booster = lgb.train(
        params, dtrain, num_boost_round=config.max_rounds, valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True,
                                      verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    lgb_seconds = time.perf_counter() - started
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    margin = {part: booster.predict(X[getattr(split, part)], raw_score=True,
                                    num_threads=config.num_threads)
              for part in ("train", "valid", "test")}
    calibrator = make_calibrator(config.calibration).fit(margin["valid"], y[split.valid])
    model = ScoringModel(booster, specs, calibrator, Scorecard())
    metrics: dict[str, Any] = {"best_iteration": int(best),
                               "seconds": {"lightgbm": round(lgb_seconds, 2)}}
    for part in ("train", "valid", "test"):
        yy = y[getattr(split, part)]
        m = summarize(yy, calibrator.predict(margin[part]))
        m["ece_uncalibrated"] = summarize(yy, 1 / (1 + np.exp(-margin[part])))["ece"]
        metrics["oot" if part == "test" else part] = m
    oot = frame.iloc[split.test].reset_index(drop=True)
    baseline = None
    if config.baseline:
        from models.baseline import WoeScorecard

        t0 = time.perf_counter()
        baseline = WoeScorecard(specs).fit(frame.iloc[split.train], y[split.train])
        metrics["seconds"]["woe_baseline"] = round(time.perf_counter() - t0, 2)
        metrics["baseline_oot"] = summarize(y[split.test], baseline.predict_proba(oot))
    if "true_pd" in frame.columns and frame["true_pd"].notna().all():
        metrics["oracle_oot"] = summarize(y[split.test], oot["true_pd"].to_numpy(float))
    train_scores = model.scorecard.points_from_logit(
        np.asarray(calibrator.logit(margin["train"]), float))
    cols = names + [target] + ([prepared.time] if prepared.time else [])
    metrics["seconds"]["total"] = round(time.perf_counter() - started, 2)
    return TrainedModel(
        model=model,
        specs=specs,
        params={**params, "num_boost_round": int(best), "config": asdict(config)},
        split=split.summary(frame, target, prepared.time),
        metrics=metrics,
        reference=reference_distribution(train_scores, X[split.train], specs),
        fingerprint=fingerprint(frame, cols),
        baseline=baseline,
        oot_frame=oot,
    )


def train_and_register(
    frame: pd.DataFrame,
    registry: Registry,
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
    mapping: ColumnMapping | None = None,
    time: str | None = None,
    split: SplitSpec | None = None,
    config: TrainConfig | None = None,
    report: bool = True,
    source: str = "",
    cat: Any = None,
) -> tuple[str, TrainedModel]:
    """Check → split → train → register (with its OOT report). Returns (version, result).

    ``target`` defaults to the mapping's target, else ``bad_12m``; ``time`` to the mapping's
    time column, else ``applied_at`` when present (``""`` forces a row-order split)."""
    target = target or (mapping.target if mapping else None) or "bad_12m"
    if time is None:
        time = (mapping.time if mapping else None) or "applied_at"
    prepared = prepare(frame, target=target, features=features, mapping=mapping, time=time,
                       cat=cat)
    parts = split_frame(prepared, split or SplitSpec())
    trained = fit(prepared, parts, config or TrainConfig())
    info = {
        "target": prepared.target,
        "time": prepared.time,
        "source": source,
        "dropped_unlabelled": prepared.dropped_unlabelled,
    }
    version = registry.register(trained, info=info, report=report)
    return version, trained


def describe(version: str, path: Path, trained: TrainedModel) -> list[str]:
    """Lines the CLI prints after training: the split and the headline metrics."""
    sp, m = trained.split, trained.metrics
    lines = [f"registered {version} at {path}", f"split: {sp['method']}"
             + (f" (validation from {sp['valid_from']}, OOT test from {sp['test_from']})"
                if sp.get("valid_from") else "")]
    for part in ("train", "valid", "test"):
        d = sp[part]
        period = f"  {d['from']} → {d['to']}" if "from" in d else ""
        lines.append(f"  {part:<5} {d['rows']:>9,} rows  {d['bads']:>7,} bads  "
                     f"bad rate {d['bad_rate']:.2%}{period}")
    o = m["oot"]
    lines.append(f"trees: {m['best_iteration']}; OOT AUC {o['auc']:.4f}  KS {o['ks']:.4f}  "
                 f"Brier {o['brier']:.5f}  ECE {o['ece']:.4f} "
                 f"(uncalibrated {o['ece_uncalibrated']:.4f})")
    if "baseline_oot" in m:
        lines.append(f"WOE scorecard OOT AUC {m['baseline_oot']['auc']:.4f}")
    if "oracle_oot" in m:
        lines.append(f"oracle (true PD) OOT AUC {m['oracle_oot']['auc']:.4f}")
    return lines
