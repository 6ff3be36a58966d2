"""`/docs` renders Swagger UI in a real browser with no request leaving the app (the machine
has no internet: a CDN asset would leave the page blank)."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from webapp import create_app

from .conftest import ARTIFACTS, requests_made, serving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def docs_server(tmp_path):
    """The app on its defaults (the docs need no database) on a free port."""
    with serving(create_app({"env": "test", "var_dir": tmp_path, "rules_dir": ROOT / "rules"})
                 ) as url:
        yield url


def test_docs_render_with_no_outside_request(docs_server, browser):
    browser.get(f"{docs_server}/docs")
    WebDriverWait(browser, 20).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    paths = {e.text.replace("\u200b", "") for e in
             browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/healthz" in paths and "/applications" in paths
    browser.save_screenshot(str(ARTIFACTS / "api-docs.png"))
    urls = requests_made(browser)
    assert any(u.endswith("/openapi.json") for u in urls)
    network = [u for u in urls if u.startswith(("http:", "https:", "ws:", "wss:"))]
    assert [u for u in network if not u.startswith(f"{docs_server}/")] == []
