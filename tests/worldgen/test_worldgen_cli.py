"""CLI: good runs print the truth; bad input exits 2 and leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chedaitong_sim.worldgen.cli import data
from chedaitong_sim.worldgen.writer import atomic_dir

ROOT = Path(__file__).resolve().parents[2]


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


@pytest.mark.parametrize("size", ["0", "-5", "abc"])
def test_bad_sizes_exit_2(tmp_path, size):
    out = tmp_path / "w"
    r = CliRunner().invoke(data, ["generate", "--customers", size, "--out", str(out)])
    assert r.exit_code == 2
    assert "--customers" in r.output
    assert leftovers(tmp_path) == []


def test_unwritable_output_exit_2(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    r = CliRunner().invoke(data, ["generate", "--customers", "10", "--out", str(blocker / "w")])
    assert r.exit_code == 2
    assert "cannot write" in r.output
    assert leftovers(tmp_path) == ["file.txt"]


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "w"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    r = CliRunner().invoke(data, ["generate", "--customers", "10", "--out", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output
    assert leftovers(tmp_path) == ["w"] and leftovers(out) == ["keep.txt"]
    r = CliRunner().invoke(
        data, ["generate", "--customers", "10", "--out", str(out), "--overwrite"]
    )
    assert r.exit_code == 0, r.output
    assert "keep.txt" not in leftovers(out) and "manifest.json" in leftovers(out)
    assert leftovers(tmp_path) == ["w"]


def test_failure_midway_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "w") as tmp:
        (tmp / "half.parquet").write_text("x")
        raise RuntimeError("boom")
    assert leftovers(tmp_path) == []


def test_python_m_worldgen(tmp_path):
    out = tmp_path / "w"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "chedaitong_sim.worldgen",
            "generate",
            "--customers",
            "60",
            "--seed",
            "3",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "oracle AUC" in r.stdout and "bad rate" in r.stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["sizes"]["customers"] == 60 and m["seed"] == 3
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "chedaitong_sim.worldgen",
            "generate",
            "--customers",
            "0",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 2 and "Error" in r.stderr and r.stdout == ""
    assert not (tmp_path / "x").exists()
