"""The `chedaitong` command: migrations, and one-line errors for operator mistakes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from chedaitong.cli import main
from chedaitong.db import migrate as migrations

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess, as an operator would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CHEDAITONG_")}
    full_env.pop("DATABASE_URL", None)
    full_env.update({"CHEDAITONG_RULES_DIR": str(ROOT / "rules"), **env})
    return subprocess.run(
        [sys.executable, "-m", "chedaitong", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


def test_db_upgrade_current_downgrade(database_url):
    env = {"DATABASE_URL": database_url, "CHEDAITONG_RULES_DIR": str(ROOT / "rules")}
    runner = CliRunner()
    up = runner.invoke(main, ["db", "upgrade"], env=env)
    assert up.exit_code == 0, up.output
    head = migrations.head_revision()
    assert f"database at revision {head}" in up.output
    cur = runner.invoke(main, ["db", "current"], env=env)
    assert f"current: {head}" in cur.output
    down = runner.invoke(main, ["db", "downgrade", "base"], env=env)
    assert down.exit_code == 0 and "revision base" in down.output


def test_malformed_database_url_is_one_line_and_exit_1():
    r = run_cli("db", "upgrade", DATABASE_URL="::nonsense::")
    assert r.returncode == 1
    assert r.stderr.strip() == "error: DATABASE_URL is not a database URL: '::nonsense::'"


def test_unreachable_database_is_one_line_and_exit_1():
    r = run_cli("db", "upgrade", DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert r.returncode == 1
    assert r.stderr.startswith("error: cannot reach database")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_missing_rules_directory_is_one_line_and_exit_1(tmp_path):
    r = run_cli("db", "current", CHEDAITONG_RULES_DIR=str(tmp_path / "gone"))
    assert r.returncode == 1
    assert "CHEDAITONG_RULES_DIR" in r.stderr and "Traceback" not in r.stderr
