"""Parity of the nightly inspection between two code trees: the speed work on
`bench_postloan.py` must not change one output value.

`dump` runs `inspect_partition` (and `postloan_features`) on partitions generated exactly as
the benchmark does (same seed, same models), importing the job's code from ``--code`` (a
checkout, e.g. a second worktree of main), and pickles the results; `compare` reports every
column that differs between two dumps and exits non-zero if any does.

    .venv/bin/python bench/postloan_parity.py dump --code ../i16s-base /tmp/base.pkl
    .venv/bin/python bench/postloan_parity.py dump /tmp/branch.pkl
    .venv/bin/python bench/postloan_parity.py compare /tmp/base.pkl /tmp/branch.pkl

The generator and the model training (`bench_postloan.portfolio`, `.champions`) are always this
tree's, so both dumps score the same portfolio with the same models (the dump records a
digest of the generated inputs; `compare` checks it).
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parents[1]


def _digest(frames: list[pd.DataFrame]) -> str:
    h = hashlib.sha256()
    for f in frames:
        h.update(pd.util.hash_pandas_object(f.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()


def dump(code: Path, out: Path, loans: int, partition: int) -> None:
    sys.path[:0] = [str(code), str(HERE / "bench")]
    import bench_postloan as bench  # noqa: PLC0415 — imports the job from ``code``

    from decisioning.postloan.inspection import (  # noqa: PLC0415
        Resources,
        inspect_partition,
        postloan_features,
        warm,
    )

    assert Path(sys.modules["decisioning"].__file__).resolve().is_relative_to(code), code
    rng = np.random.default_rng(5)
    results: dict[str, list[pd.DataFrame]] = {}
    inputs: list[pd.DataFrame] = []
    with tempfile.TemporaryDirectory() as tmp:
        bench.champions(tmp)
        resources = Resources(tmp, str(code / "rules"))
        warm(resources)  # as the job and the benchmark do (it builds the batch reason tables)
        for start in range(0, loans, partition):
            part = bench.portfolio(min(partition, loans - start), start + 1, rng)
            inputs += [part.loans, part.installments, part.facts]
            r = inspect_partition(part, bench.AS_OF, resources)
            for name, f in (("accruals", r.accruals), ("charged", r.charged),
                            ("loans", r.loans), ("actions", r.actions),
                            ("features", postloan_features(part, bench.AS_OF))):
                results.setdefault(name, []).append(f)
    merged = {k: pd.concat(v, ignore_index=True) for k, v in results.items()}
    merged["loans"] = merged["loans"].drop(columns=["behaviour_version"])  # a fresh id each run
    out.write_bytes(pickle.dumps({"inputs": _digest(inputs), "frames": merged}))
    print(f"{out}: " + ", ".join(f"{k} {len(v):,} rows" for k, v in merged.items()))


def _same(a: pd.Series, b: pd.Series) -> bool:
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return bool(np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True))
    return a.astype(object).map(repr).equals(b.astype(object).map(repr))


def compare(a_path: Path, b_path: Path) -> int:
    a, b = pickle.loads(a_path.read_bytes()), pickle.loads(b_path.read_bytes())
    if a["inputs"] != b["inputs"]:
        print("the two dumps were generated from different portfolios")
        return 2
    bad = 0
    for name, fa in a["frames"].items():
        fb = b["frames"][name]
        if list(fa.columns) != list(fb.columns) or len(fa) != len(fb):
            print(f"{name}: shape/columns differ {fa.shape} {fb.shape}")
            bad += 1
            continue
        diff = [c for c in fa.columns if not _same(fa[c], fb[c])]
        print(f"{name}: {len(fa):,} rows, {len(fa.columns)} columns, "
              + (f"DIFFER in {diff}" if diff else "identical"))
        bad += bool(diff)
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--code", type=Path, default=HERE, help="checkout whose code runs")
    d.add_argument("--loans", type=int, default=200_000)
    d.add_argument("--partition", type=int, default=100_000)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.cmd == "dump":
        dump(args.code.resolve(), args.out, args.loans, args.partition)
    else:
        sys.exit(compare(args.a, args.b))


if __name__ == "__main__":
    main()
