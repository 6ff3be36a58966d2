"""The domain schema (below Flask, so the API and the cron jobs share it) and its plumbing."""

from chedaitong.db import (  # noqa: F401  (register their tables)
    behaviour,
    claims,
    collection,
    monitoring,
    origination,
    outbox,
    partners,
    servicing,
    stock,
)
from chedaitong.db.base import Base
from chedaitong.db.entities import Dealer, Role, User
from chedaitong.db.featuredata import Customer, FeatureFact, FeatureVector, RawEvent
from chedaitong.db.lending import Application, DecisionRecord
from chedaitong.db.session import (
    DatabaseUnavailable,
    check_reachable,
    make_engine,
    make_session_factory,
)

__all__ = [
    "Application",
    "DecisionRecord",
    "Base",
    "Customer",
    "FeatureFact",
    "FeatureVector",
    "RawEvent",
    "DatabaseUnavailable",
    "Dealer",
    "Role",
    "User",
    "check_reachable",
    "make_engine",
    "make_session_factory",
]
