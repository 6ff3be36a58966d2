"""The domain services one app uses (decision service, vendors, feature store, upload dir).

Built lazily on first use so the app starts without a model or a vendor; tests replace them
by assigning `app.extensions[EXTENSION]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from werkzeug.exceptions import ServiceUnavailable

from chedaitong.config import Settings
from chedaitong.crypto import DataCipher
from decisioning.service import DecisionService
from featurestore.store import FeatureStore
from vendors.registry import Vendors

EXTENSION = "chedaitong.services"


@dataclass
class Services:
    store: FeatureStore
    upload_dir: Path
    vendors: Vendors | None = None
    decisions: DecisionService | None = None
    settings: Settings | None = None

    def decision_service(self) -> DecisionService:
        if self.decisions is None:
            from decisioning.factory import build_service

            self.decisions = build_service(self.settings)  # type: ignore[arg-type]
        return self.decisions

    def rulebook(self):
        """The serving rule book, or 503 when the decision service has none."""
        rules = getattr(self.decision_service(), "rules", None)
        if rules is None:
            raise ServiceUnavailable("no rule book is loaded")
        return rules

    def vendor(self, name: str):
        """The named vendor adapter, or 503 when no vendor URL is configured."""
        if self.vendors is None:
            raise ServiceUnavailable(f"vendor {name} is not configured (CHEDAITONG_VENDOR_URL)")
        return getattr(self.vendors, name)


def init_app(app: Flask, settings: Settings) -> None:
    vendors = None
    if settings.vendor_url:
        from vendors.registry import vendors_from_settings

        vendors = vendors_from_settings(settings)
    app.extensions[EXTENSION] = Services(
        store=FeatureStore(DataCipher(settings.data_key)),
        upload_dir=Path(settings.var_dir) / "uploads",
        vendors=vendors,
        settings=settings,
    )


def services() -> Services:
    return current_app.extensions[EXTENSION]


def install_rules_reload(app: Flask):
    """SIGHUP reloads the rule files of this process's decision service, in place (call from
    the main thread: `chedaitong serve`, each gunicorn worker). In-flight evaluations finish
    on the old version; invalid files are refused and the old version keeps serving. Returns
    the previous handler."""
    from ruleengine.registry import install_sighup_handler

    def serving_rulebook():
        decisions = app.extensions[EXTENSION].decisions
        return None if decisions is None else getattr(decisions, "rules", None)

    return install_sighup_handler(serving_rulebook)
