"""Shared fixtures: small synthetic frames with a known signal and a trained model.

Kept small (a few thousand rows, learning rate 0.1) so the whole package's tests stay well
under a minute on two cores; the training fixture runs once per session.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chedaitong_sim.synthetic.credit_frames import synthetic_frame
from models.registry import Registry
from models.train import TrainConfig, train_and_register

# one LightGBM thread: on a shared 2-core machine, two spinning OpenMP threads slow tests down
FAST = TrainConfig(family="lightgbm", learning_rate=0.1, max_rounds=300, early_stopping_rounds=30,
                   baseline=False,
                   num_threads=1)


@pytest.fixture(scope="session")
def fast_config() -> TrainConfig:
    return FAST


@pytest.fixture(scope="session")
def frame():
    """6,000 applications over two years; strong vintage drift so calibration matters."""
    return synthetic_frame(6000, seed=11, drift=1.0)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, frame):
    """(registry root, version, TrainedModel) of one model trained on ``frame``."""
    root = tmp_path_factory.mktemp("registry")
    version, result = train_and_register(frame, Registry(root), config=FAST, report=False)
    return root, version, result


@pytest.fixture
def registry_copy(tmp_path, trained) -> tuple[Registry, str]:
    """A private registry holding a copy of the session's trained version (safe to mutate)."""
    root, version, _ = trained
    shutil.copytree(Path(root) / version, tmp_path / "reg" / version)
    return Registry(tmp_path / "reg"), version
