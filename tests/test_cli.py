"""The `chedaitong` command: migrations, one-line errors for operator mistakes, and a quick
start: help that imports nothing heavy, known tooling settings, folders created."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from chedaitong.cli import COMMAND_GROUPS, main, plugin_groups
from chedaitong.clock import lender_today
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


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:",
                                 "sqlite:///file:w?mode=memory&cache=shared&uri=true"])
def test_a_worker_on_an_in_memory_database_is_refused_in_one_line(url):
    # another process can never see that database: the worker would decide nothing
    r = run_cli("worker", DATABASE_URL=url, CHEDAITONG_QUEUE_URL="redis://127.0.0.1:1/0")
    assert r.returncode == 1
    assert r.stderr.startswith("Error: DATABASE_URL is an in-memory SQLite database")
    assert "Traceback" not in r.stderr


def test_missing_rules_directory_is_one_line_and_exit_1(tmp_path):
    r = run_cli("db", "current", CHEDAITONG_RULES_DIR=str(tmp_path / "gone"))
    assert r.returncode == 1
    assert "CHEDAITONG_RULES_DIR" in r.stderr and "Traceback" not in r.stderr


# -- a newcomer's first hour -------------------------------------------------------------------

HEAVY = ("numpy", "pandas", "pyarrow", "sklearn", "scipy", "lightgbm", "optbinning",
         "durable", "flask", "sqlalchemy", "cryptography", "httpx", "matplotlib", "dask")


def modules_loaded_by(*args: str) -> set[str]:
    """The modules a fresh interpreter has imported after running `chedaitong ARGS`."""
    code = ("import sys\nfrom chedaitong.cli import main\n"
            "try:\n    main(sys.argv[1:], prog_name='chedaitong')\n"
            "except SystemExit:\n    pass\n"
            "sys.stderr.write('\\n'.join(sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "CHEDAITONG_RULES_DIR": str(ROOT / "rules")})
    assert "Usage:" in r.stdout, r.stdout + r.stderr
    return set(r.stderr.split())


@pytest.mark.parametrize("group", [None, "db", *COMMAND_GROUPS, *plugin_groups()])
def test_help_imports_only_click_and_the_command_modules(group):
    args = ["--help"] if group is None else [group, "--help"]
    loaded = modules_loaded_by(*args)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == [], f"`chedaitong {' '.join(args)}` imported {heavy[:8]}"
    platform = {m for m in loaded if m.split(".")[0] in
                {"featurestore", "models", "ruleengine", "decisioning", "servicing",
                 "webapp", "vendors"}}
    simulation = {m for m in loaded if m.split(".")[0] == "chedaitong_sim"}
    # the simulation's groups (entry points) summarise themselves: their click-only modules
    sim_commands = {"chedaitong_sim", "chedaitong_sim.worldgen", "chedaitong_sim.worldgen.cli",
                    "chedaitong_sim.demo"}
    assert simulation <= sim_commands, sorted(simulation - sim_commands)
    if group is None:
        assert platform == set()
    else:  # the group's own module (and its package)
        table = {**plugin_groups(), **COMMAND_GROUPS}
        module = table.get(group, ("chedaitong.cli:",))[0].partition(":")[0]
        assert module in loaded | {"chedaitong.cli"}


def test_the_command_table_summaries_are_the_groups_own():
    ctx = click.Context(main)
    for name, (_, summary) in COMMAND_GROUPS.items():
        group = main.get_command(ctx, name)
        assert group.name == name
        assert group.get_short_help_str(limit=500) == summary


def test_every_command_name_is_kept():
    ctx = click.Context(main)
    found = {n: sorted(getattr(main.get_command(ctx, n), "commands", {}))
             for n in main.list_commands(ctx)}
    assert found == {
        "collections": ["call-tasks"],
        "data": ["generate"], "db": ["current", "downgrade", "upgrade"],
        "decisions": ["replay"], "demo": ["build", "journey", "seed"],
        "features": ["build", "docs", "historical", "list"],
        "model": ["evaluate", "history", "list", "promote", "rollback", "train"],
        "postloan": ["run"], "rules": ["backtest", "test", "validate", "versions"],
        "segments": ["run"],
        "serve": [], "servicing": ["import-bank-file"], "worker": [],
    }


def test_the_makefile_browser_switch_is_a_known_setting(tmp_path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    ok = run_cli("db", "current", DATABASE_URL=db, CHEDAITONG_SKIP_BROWSER="1")
    assert ok.returncode == 0, ok.stderr
    typo = run_cli("db", "current", DATABASE_URL=db, CHEDAITONG_SKIP_BROWSERS="1")
    assert typo.returncode == 1 and len(typo.stderr.strip().splitlines()) == 1
    assert typo.stderr.startswith("error: unknown setting CHEDAITONG_SKIP_BROWSERS")


def test_db_upgrade_creates_the_var_dir(tmp_path):
    var = tmp_path / "not" / "yet"
    r = run_cli("db", "upgrade", CHEDAITONG_VAR_DIR=str(var))
    assert r.returncode == 0, r.stderr
    assert (var / "chedaitong.db").is_file()


@pytest.mark.parametrize("args", [
    ["--as-of", "2099-01-01"],
    ["--from", "2020-01-01", "--to", "2099-01-01"],
    ["--as-of", "TOMORROW"],
])
def test_postloan_refuses_a_day_after_today_in_one_line(args):
    # "tomorrow" on the lender's calendar, computed when the test runs (not at collection,
    # which may be on the other side of midnight)
    tomorrow = (lender_today() + dt.timedelta(days=1)).isoformat()
    args = [tomorrow if a == "TOMORROW" else a for a in args]
    # an unreachable database: the refusal comes before anything is opened
    r = run_cli("postloan", "run", *args, DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "after today" in r.stderr and "--allow-future" in r.stderr
    allowed = run_cli("postloan", "run", *args, "--allow-future",
                      DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert allowed.returncode == 1 and allowed.stderr.startswith("error: cannot reach database")


def test_postloan_accepts_today():
    r = run_cli("postloan", "run", "--as-of", lender_today().isoformat(),
                DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert r.returncode == 1 and r.stderr.startswith("error: cannot reach database")


def test_a_typo_stops_even_commands_that_read_no_settings_but_help_answers():
    typo = run_cli("rules", "validate", CHEDAITONG_RULEZ_DIR="elsewhere")
    assert typo.returncode == 1 and typo.stdout == ""
    assert typo.stderr.startswith("error: unknown setting CHEDAITONG_RULEZ_DIR")
    assert len(typo.stderr.strip().splitlines()) == 1
    helped = run_cli("rules", "validate", "--help", CHEDAITONG_RULEZ_DIR="elsewhere")
    assert helped.returncode == 0 and "Usage:" in helped.stdout


@pytest.mark.parametrize(("args", "exit_code", "says"), [
    (("serve", "--port", "99999"), 2, "--port"),  # was served on 99999 % 65536 = 34463
    (("decisions", "replay", "99999999999999999999"), 2, "RECORD_IDS"),  # a traceback
    (("db", "downgrade", "nonexistent"), 1, "nonexistent"),  # alembic's traceback
    (("db", "upgrade", "nonexistent"), 1, "nonexistent"),
])
def test_an_argument_out_of_range_or_unknown_is_one_line_not_a_traceback(
        database_url, args, exit_code, says):
    r = run_cli(*args, DATABASE_URL=database_url)
    assert r.returncode == exit_code, r.stderr[-500:]
    assert "Traceback" not in r.stderr and says in r.stderr, r.stderr[-500:]
