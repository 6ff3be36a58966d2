"""How quickly the `chedaitong` command answers: wall time of `chedaitong --help`,
`chedaitong model --help` and `chedaitong rules validate` (each a fresh process, as typed),
against the floor `python -c "import click"` measured in the same run.

    .venv/bin/python bench/bench_cli.py [--repeat 5]

Target: `--help` ≤ 0.5 s and ≤ 3× the bare click import (medians).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FLOOR = ("python -c 'import click'", [sys.executable, "-c", "import click"])
COMMANDS = [
    ("chedaitong --help", [str(BIN / "chedaitong"), "--help"]),
    ("chedaitong model --help", [str(BIN / "chedaitong"), "model", "--help"]),
    ("chedaitong rules validate", [str(BIN / "chedaitong"), "rules", "validate"]),
]
TARGET_SECONDS, TARGET_RATIO = 0.5, 3.0


def wall_time(argv: list[str]) -> float:
    """Seconds for one run of ``argv`` in a fresh process, as an operator's shell runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHEDAITONG_")}
    env["CHEDAITONG_RULES_DIR"] = str(ROOT / "rules")
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = [FLOOR, *COMMANDS]
    for _, argv in runs:  # warm-up, untimed: the page cache and .pyc files
        wall_time(argv)
    # interleaved rounds, so a busy moment of the machine weighs on every command alike
    samples: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(args.repeat):
        for name, argv in runs:
            samples[name].append(wall_time(argv))
    floor = statistics.median(samples[FLOOR[0]])
    print(f"{'command':<28} {'median':>9} {'max':>9} {'× click':>8}   (median of {args.repeat})")
    for name, times in samples.items():
        median = statistics.median(times)
        print(f"{name:<28} {median * 1e3:7.0f} ms {max(times) * 1e3:6.0f} ms "
              f"{median / floor:7.2f}×")
    help_median = statistics.median(samples[COMMANDS[0][0]])
    met = help_median <= TARGET_SECONDS and help_median / floor <= TARGET_RATIO
    print(f"target `chedaitong --help` ≤ {TARGET_SECONDS} s and ≤ {TARGET_RATIO:g}× click: "
          + ("met" if met else "MISSED"))


if __name__ == "__main__":
    main()
