"""The process's `decisioning.container.Services` on the app: built once in `create_app`
(tests replace parts by assigning attributes of ``app.extensions[EXTENSION]``)."""

from __future__ import annotations

from flask import Flask, current_app

from chedaitong.config import Settings
from decisioning.container import Services, build_services

EXTENSION = "chedaitong.services"


def init_app(app: Flask, settings: Settings, services: Services | None = None) -> None:
    """The services, and the decision queue submits go through: Redis when
    ``CHEDAITONG_QUEUE_URL`` is set (decided by `chedaitong worker` processes), else an
    in-process worker started with the first submit (or by `start_embedded_worker`)."""
    from decisioning.queue import build_queue
    from webapp import database

    svc = services or build_services(settings)
    app.extensions[EXTENSION] = svc
    if svc.queue is None:
        build_queue(settings, svc, app.extensions[database.EXTENSION]["sessions"])


def start_embedded_worker(app: Flask) -> None:
    """Serving without a queue URL: start this process's in-process decision worker now, so
    decisions left waiting by a previous run are taken without waiting for a new submit.
    Builds the decision service first (model and rules, once per process)."""
    svc = app.extensions[EXTENSION]
    if svc.queue is not None and svc.queue.embedded:
        svc.decision_service()
        svc.queue.start_workers()


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
