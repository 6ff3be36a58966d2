"""Shared small worlds (generated once per test session)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from chedaitong_sim.worldgen.generate import generate


class WorldDir:
    """A generated world folder with its manifest and a cached table reader."""

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self.manifest = manifest
        self._cache: dict[str, pd.DataFrame] = {}

    def __getitem__(self, table: str) -> pd.DataFrame:
        if table not in self._cache:
            self._cache[table] = pd.read_parquet(self.path / f"{table}.parquet")
        return self._cache[table]


def _make(
    tmp_path_factory: pytest.TempPathFactory, name: str, customers: int, seed: int
) -> WorldDir:
    out = tmp_path_factory.mktemp(name) / "world"
    return WorldDir(out, generate(out, customers, seed))


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> WorldDir:
    return _make(tmp_path_factory, "small", 400, 11)


@pytest.fixture(scope="session")
def small_world_again(tmp_path_factory) -> WorldDir:
    return _make(tmp_path_factory, "small_again", 400, 11)


@pytest.fixture(scope="session")
def other_seed_world(tmp_path_factory) -> WorldDir:
    return _make(tmp_path_factory, "other", 400, 12)


@pytest.fixture(scope="session")
def medium_world(tmp_path_factory) -> WorldDir:
    return _make(tmp_path_factory, "medium", 3000, 5)
