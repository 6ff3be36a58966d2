"""The process's `decisioning.container.Services` on the app: built once in `create_app`
(tests replace parts by assigning attributes of ``app.extensions[EXTENSION]``)."""

from __future__ import annotations

from flask import Flask, current_app

from chedaitong.config import Settings
from decisioning.container import Services, build_services

EXTENSION = "chedaitong.services"


def init_app(app: Flask, settings: Settings, services: Services | None = None) -> None:
    app.extensions[EXTENSION] = services or build_services(settings)


def services() -> Services:
    return current_app.extensions[EXTENSION]


def install_rules_reload(app: Flask):
    """SIGHUP reloads the rule files of this process's decision service, in place (call from
    the main thread: `chedaitong serve`, each gunicorn worker). In-flight evaluations finish
    on the old version; invalid files are refused and the old version keeps serving. Returns
    the previous handler."""
    from ruleengine.rulebook import install_sighup_handler

    def serving_rulebook():
        decisions = app.extensions[EXTENSION].decisions
        return None if decisions is None else getattr(decisions, "rules", None)

    return install_sighup_handler(serving_rulebook)
