"""Serve the sandbox vendors: ``python -m chedaitong_sim.sandbox --port 5100 --world
data/sample``."""

from __future__ import annotations

import argparse
import logging
import sys

from werkzeug.serving import make_server

from chedaitong_sim.sandbox.app import create_sandbox_app, sandbox_of


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chedaitong_sim.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default 127.0.0.1; the admin API is open)")
    parser.add_argument("--port", type=int, default=5100, help="0 picks a free port")
    parser.add_argument("--world", default=None, help="synthetic world folder (Parquet tables)")
    parser.add_argument("--latency-ms", type=float, default=None,
                        help="median latency for every vendor (default: per-vendor realistic)")
    parser.add_argument("--error-rate", type=float, default=0.0,
                        help="share of requests answered 500/503 (0..1)")
    parser.add_argument("--timeout-rate", type=float, default=0.0,
                        help="share of requests that hang past client timeouts (0..1)")
    parser.add_argument("--seed", type=int, default=0, help="fixes random latencies and faults")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    app = create_sandbox_app(args.world, latency_ms=args.latency_ms, error_rate=args.error_rate,
                             timeout_rate=args.timeout_rate, seed=args.seed)
    server = make_server(args.host, args.port, app, threaded=True)
    mode = f"world {args.world}" if sandbox_of(app).world_dir else "hash oracle (no world)"
    print(f"vendor sandbox on http://{args.host}:{server.server_port} — {mode}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox_of(app).state.stopping.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
