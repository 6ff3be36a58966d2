"""A local stand-in for every external vendor, realistic in its answers (from the synthetic
world or a hash of the inputs) and in its failures (latency, errors, hangs, outages)."""

from vendors.sandbox.app import create_sandbox_app
from vendors.sandbox.server import SandboxServer, running_sandbox, start_sandbox

__all__ = ["SandboxServer", "create_sandbox_app", "running_sandbox", "start_sandbox"]
