"""The runtime is the product and the simulation is not: every runtime module imports with the
simulation absent, and the runtime wheel carries none of it (but all it needs to run)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("chedaitong", "decisioning", "featurestore", "models", "ruleengine", "servicing",
           "vendors", "webapp")
SIMULATION = "chedaitong_sim"

# Runs in a fresh interpreter: the simulation's modules cannot be imported and its
# distribution's entry points are not there, as after a plain `pip install .`.
WITHOUT_SIMULATION = f"""
import importlib, importlib.abc, importlib.metadata as md, json, pkgutil, sys

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {SIMULATION!r} or name.startswith({SIMULATION!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}} (simulation not installed)")
        return None

sys.meta_path.insert(0, Blocked())
_entry_points = md.entry_points
md.entry_points = lambda **kw: md.EntryPoints(
    ep for ep in _entry_points(**kw) if ep.dist is None or ep.dist.name != "chedaitong-sim")

failed, imported = {{}}, []
for top in {RUNTIME!r}:
    package = importlib.import_module(top)
    names = [top] + [m.name for m in pkgutil.walk_packages(package.__path__, top + ".")
                     if ".migrations." not in m.name and not m.name.endswith(".__main__")]
    for name in names:
        try:
            importlib.import_module(name)
            imported.append(name)
        except Exception as exc:
            failed[name] = f"{{type(exc).__name__}}: {{exc}}"

from click.testing import CliRunner
from chedaitong.cli import main
help_text = CliRunner().invoke(main, ["--help"]).output
loaded = sorted(m for m in sys.modules if m.startswith({SIMULATION!r}))
print(json.dumps({{"failed": failed, "imported": imported, "simulation_loaded": loaded,
                  "help": help_text}}))
"""


def test_every_runtime_module_imports_without_the_simulation():
    done = subprocess.run([sys.executable, "-c", WITHOUT_SIMULATION], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}
    assert result["simulation_loaded"] == []
    assert {"webapp.applications", "decisioning.origination.flows", "ruleengine.rulebook",
            "decisioning.postloan.run"} <= set(result["imported"])
    # the platform's commands are there, the simulation's (data, demo) are not
    commands = {line.split()[0] for line in result["help"].split("Commands:")[1].splitlines()
                if line.strip()}
    assert {"db", "serve", "rules", "model", "postloan", "decisions"} <= commands
    assert not {"data", "demo"} & commands


def _wheel(source: Path, out: Path) -> zipfile.ZipFile:
    """Build the distribution in ``source`` from a copy of its tracked files (the build
    writes build/ and egg-info beside the sources: not in the checkout, not concurrently)."""
    tracked = subprocess.run(["git", "ls-files", "-z", "--", "."], cwd=source, check=True,
                             capture_output=True).stdout.decode().split("\0")
    copy = out / "src"
    for name in filter(None, tracked):
        if name.startswith(("data/", "notebooks/", "tests/", "bench/", "sim/")):
            continue
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(copy)], check=True, capture_output=True,
                   timeout=300)
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


@pytest.mark.slow
def test_the_runtime_wheel_holds_no_simulation_module(tmp_path):
    names = _wheel(ROOT, tmp_path / "runtime").namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == set(RUNTIME)
    assert not [n for n in names if SIMULATION in n or "worldgen" in n or "sandbox" in n]
    # what the runtime reads from its own package comes along
    assert "decisioning/origination/templates/contract.txt.j2" in names
    assert "featurestore/catalog.yaml" in names
    assert "chedaitong/db/migrations/env.py" in names
    assert "chedaitong/db/migrations/versions/0001_dealers_and_users.py" in names
    assert "webapp/templates/pages/base.html" in names and "webapp/static/pages.css" in names
    sim = _wheel(ROOT / "sim", tmp_path / "sim").namelist()
    assert {n.split("/")[0] for n in sim if ".dist-info" not in n} == {SIMULATION}
    entry_points = next(n for n in sim if n.endswith("entry_points.txt"))
    assert "[chedaitong.commands]" in _wheel_text(tmp_path / "sim", entry_points)


def _wheel_text(folder: Path, name: str) -> str:
    (wheel,) = folder.glob("*.whl")
    return zipfile.ZipFile(wheel).read(name).decode()
