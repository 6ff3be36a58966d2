"""Headless Chromium (Debian's chromium + chromium-driver, no browser downloads) driving the
pages on a real server in a background thread, over the same seeded app as tests/webapp.

``CHEDAITONG_SKIP_BROWSER=1`` skips these tests (said so in the report header and the skip
reason); otherwise a missing browser fails them with the command that installs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

# the app fixtures of tests/webapp (sandbox vendors, stub decisions, seeded staff, a model)
from ..webapp.conftest import api, sandbox, staff  # noqa: F401
from ..webapp.test_pages import model_root, settings  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SKIP = os.environ.get("CHEDAITONG_SKIP_BROWSER") == "1"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--window-size=1280,1000")


def pytest_report_header(config) -> str | None:
    if SKIP:
        return "browser tests: SKIPPED (CHEDAITONG_SKIP_BROWSER=1)"
    return None


def pytest_collection_modifyitems(config, items) -> None:
    """Skip before any fixture (database, model training) is built."""
    if SKIP:
        mark = pytest.mark.skip(reason="browser tests skipped: CHEDAITONG_SKIP_BROWSER=1")
        for item in items:
            if Path(str(item.fspath)).parent == Path(__file__).parent:
                item.add_marker(mark)


@pytest.fixture(scope="session", autouse=True)
def _require_browser() -> None:
    """Fail fast (before the app and the model are built) when the browser is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(f"headless Chromium is not installed ({', '.join(missing)} missing): run "
                    "scripts/ensure-chromium.sh (needs network and root), or set "
                    "CHEDAITONG_SKIP_BROWSER=1 to skip the browser tests", pytrace=False)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is not installed: .venv/bin/pip install selenium", pytrace=False)


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """``app`` on 127.0.0.1 (a free port) in a background thread; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def live_server(api):  # noqa: F811  (the imported fixture)
    """The seeded test app served on a free port; yields its base URL."""
    with serving(api) as url:
        yield url


def requests_made(driver) -> list[str]:
    """Every URL the page has requested so far (Chromium's network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.fixture
def browser(request):
    """A fresh headless Chromium profile per test; a screenshot is saved when it ends."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cdt-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # requests_made()
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}-final.png"))
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
