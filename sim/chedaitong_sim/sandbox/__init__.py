"""A local stand-in for every external vendor, realistic in its answers (from the synthetic
world or a hash of the inputs) and in its failures (latency, errors, hangs, outages)."""

from chedaitong_sim.sandbox.app import create_sandbox_app
from chedaitong_sim.sandbox.server import SandboxServer, running_sandbox, start_sandbox

__all__ = ["SandboxServer", "create_sandbox_app", "running_sandbox", "start_sandbox"]
