"""Run the sandbox on localhost in a background thread (tests, notebooks) and drive its admin
endpoints from Python."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from chedaitong_sim.sandbox.app import create_sandbox_app, sandbox_of


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log lines (tests run thousands of requests)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class SandboxServer:
    """A running sandbox: ``base_url`` for `vendors.build_vendors`, admin helpers, ``stop()``."""

    def __init__(self, server: BaseWSGIServer) -> None:
        self._server = server
        self.app = server.app
        self.sandbox = sandbox_of(server.app)
        self.base_url = f"http://127.0.0.1:{server.server_port}"
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                        name="vendor-sandbox",
                                        daemon=True)
        self._admin = httpx.Client(base_url=self.base_url, timeout=5.0)

    def start(self) -> SandboxServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wake every request still sleeping in a latency or hang."""
        self.sandbox.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._admin.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- admin helpers --------------------------------------------------------------------
    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        resp = self._admin.post(f"/_admin/{path}", json=dict(body))
        resp.raise_for_status()
        return resp.json()

    def outage(self, vendor: str, down: bool = True, mode: str = "error") -> None:
        self._post("outage", {"vendor": vendor, "down": down, "mode": mode})

    def configure(self, vendor: str = "*", **knobs: Any) -> dict[str, Any]:
        return self._post("config", {"vendor": vendor, **knobs})

    def script(self, vendor: str, *faults: Mapping[str, Any]) -> None:
        self._post("script", {"vendor": vendor, "faults": [dict(f) for f in faults]})

    def calls(self, vendor: str | None = None) -> list[dict[str, Any]]:
        params = {"vendor": vendor} if vendor else None
        return self._admin.get("/_admin/calls", params=params).raise_for_status().json()

    def records(self, kind: str) -> list[dict[str, Any]]:
        return self._admin.get(f"/_admin/records/{kind}").raise_for_status().json()

    def update_case(self, case_id: str, **fields: Any) -> dict[str, Any]:
        return self._post(f"cases/{case_id}", fields)

    def reset(self) -> None:
        self._post("reset", {})


def start_sandbox(
    world_dir: Any = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> SandboxServer:
    """Serve a new sandbox (``options`` as for `create_sandbox_app`) on ``host:port`` — port 0
    picks a free one — in a daemon thread; returns once it accepts connections."""
    app = create_sandbox_app(world_dir, **options)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    return SandboxServer(server).start()


@contextmanager
def running_sandbox(world_dir: Any = None, **options: Any) -> Iterator[SandboxServer]:
    server = start_sandbox(world_dir, **options)
    try:
        yield server
    finally:
        server.stop()


logging.getLogger("werkzeug").setLevel(logging.WARNING)
