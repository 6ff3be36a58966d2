"""A trained champion on the sample world, and a database loaded with part of that world."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from chedaitong.crypto import DataCipher
from chedaitong_sim.worldload.origination import load_world
from decisioning.service import DecisionService
from featurestore.store import FeatureStore
from models.scoring import load_champion
from tests.conftest import sample_world_facts

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "data" / "sample"
CIPHER = DataCipher(bytes(range(32)))


@pytest.fixture(scope="session")
def world_facts():
    return sample_world_facts(CIPHER)


@pytest.fixture(scope="session")
def model_root(sample_champion_root) -> Path:
    return sample_champion_root


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
