"""Safe defaults: per-install keys (0600) instead of published ones, uploads sealed at rest,
private database file, security headers on every API answer, no versions in `Server`."""

from __future__ import annotations

import base64

from chedaitong.config import DEV_DATA_KEY, DEV_SECRET_KEY, Settings
from chedaitong.crypto import DecryptionError
from chedaitong.db import make_engine
from decisioning.origination import files
from webapp.security import RequestHandler

from .conftest import ROOT


def test_a_development_install_generates_its_own_keys_once(tmp_path):
    var = tmp_path / "var"
    first = Settings.from_env({}, var_dir=var, rules_dir=ROOT / "rules")
    assert first.secret_key != DEV_SECRET_KEY and len(first.secret_key) >= 32
    assert first.data_key != base64.urlsafe_b64decode(DEV_DATA_KEY)
    for name in ("secret_key", "data_key"):
        assert (var / name).stat().st_mode & 0o777 == 0o600
    assert var.stat().st_mode & 0o777 == 0o700
    again = Settings.from_env({}, var_dir=var, rules_dir=ROOT / "rules")
    assert (again.secret_key, again.data_key) == (first.secret_key, first.data_key)
    other = Settings.from_env({}, var_dir=tmp_path / "other", rules_dir=ROOT / "rules")
    assert other.secret_key != first.secret_key  # per install
    explicit = Settings.from_env({"SECRET_KEY": "s" * 40}, var_dir=var, rules_dir=ROOT / "rules")
    assert explicit.secret_key == "s" * 40


def test_the_sqlite_file_is_private(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'x.db'}")
    with engine.connect():
        pass
    assert (tmp_path / "db" / "x.db").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "db").stat().st_mode & 0o777 == 0o700


def test_uploads_are_sealed_and_bound_to_their_hash(api):
    from webapp.services import EXTENSION

    upload_dir = api.extensions[EXTENSION].upload_dir
    stored = files.StoredFile.of("%PDF-1.4 contract of 张三".encode(), "application/pdf", "c.pdf")
    path = files.save(upload_dir, stored)
    assert "张三".encode() not in path.read_bytes()
    assert files.load(upload_dir, stored.sha256) == stored.content
    other = files.StoredFile.of(b"%PDF-1.4 other", "application/pdf", "o.pdf")
    files.save(upload_dir, other)
    swapped = upload_dir.target(other.sha256)
    swapped.write_bytes(path.read_bytes())  # a file moved under another hash fails to open
    try:
        files.load(upload_dir, other.sha256)
        raise AssertionError("a moved ciphertext must not decrypt")
    except DecryptionError:
        pass


def test_security_headers_on_every_api_answer(api, staff):
    client = api.test_client()
    for r in (client.get("/me", headers=staff.h("c1")), client.get("/me"),
              client.get("/no/such"), client.post("/customers/register", json={})):
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "Server" not in r.headers or "Werkzeug" not in r.headers["Server"]
    page = client.get("/pages/login")
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_405_names_the_allowed_methods(client):
    r = client.delete("/me")
    assert r.status_code == 405 and r.is_json
    assert set(r.headers["Allow"].split(", ")) >= {"GET"}


def test_the_development_server_names_no_versions():
    handler = RequestHandler.__new__(RequestHandler)
    assert handler.version_string() == "chedaitong"


def test_a_failed_statement_names_no_bound_values(database_url):
    # the error (and so the log line of an unexpected 500) must not carry personal data
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    engine = make_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as failed, engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table WHERE name = :name"),
                         {"name": "张三 13800138000"})
        assert "13800138000" not in str(failed.value)
        assert "hidden due to hide_parameters" in str(failed.value)
    finally:
        engine.dispose()
