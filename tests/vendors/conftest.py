"""A fresh sandbox on an ephemeral 127.0.0.1 port per test, and fast adapters pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chedaitong_sim.sandbox import SandboxServer, running_sandbox
from chedaitong_sim.testing import fast_vendors
from vendors import Vendors

HANG_S = 1.0  # how long a sandbox "timeout" hangs: well past the 0.3 s read timeout


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(latency_ms=1, seed=7, config={"*": {"timeout_s": HANG_S}}) as srv:
        yield srv


@pytest.fixture
def vendors(sandbox: SandboxServer) -> Iterator[Vendors]:
    with fast_vendors(sandbox.base_url) as v:
        yield v
