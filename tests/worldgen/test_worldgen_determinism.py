"""Same seed -> byte-identical files; different seed -> different data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chedaitong_sim.worldgen.generate import TABLES
from chedaitong_sim.worldgen.writer import sha256

ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_gives_identical_files(small_world, small_world_again):
    assert small_world.manifest["sha256"] == small_world_again.manifest["sha256"]
    for table in TABLES:
        a = (small_world.path / f"{table}.parquet").read_bytes()
        b = (small_world_again.path / f"{table}.parquet").read_bytes()
        assert a == b, table
    assert (small_world.path / "manifest.json").read_bytes() == (
        small_world_again.path / "manifest.json"
    ).read_bytes()


def test_manifest_hashes_match_files(small_world):
    for table in TABLES:
        assert (
            sha256(small_world.path / f"{table}.parquet") == small_world.manifest["sha256"][table]
        )
        assert small_world.manifest["row_counts"][table] == len(small_world[table])


def test_different_seed_gives_different_data(small_world, other_seed_world):
    differ = [
        t
        for t in TABLES
        if small_world.manifest["sha256"][t] != other_seed_world.manifest["sha256"][t]
    ]
    assert set(differ) == set(TABLES)
    assert not small_world["customers"]["id_number"].equals(
        other_seed_world["customers"]["id_number"]
    )


def test_manifest_content(small_world):
    m = small_world.manifest
    assert m["seed"] == 11 and m["sizes"]["customers"] == 400
    assert set(m["row_counts"]) == set(TABLES)
    assert 0.0 <= m["bad_rate"] <= 1.0


def test_identical_across_processes(small_world, tmp_path):
    """A fresh interpreter with another hash seed writes the same bytes (no set/dict-order or
    wall-clock dependence)."""
    out = tmp_path / "w"
    code = (
        "import json, sys; from chedaitong_sim.worldgen.generate import generate; "
        "print(json.dumps(generate(sys.argv[1], 400, 11)['sha256']))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    r = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    assert json.loads(r.stdout) == small_world.manifest["sha256"]
