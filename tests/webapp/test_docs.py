"""`/docs` is Swagger UI served by the app itself, from the pinned swagger-ui-bundle."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
from swagger_ui_bundle import swagger_ui_path

from webapp import create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(tmp_path):
    """The app on its defaults (nothing here touches the database)."""
    return create_app({"env": "test", "var_dir": tmp_path, "rules_dir": ROOT / "rules"}
                      ).test_client()


def test_docs_and_every_asset_it_references_load_from_the_app(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not re.search(r"https?://", html), "the page refers to another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {
        "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}
    for asset in assets:
        resp = client.get(asset)
        assert resp.status_code == 200, asset
        name = asset.rsplit("/", 1)[-1]
        assert resp.data == (swagger_ui_path / name).read_bytes(), asset
    spec_url = re.search(r'url: "([^"]+)"', html).group(1)
    assert client.get(spec_url).get_json()["info"]["title"] == "Chedaitong API"
    assert '"validatorUrl": null' in html  # never sends our spec to the public validator


def test_swagger_ui_is_pinned():
    lines = (ROOT / "setup.cfg").read_text(encoding="utf-8").splitlines()
    requirement = next(s.strip() for s in lines if s.strip().startswith("swagger-ui-bundle"))
    assert requirement == f"swagger-ui-bundle=={version('swagger-ui-bundle')}"
