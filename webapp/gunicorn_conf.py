"""gunicorn settings: ``gunicorn -c python:webapp.gunicorn_conf -w 4 -b HOST:PORT
'webapp:create_app()'``.

SIGHUP to the master reloads the rule files in every worker, in place — the same as
``chedaitong serve`` and ``POST /admin/rules/reload``: the workers keep running, evaluations
in flight finish on the old version, and files that fail validation are refused while the old
version keeps serving. gunicorn's own HUP (start new workers, stop the old ones) cannot keep
that last promise — a new worker can only load what is on disk — so the master forwards HUP to
its workers instead. To deploy new code or settings, restart gunicorn (or USR2 then QUIT the
old master, gunicorn's zero-downtime upgrade).
"""

from __future__ import annotations

import signal


def when_ready(server) -> None:
    """The master forwards HUP to every worker instead of replacing them."""

    def forward_hup() -> None:
        server.log.info("Hang up: reloading the rules in every worker")
        server.kill_workers(signal.SIGHUP)

    server.handle_hup = forward_hup  # the arbiter dispatches signals to handle_<name>


def post_worker_init(worker) -> None:
    """Each worker reloads its rule book on SIGHUP. (gunicorn resets a worker's HUP to the
    default until this hook runs: a worker still booting when HUP arrives is ended and
    started again by the master — it then reads the new files anyway.)"""
    from webapp import longpoll
    from webapp.services import install_rules_reload, start_embedded_worker

    if hasattr(worker.wsgi, "extensions"):  # not gunicorn's stand-in for an app that failed
        install_rules_reload(worker.wsgi)
        # long-polls may hold this worker's threads less the reserve (sync workers: none)
        longpoll.init_app(worker.wsgi, threads=worker.cfg.threads)
        worker.log.info("Worker %s reloads the rules on SIGHUP", worker.pid)
        # services built before the first request; without CHEDAITONG_QUEUE_URL this
        # process also runs its in-process decision worker
        worker.wsgi.extensions["chedaitong.services"].decision_service()
        start_embedded_worker(worker.wsgi)
