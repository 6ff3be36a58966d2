"""The Dask engine: the same `inspect_partition` on a cluster, persisted by the driver.

The driver reads partitions from the database and writes results back (one transaction per
partition, so resume and idempotency are unchanged); only the pure per-partition function runs
on the workers. The model and rules travel as paths (`Resources`) and are loaded once per
worker process, not pickled with every task.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from decisioning.postloan.inspection import Partition, PartitionResult, Resources, inspect_partition


def make_mapper(client: Any):
    """A `close_day` mapper running each partition as one task on `client`'s cluster."""

    def mapper(parts: list[Partition], as_of: date, resources: Resources) -> list[PartitionResult]:
        futures = [client.submit(inspect_partition, p, as_of, resources, pure=False)
                   for p in parts]
        return client.gather(futures)

    return mapper


def connect(scheduler: str | None) -> Any:
    """A client for `scheduler` (host:port), or a small local cluster when None."""
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    return Client(LocalCluster(n_workers=2, threads_per_worker=1, processes=False))
