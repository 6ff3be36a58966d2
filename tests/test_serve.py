"""A live server reloads its rules on SIGHUP — `chedaitong serve` and gunicorn alike — and
keeps serving the old version when the new files are invalid."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy.orm import Session

from chedaitong.db import Role, User, make_engine
from chedaitong.db import migrate as migrations
from decisioning.origination.accounts import issue_token

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def live(tmp_path, operator_env):
    """Rules copied to a folder we may edit, a migrated SQLite database with an admin token,
    and the environment a server process reads."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    var = tmp_path / "var"
    engine = make_engine(f"sqlite:///{var / 'chedaitong.db'}")
    migrations.upgrade(engine)
    with Session(engine) as s:
        admin = User(username="ops", display_name="ops", role=Role.ADMIN)
        s.add(admin)
        s.flush()
        token = issue_token(s, admin, label="test")
        s.commit()
    engine.dispose()
    env = operator_env(CHEDAITONG_VAR_DIR=str(var), CHEDAITONG_RULES_DIR=str(rules))
    return rules, env, {"Authorization": f"Bearer {token}"}


def underwriting_version(server, auth) -> str:
    resp = httpx.get(f"{server.url}/admin/rules/versions", headers=auth, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()["versions"]["underwriting"]


def declare_version(rules: Path, version: str) -> None:
    path = rules / "underwriting.yaml"
    text = path.read_text(encoding="utf-8")
    declared = next(line for line in text.splitlines() if line.startswith("version:"))
    path.write_text(text.replace(declared, f'version: "{version}"'), encoding="utf-8")


def wait_for(predicate, server, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert server.proc.poll() is None, f"server exited:\n{server.output}"
        assert time.monotonic() < deadline, f"{what} within {timeout}s:\n{server.output}"
        time.sleep(0.2)


def test_sighup_reloads_the_rules_of_chedaitong_serve(live, server_process):
    rules, env, auth = live
    server = server_process([sys.executable, "-m", "chedaitong", "serve", "--port", "0"], env)
    before = underwriting_version(server, auth)
    declare_version(rules, "2099.01.1-hup")
    assert underwriting_version(server, auth) == before  # files alone change nothing

    os.kill(server.proc.pid, signal.SIGHUP)
    wait_for(lambda: underwriting_version(server, auth).startswith("2099.01.1-hup+"), server,
             "SIGHUP did not reload the rules")
    assert server.proc.poll() is None

    reloaded = underwriting_version(server, auth)
    (rules / "underwriting.yaml").write_text("rules: [this is not a rule file\n")
    os.kill(server.proc.pid, signal.SIGHUP)
    wait_for(lambda: "SIGHUP reload failed" in server.output, server,
             "the refused reload was not logged")
    assert underwriting_version(server, auth) == reloaded  # the old version keeps serving
    assert server.proc.poll() is None


def test_sighup_to_the_gunicorn_master_reloads_every_worker_in_place(live, server_process):
    rules, env, auth = live
    server = server_process(
        [sys.executable, "-m", "gunicorn", "-c", "python:webapp.gunicorn_conf", "-w", "2",
         "-b", "127.0.0.1:0", "webapp:create_app()"], env)
    master = psutil.Process(server.proc.pid)
    wait_for(lambda: server.output.count("reloads the rules on SIGHUP") == 2, server,
             "two workers did not boot")
    before = {underwriting_version(server, auth) for _ in range(12)}
    assert len(before) == 1
    workers = {p.pid for p in master.children()}
    declare_version(rules, "2099.01.1-hup")

    os.kill(server.proc.pid, signal.SIGHUP)
    wait_for(lambda: all(underwriting_version(server, auth).startswith("2099.01.1-hup+")
                         for _ in range(12)), server, "SIGHUP did not reload every worker")
    assert {p.pid for p in master.children()} == workers, server.output  # in place
    assert server.proc.poll() is None
