"""The set-up the decision benchmarks share: part of the sample world in a fresh SQLite file,
a champion trained once on the sample's point-in-time frame (reused across runs), and the
decision service over it.

    from _world import bench_world
    world = bench_world(OUT, "decide.db")
    with Session(world.engine) as s:
        ids = world.load(s, customers=500)

One module so `bench_decide.py` and `bench_guidance.py` time the same world, models and
rules, and a change to how the world is loaded is made once.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from sqlalchemy import Engine, create_engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from chedaitong.crypto import DataCipher  # noqa: E402
from chedaitong.db import migrate  # noqa: E402
from chedaitong_sim.worldload.origination import load_world  # noqa: E402
from decisioning.service import DecisionService  # noqa: E402
from featurestore import catalog, offline  # noqa: E402
from featurestore.store import FeatureStore  # noqa: E402
from models.registry import Registry  # noqa: E402
from models.scoring import ScoringModel, load_champion  # noqa: E402
from models.train import train_and_register  # noqa: E402
from ruleengine.rulebook import RuleBook  # noqa: E402

WORLD = ROOT / "data" / "sample"
MODEL_KEYS = ("model_pd", "model_score", "risk_grade")


@dataclass
class BenchWorld:
    """Everything a decision benchmark needs, built the same way for each of them."""

    engine: Engine
    store: FeatureStore
    book: RuleBook
    model: ScoringModel
    service: DecisionService
    facts: Any
    decided_at: pd.Series  # application ref → the time it was decided in the world

    def load(self, session: Session, customers: int) -> dict[str, Any]:
        """Load the first ``customers`` of the sample world (ids by world ref)."""
        return load_world(session, self.store, WORLD, customers=customers, facts=self.facts)

    def as_of(self, ref: str) -> datetime:
        return self.decided_at[ref].to_pydatetime()


def champion_dir(out: Path, facts: Any) -> Path:
    """A registry under ``out`` with a champion trained on the sample (once; reused)."""
    models_dir = out / "models"
    if not (models_dir / "aliases.json").exists():
        shutil.rmtree(models_dir, ignore_errors=True)
        frame = offline.historical_applications(Path("-"), offline.application_entities(WORLD),
                                                facts=facts)
        registry = Registry(models_dir)
        version, _ = train_and_register(frame, registry, report=False)
        registry.promote(version, "champion")
    return models_dir


def bench_world(out: Path, db_name: str) -> BenchWorld:
    """A fresh migrated SQLite database ``out/db_name`` and the service deciding over it."""
    out.mkdir(parents=True, exist_ok=True)
    cipher = DataCipher(bytes(32))
    facts = offline.world_facts(WORLD, cipher.blind_index)
    models_dir = champion_dir(out, facts)
    db = out / db_name
    db.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    store = FeatureStore(cipher)
    book = RuleBook(ROOT / "rules", catalog=catalog())
    model = load_champion(models_dir)
    service = DecisionService(store, book, model, model_root=models_dir)
    decided_at = offline.application_entities(WORLD).set_index("application_id")["as_of"]
    return BenchWorld(engine, store, book, model, service, facts, decided_at)
