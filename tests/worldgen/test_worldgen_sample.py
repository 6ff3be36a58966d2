"""The committed sample in data/sample is intact and is exactly what the code generates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chedaitong_sim.worldgen.generate import TABLES, generate
from chedaitong_sim.worldgen.writer import sha256

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


@pytest.fixture(scope="module")
def manifest() -> dict:
    path = SAMPLE / "manifest.json"
    if not path.exists():
        pytest.skip("data/sample not generated")
    return json.loads(path.read_text(encoding="utf-8"))


def test_sample_files_match_manifest(manifest):
    assert manifest["seed"] == 42 and manifest["sizes"]["customers"] == 2000
    for table in TABLES:
        assert sha256(SAMPLE / f"{table}.parquet") == manifest["sha256"][table], table
    total = sum(p.stat().st_size for p in SAMPLE.iterdir())
    assert total < 10_000_000


def test_sample_is_up_to_date(manifest, tmp_path):
    """Fails when the generator changed without regenerating the sample:
    python -m chedaitong_sim.worldgen generate --customers 2000 --seed 42 --out data/sample \
    --overwrite"""
    fresh = generate(tmp_path / "w", 2000, 42)
    assert fresh["sha256"] == manifest["sha256"]
