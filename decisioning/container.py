"""The services one process uses, built once from settings — for the API, the CLI and cron.

One `Services` per process means one set of vendor HTTP pools and circuit breakers (a vendor
that fails trips one breaker, not one per caller) and one loaded rule book and model. The
decision service is built on first use, so a process starts without a model or rule files;
tests replace parts by assigning the attributes (``services.vendors = …``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chedaitong.config import Settings
from chedaitong.crypto import DataCipher
from chedaitong.errors import Rejected, Unavailable
from decisioning.routing import RoutingStore
from decisioning.service import DecisionService
from featurestore.definitions import catalog
from featurestore.store import FeatureStore
from models.errors import ModelError
from models.scoring import load_challenger, load_champion
from ruleengine.errors import ReloadError
from ruleengine.rulebook import RuleBook
from vendors.adapters import Vendors, vendors_from_settings


def build_decision_service(settings: Settings, *, store: FeatureStore | None = None,
                           vendors: Vendors | None = None) -> DecisionService:
    """A decision service with the configured rules, the champion (and challenger) if any,
    and ``vendors`` for the bureau pulls. Without a champion every decision refers."""
    try:
        champion = load_champion(settings.model_dir)
        challenger = load_challenger(settings.model_dir)
    except ModelError:
        champion = challenger = None
    return DecisionService(
        store=store or FeatureStore(DataCipher(settings.data_key)),
        rules=RuleBook(settings.rules_dir, catalog=catalog()),
        model=champion,
        challenger=challenger,
        vendors=vendors,
        model_root=settings.model_dir,
        rules_archive=settings.var_dir / "rules-archive",
        routing=RoutingStore(settings.model_dir),
        follow_registry=True,  # a promotion in any process reaches this one
    )


@dataclass(frozen=True)
class UploadDir:
    """Where uploaded files live, and the cipher that seals them at rest
    (`decisioning.origination.files` reads and writes them)."""

    path: Path
    cipher: DataCipher

    def target(self, sha256: str) -> Path:
        return self.path / sha256[:2] / sha256


@dataclass
class Services:
    """Feature store, vendors, decision service (and through it the rule book), upload dir."""

    settings: Settings
    store: FeatureStore
    upload_dir: UploadDir  # uploads, sealed with the data key
    vendors: Vendors | None = None
    decisions: Any = None  # a DecisionService, or anything with its `decide` (tests)
    queue: Any = None  # a decisioning.queue.DecisionQueue; None decides in the caller
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def decision_service(self) -> DecisionService:
        """The decision service, built on first use with this process's store and vendors."""
        with self._lock:
            if self.decisions is None:
                self.decisions = build_decision_service(self.settings, store=self.store,
                                                        vendors=self.vendors)
            return self.decisions

    def rulebook(self) -> RuleBook:
        """The serving rule book (Unavailable when the decision service has none)."""
        rules = getattr(self.decision_service(), "rules", None)
        if rules is None:
            raise Unavailable("no rule book is loaded")
        return rules

    def reload_rules(self) -> dict[str, str]:
        """Hot-reload the rule files; invalid files are Rejected and the old version serves."""
        rules = self.rulebook()
        try:
            return rules.reload()
        except ReloadError as exc:
            raise Rejected(str(exc), details={"serving": rules.current_versions()}) from None

    def vendor(self, name: str) -> Any:
        """The named vendor adapter (Unavailable when no vendor URL is configured)."""
        if self.vendors is None:
            raise Unavailable(f"vendor {name} is not configured (CHEDAITONG_VENDOR_URL)")
        return getattr(self.vendors, name)

    def close(self) -> None:
        if self.queue is not None:
            self.queue.stop()
        if self.vendors is not None:
            self.vendors.close()


def build_services(settings: Settings, *, with_vendors: bool = True) -> Services:
    """The process's services: vendors when ``CHEDAITONG_VENDOR_URL`` is set (and wanted)."""
    vendors = vendors_from_settings(settings) if with_vendors and settings.vendor_url else None
    cipher = DataCipher(settings.data_key)
    return Services(settings=settings, store=FeatureStore(cipher),
                    upload_dir=UploadDir(Path(settings.var_dir) / "uploads", cipher),
                    vendors=vendors)
