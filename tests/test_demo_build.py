"""`make demo` on a fresh clone: `chedaitong demo build` (the Makefile's one definition of the
demo's build steps) into a folder that does not exist yet, then a real server answers
`/healthz` and `/docs`; a second build keeps everything and builds nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chedaitong.db import migrate as migrations

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("features build", "features historical", "model train", "model promote",
         "db upgrade", "demo seed")


def demo_build(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chedaitong", "demo", "build"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)


def test_the_makefile_builds_the_demo_with_demo_build():
    recipe = re.search(r"^demo-data:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe and "chedaitong demo build" in recipe.group(1)
    assert re.search(r"^demo: .*demo-data", (ROOT / "Makefile").read_text(), re.M)


@pytest.mark.slow  # collected first: a long set-up or run handed out last stretches -n 2
def test_demo_build_into_a_missing_var_dir_then_serve(tmp_path, operator_env, server_process):
    var = tmp_path / "fresh" / "clone" / "var"
    env = operator_env(CHEDAITONG_VAR_DIR=str(var))
    first = demo_build(env)
    assert first.returncode == 0, first.stdout + first.stderr
    for step in STEPS:
        assert f"$ chedaitong {step}" in first.stdout, first.stdout
    # a per-install page-cookie key and data key, never the published development ones
    for name in ("secret_key", "data_key", "chedaitong.db"):
        assert (var / name).stat().st_mode & 0o777 == 0o600, name
    assert var.stat().st_mode & 0o777 == 0o700
    assert "dev-secret-key" not in (var / "secret_key").read_text()
    outputs = [var / "offline" / "facts.parquet", var / "frame.parquet",
               var / "models" / "aliases.json", var / "demo-tokens.json"]
    built = {p: p.stat().st_mtime_ns for p in outputs}

    again = demo_build(env)
    assert again.returncode == 0, again.stdout + again.stderr
    ran = re.findall(r"^\$ chedaitong (.+?)(?: --|$)", again.stdout, re.M)
    assert ran == ["db upgrade"], again.stdout  # nothing else is built twice
    assert {p: p.stat().st_mtime_ns for p in outputs} == built

    server = server_process([sys.executable, "-m", "chedaitong", "serve", "--port", "0"], env)
    health = httpx.get(f"{server.url}/healthz", timeout=30)
    assert health.status_code == 200, health.text
    assert health.json() == {"status": "ok"}  # the revision is for operators (their token)
    admin = json.loads((var / "demo-tokens.json").read_text())["demo-admin"]
    health = httpx.get(f"{server.url}/healthz", headers={"Authorization": f"Bearer {admin}"},
                       timeout=30)
    assert health.json()["database"]["revision"] == migrations.head_revision()
    assert "Werkzeug" not in health.headers.get("server", "") and \
        "Python" not in health.headers.get("server", "")
    docs = httpx.get(f"{server.url}/docs", timeout=30)
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), asset  # from the app itself, never another host
        assert httpx.get(f"{server.url}{asset}", timeout=30).status_code == 200, asset
