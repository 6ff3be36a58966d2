"""The analyst notebooks (notebooks/*.ipynb) run top to bottom on data/sample without a Jupyter
server, and are committed with their outputs stripped.

Each notebook is executed by nbclient in a kernel started from this interpreter (the project's
venv), with the repository root as the working directory so ``data/sample`` and ``rules/``
resolve. A cell error fails the test with the cell's traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = ("model_development", "rule_backtest", "portfolio_monitoring")
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell; each notebook takes well under a minute in total
KERNEL = "chedaitong-notebook-test"


def _ids(path: Path) -> str:
    return path.stem


def test_expected_notebooks_present() -> None:
    assert set(EXPECTED) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_committed_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} carry outputs or execution counts; "
        f"run `nbstripout notebooks/{path.name}` before committing"
    )
    assert "widgets" not in nb.get("metadata", {}), f"{path.name}: widget state in metadata"


@pytest.fixture
def kernel_manager(tmp_path: Path):
    """A kernel manager whose only kernel is this interpreter running ipykernel — independent
    of any kernelspecs installed for the user or system-wide."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
    except ImportError as exc:  # the dev extra is not installed
        pytest.fail(f"notebook execution needs nbclient, nbformat and ipykernel: {exc}")
    spec_dir = tmp_path / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "chedaitong (test)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_runs_top_to_bottom(path: Path, kernel_manager, tmp_path: Path) -> None:
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError as exc:
        pytest.fail(f"notebook execution needs nbclient, nbformat and ipykernel: {exc}")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        km=kernel_manager,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        allow_errors=False,
        resources={"metadata": {"path": str(ROOT)}},
    )
    # The notebooks write only to temp dirs and remove them; pointing TMPDIR into pytest's
    # tmp_path keeps even a failed run's leftovers there. A cell error raises
    # CellExecutionError with the cell's traceback.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    client.execute(env={**os.environ, "TMPDIR": str(scratch)})
    nbformat.write(nb, tmp_path / path.name)  # the executed copy, for a look after a failure

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    charts = [o for o in outputs if "image/png" in o.get("data", {})]
    assert charts, f"{path.name} drew no chart"
