"""A trained champion on the sample world, and a database loaded with part of that world."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from chedaitong.crypto import DataCipher
from decisioning.service import DecisionService
from decisioning.worldload import load_world
from featurestore import offline
from featurestore.store import FeatureStore
from models.registry import Registry
from models.scoring import load_champion
from models.train import train_and_register
from ruleengine.registry import RuleBook

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "data" / "sample"
CIPHER = DataCipher(bytes(range(32)))


@pytest.fixture(scope="session")
def world_facts():
    return offline.world_facts(WORLD, CIPHER.blind_index)


@pytest.fixture(scope="session")
def model_root(tmp_path_factory, world_facts) -> Path:
    """A champion trained on the sample world's point-in-time frame (as training would)."""
    root = tmp_path_factory.mktemp("models")
    frame = offline.historical_applications(Path("-"), offline.application_entities(WORLD),
                                            facts=world_facts)
    registry = Registry(root)
    version, _ = train_and_register(frame, registry, report=False, source="data/sample")
    registry.promote(version, "champion")
    return root


@pytest.fixture(scope="session")
def rulebook():
    book = RuleBook(ROOT / "rules")
    yield book
    book.close()


@pytest.fixture
def service(model_root, rulebook, tmp_path) -> DecisionService:
    return DecisionService(store=FeatureStore(CIPHER), rules=rulebook,
                           model=load_champion(model_root), model_root=model_root,
                           rules_archive=tmp_path / "rules-archive")


@pytest.fixture
def world_db(engine, service, world_facts):
    """120 sample customers with their facts, dealers and applications."""
    with Session(engine) as session:
        ids = load_world(session, service.store, WORLD, customers=120, facts=world_facts)
        session.commit()
    return ids
