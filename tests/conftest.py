"""Shared fixtures: every database test runs on SQLite and, when TEST_DATABASE_URL is set, on
PostgreSQL too — each test in its own throw-away schema so tests can run in parallel."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from chedaitong.config import Settings
from chedaitong.crypto import DataCipher
from chedaitong.db import make_engine
from chedaitong.db import migrate as migrations
from featurestore import offline

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_WORLD = ROOT / "data" / "sample"
PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config, items) -> None:
    """Modules holding a `slow` test run first (each module kept whole, in its own order):
    under `pytest -n 2` the wall time is the busiest worker's, and a minute-long test handed
    out last leaves the other worker idle for that minute."""
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)  # stable: order kept within


@contextmanager
def empty_database(kind: str, directory: Path) -> Iterator[str]:
    """The URL of an empty database of `kind`: a SQLite file in `directory`, or a fresh
    PostgreSQL schema on TEST_DATABASE_URL, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings.from_env(
        {},
        env="test",
        database_url=database_url,
        var_dir=tmp_path / "var",
        rules_dir=ROOT / "rules",
    )


def copy_sqlite(source: str | Path, target: str | Path) -> None:
    """A consistent copy of a SQLite database file, WAL included (a file copy would miss what
    is still in the write-ahead log)."""
    import sqlite3

    src = sqlite3.connect(str(source))
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once per test process. Running the migrations took
    ~0.4 s for each of the ~340 SQLite tests that need a schema; copying this file takes a
    few milliseconds and gives the same database (tests/test_migrations.py proves that the
    migrations themselves build the models' schema, from empty, on every backend)."""
    path = tmp_path_factory.mktemp("migrated") / "head.db"
    eng = make_engine(f"sqlite:///{path}")
    migrations.upgrade(eng)
    eng.dispose()
    return path


@pytest.fixture
def engine(settings, request) -> Iterator[Engine]:
    """A migrated database (on SQLite a copy of the process's migrated file)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        copy_sqlite(request.getfixturevalue("migrated_sqlite"), url.database)
        eng = make_engine(settings.database_url)
    else:
        eng = make_engine(settings.database_url)
        migrations.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def app(settings, engine):
    from webapp import create_app

    application = create_app(settings)
    yield application
    from webapp.database import EXTENSION
    from webapp.services import EXTENSION as SERVICES

    application.extensions[SERVICES].queue.stop()  # its in-process decision worker, if any
    application.extensions[EXTENSION]["engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


_SAMPLE_FACTS: dict[str, pd.DataFrame] = {}


def sample_world_facts(cipher: DataCipher) -> pd.DataFrame:
    """`offline.world_facts` of the sample world under `cipher`'s blind index, computed once
    per test process and key (~8 s each: every upload of every sample customer is extracted,
    which loading even 30 of them into a database used to repeat in each test). Callers
    select from the frame; none may change it."""
    key = cipher.blind_index("sample world facts")  # names the key without exposing it
    if key not in _SAMPLE_FACTS:
        _SAMPLE_FACTS[key] = offline.world_facts(SAMPLE_WORLD, cipher.blind_index)
    return _SAMPLE_FACTS[key]


@pytest.fixture(scope="session")
def sample_champion_root(tmp_path_factory) -> Path:
    """A champion trained and promoted on the sample world's point-in-time frame, the way
    `make demo` builds one (once per test process)."""
    from models.registry import Registry
    from models.train import train_and_register

    world = SAMPLE_WORLD
    facts = sample_world_facts(DataCipher(bytes(32)))
    frame = offline.historical_applications(Path("-"), offline.application_entities(world),
                                            facts=facts)
    root = tmp_path_factory.mktemp("sample-models")
    registry = Registry(root)
    version, _ = train_and_register(frame, registry, report=False, source="data/sample")
    registry.promote(version, "champion")
    return root


def _operator_env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("CHEDAITONG_") and k != "DATABASE_URL"}
    return {**clean, **env}


@pytest.fixture
def operator_env():
    """``operator_env(**env)``: this process's environment without Chedaitong settings, plus
    ``env`` — what a command run by an operator in a clean shell sees."""
    return _operator_env


class ServerProcess:
    """A server started as its own process; its output is drained into ``lines``."""

    LISTENING = re.compile(r"(?:Running on|Listening at:) (http://127\.0\.0\.1:\d+)")

    def __init__(self, argv: list[str], env: dict[str, str], timeout: float = 90):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        found = threading.Event()
        self.url = ""

        def drain() -> None:
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                match = self.LISTENING.search(line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()
            found.set()

        threading.Thread(target=drain, name="server-output", daemon=True).start()
        if not found.wait(timeout) or not self.url:
            self.stop()
            raise AssertionError("server did not start:\n" + self.output)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def server_process() -> Iterator:
    """Start real server processes on free ports (``start(argv, env)`` → `ServerProcess`);
    each is stopped when the test ends."""
    started: list[ServerProcess] = []

    def start(argv: list[str], env: dict[str, str]) -> ServerProcess:
        server = ServerProcess(argv, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def rulebook():
    """The repository's rule files, compiled once per test session (closed at its end)."""
    from featurestore import catalog
    from ruleengine.rulebook import RuleBook

    book = RuleBook(ROOT / "rules", catalog=catalog())
    yield book
    book.close()
