"""Build the decision service from settings — one place, for the API, the CLI and cron."""

from __future__ import annotations

from chedaitong.config import Settings
from chedaitong.crypto import DataCipher
from decisioning.service import DecisionService
from featurestore.store import FeatureStore
from models.errors import ModelError
from models.scoring import load_challenger, load_champion
from ruleengine.registry import RuleBook
from vendors.registry import vendors_from_settings


def build_service(settings: Settings) -> DecisionService:
    """A service with the configured rules, the champion (and challenger) if any, and the
    vendors when `CHEDAITONG_VENDOR_URL` is set. Without a champion every decision refers."""
    try:
        champion = load_champion(settings.model_dir)
        challenger = load_challenger(settings.model_dir)
    except ModelError:
        champion = challenger = None
    return DecisionService(
        store=FeatureStore(DataCipher(settings.data_key)),
        rules=RuleBook(settings.rules_dir),
        model=champion,
        challenger=challenger,
        vendors=vendors_from_settings(settings) if settings.vendor_url else None,
        model_root=settings.model_dir,
        rules_archive=settings.var_dir / "rules-archive",
    )
