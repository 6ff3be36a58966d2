"""The nightly post-loan inspection: `run` (per-day flow against the database), `inspection`
(the pure per-partition computation), `lock` (one run at a time), `distributed` (Dask) and `cli`."""
