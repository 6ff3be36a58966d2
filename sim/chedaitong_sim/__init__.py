"""The simulation around Chedaitong — not the product, never imported by it.

- `worldgen`: a synthetic car-loan world with known ground truth (`chedaitong data generate`);
- `sandbox`: every external vendor played locally, failures included (`python -m
  chedaitong_sim.sandbox`);
- `worldload`: a world's dealers, customers, applications and booked loans into the database;
- `demo`: `chedaitong demo seed / journey`;
- `synthetic`: catalog-shaped frames for the model and rule-engine tests and benchmarks;
- `testing`: valid synthetic ID numbers and vendor adapters tuned for tests.

Installed beside the runtime by `make install`; a plain `pip install .` of the platform
leaves all of it out.
"""
