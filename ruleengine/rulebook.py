"""The RuleBook: which compiled version of each ruleset serves, and hot reload.

A reload compiles the new files beside the old ones — each durable ruleset under a new name,
because durable refuses a name twice — then swaps one reference under a lock. Evaluations pin
the version they started with (a reference count), so in-flight work finishes on it; the old
durable rulesets are deleted once the last evaluation using them returns. A reload that fails
(invalid files, durable error) raises :class:`ReloadError` and leaves the old version serving.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ruleengine.compiler import CompiledRuleset, compile_ruleset
from ruleengine.durable_executor import DurableRuleset
from ruleengine.engine_thread import Engine, default_engine
from ruleengine.errors import ReloadError, RuleEngineError, UnknownRuleset
from ruleengine.executors import Executor
from ruleengine.loader import load_dir
from ruleengine.outcomes import Evaluation
from ruleengine.products import ProductMatch, match_offers
from ruleengine.rulesets import PRODUCTS

log = logging.getLogger(__name__)


def default_rules_dir() -> Path:
    """``$CHEDAITONG_RULES_DIR``, else the repository's ``rules/``."""
    env = os.environ.get("CHEDAITONG_RULES_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "rules"


@dataclass(eq=False)
class _Loaded:
    """One ruleset version registered in durable, with the evaluations using it."""

    compiled: CompiledRuleset
    durable: DurableRuleset
    refs: int = 0
    retired: bool = False
    deleted: bool = False


@dataclass(frozen=True)
class Serving:
    """What a book serves between two reloads: each ruleset's version, and the rule files'
    bytes as loaded. A new object per swap, so a decision that sees the same object before
    and after its evaluation knows every ruleset it used was of these versions."""

    versions: dict[str, str]
    files: dict[str, bytes]

    @property
    def label(self) -> str:
        """One string naming every ruleset version (sorted, stable): what a decision records."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.versions.items()))


class RuleBook:
    """The serving versions of every ruleset of a rules directory.

    ``catalog`` maps feature names to their definitions (``dtype``, ``categories``): the rule
    files are checked and compiled against it, and the caller supplies it (the platform
    passes the feature store's), so the engine depends on no other part of the platform.
    Thread-safe: evaluate from any number of threads; durable work is serialised by the
    process's engine lock.
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        catalog: Mapping[str, Any],
        engine: Engine | None = None,
    ):
        self.directory = Path(directory) if directory is not None else default_rules_dir()
        self.catalog = catalog
        self.engine = engine or default_engine()
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._current: dict[str, _Loaded] = {}
        self._alive: set[_Loaded] = set()  # serving, or retired with evaluations in flight
        self._serving = Serving({}, {})
        self.reload()

    # -- versions ----------------------------------------------------------------------------
    def reload(
        self, directory: Path | str | None = None, *, allow_removal: bool = False
    ) -> dict[str, str]:
        """Load ``directory`` (default: the current one) and swap it in atomically.

        Returns the serving versions. Unchanged rulesets (same version) are kept as they are.
        A reload that would drop a serving ruleset (a file deleted by mistake) is refused
        unless ``allow_removal``.
        """
        with self._reload_lock:
            target = Path(directory) if directory is not None else self.directory
            try:
                rulesets = load_dir(target, self.catalog)
            except RuleEngineError as exc:
                raise ReloadError(
                    f"reload of {target} failed; still serving {self._describe()}: {exc}"
                ) from exc
            except OSError as exc:
                raise ReloadError(f"reload of {target} failed: {exc}") from exc
            current = dict(self._current)
            dropped = sorted(set(current) - set(rulesets))
            if dropped and not allow_removal:
                raise ReloadError(
                    f"reload of {target} would remove ruleset(s) {', '.join(dropped)}; "
                    f"still serving {self._describe()}"
                )
            fresh: dict[str, _Loaded] = {}
            new: list[_Loaded] = []
            try:
                for name, ruleset in rulesets.items():
                    old = current.get(name)
                    if old is not None and old.compiled.version == ruleset.version:
                        fresh[name] = old
                        continue
                    compiled = compile_ruleset(ruleset, self.catalog)
                    base = f"{name}_{ruleset.content_hash}"
                    durable = DurableRuleset(self.engine, base, compiled.shards, compiled.encoder)
                    loaded = _Loaded(compiled, durable)
                    new.append(loaded)
                    fresh[name] = loaded
            except Exception as exc:
                for loaded in new:
                    loaded.durable.unregister()
                raise ReloadError(
                    f"reload of {target} failed; still serving {self._describe()}: {exc}"
                ) from exc
            serving = Serving({n: x.compiled.version for n, x in sorted(fresh.items())},
                              {Path(x.compiled.ruleset.path).name: x.compiled.ruleset.source
                               for x in fresh.values()})
            with self._lock:
                retired = [x for n, x in self._current.items() if fresh.get(n) is not x]
                self._current = fresh
                self._serving = serving
                self._alive.update(new)
                self.directory = target
            for loaded in retired:
                self._retire(loaded)
            versions = self.current_versions()
            log.info("rules loaded from %s: %s", target, versions)
            return versions

    def serving(self) -> Serving:
        """The versions and files serving now (one consistent set; see `Serving`)."""
        with self._lock:
            return self._serving

    def current_versions(self) -> dict[str, str]:
        """Serving version of each ruleset: declared version + content hash."""
        return dict(self.serving().versions)

    def compiled(self, ruleset: str) -> CompiledRuleset:
        with self._lock:
            loaded = self._current.get(ruleset)
        if loaded is None:
            raise UnknownRuleset(f"no ruleset {ruleset!r}; loaded: {', '.join(self._current)}")
        return loaded.compiled

    def _describe(self) -> str:
        return ", ".join(f"{n} {v}" for n, v in self.current_versions().items()) or "nothing"

    # -- pinning ---------------------------------------------------------------------------
    def _acquire(self, ruleset: str) -> _Loaded:
        with self._lock:
            loaded = self._current.get(ruleset)
            if loaded is None:
                names = ", ".join(self._current) or "none"
                raise UnknownRuleset(f"no ruleset {ruleset!r}; loaded: {names}")
            loaded.refs += 1
            return loaded

    def _release(self, loaded: _Loaded) -> None:
        with self._lock:
            loaded.refs -= 1
            delete = loaded.retired and loaded.refs == 0 and not loaded.deleted
            if delete:
                loaded.deleted = True
                self._alive.discard(loaded)
        if delete:
            loaded.durable.unregister()

    def _retire(self, loaded: _Loaded) -> None:
        with self._lock:
            loaded.retired = True
            delete = loaded.refs == 0 and not loaded.deleted
            if delete:
                loaded.deleted = True
                self._alive.discard(loaded)
        if delete:
            loaded.durable.unregister()

    @contextmanager
    def pinned(self, ruleset: str) -> Iterator[CompiledRuleset]:
        """Hold one version of ``ruleset`` for the duration of the block."""
        loaded = self._acquire(ruleset)
        try:
            yield loaded.compiled
        finally:
            self._release(loaded)

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, features: Mapping[str, Any], ruleset: str = "underwriting") -> Evaluation:
        """Online evaluation of one application (or loan) through durable-rules."""
        loaded = self._acquire(ruleset)
        try:
            fired = loaded.durable.fire(features)
            return loaded.compiled.combiner.evaluation(fired)
        finally:
            self._release(loaded)

    def evaluate_many(
        self, rows: Sequence[Mapping[str, Any]], ruleset: str = "underwriting",
        *, executor: str = "durable",
    ) -> list[Evaluation]:
        """:meth:`evaluate` for several rows, by the ``durable`` executor (one hold of the
        engine lock) or the ``vector`` one (one frame): the same answers either way."""
        loaded = self._acquire(ruleset)
        try:
            runners: dict[str, Executor] = {"durable": loaded.durable,
                                            "vector": loaded.compiled.vector}
            if executor not in runners:
                raise ValueError(f"no executor {executor!r}; one of {', '.join(runners)}")
            combiner = loaded.compiled.combiner
            return [combiner.evaluation(f) for f in runners[executor].fire_many(rows)]
        finally:
            self._release(loaded)

    def evaluate_frame(self, df: pd.DataFrame, ruleset: str = "underwriting") -> pd.DataFrame:
        """Batch evaluation with the vector executor (same rules, same version)."""
        loaded = self._acquire(ruleset)
        try:
            return loaded.compiled.vector.evaluate(df)
        finally:
            self._release(loaded)

    def match_products(
        self, features: Mapping[str, Any], ruleset: str = "products"
    ) -> list[ProductMatch]:
        """Every eligible product per allowed term at the applicant's grade, requested term
        first (the first is recommended); the decision layer prices them."""
        loaded = self._acquire(ruleset)
        try:
            _product_catalog(loaded, ruleset)
            return _matches(loaded, loaded.durable.fire(features), features)
        finally:
            self._release(loaded)

    def underwrite_many(
        self, rows: Sequence[Mapping[str, Any]], *, products: bool = True,
        underwriting: str = "underwriting", catalog: str = "products",
    ) -> list[tuple[Evaluation, list[ProductMatch] | None]]:
        """For each row, :meth:`evaluate` of ``underwriting`` and — when ``products`` and
        the row is not declined — :meth:`match_products` of ``catalog`` (None otherwise),
        all under **one** hold of the engine lock: a decision's two rulesets, or a re-apply
        search's candidates, wait for the lock once rather than once per ruleset and row.
        Same answers as the two calls."""
        uw = self._acquire(underwriting)
        pr = None
        try:
            if products:  # a book without a catalog can still underwrite
                pr = self._acquire(catalog)
                _product_catalog(pr, catalog)

            def run() -> list[tuple[Evaluation, list[ProductMatch] | None]]:
                out: list[tuple[Evaluation, list[ProductMatch] | None]] = []
                for features in rows:
                    evaluation = uw.compiled.combiner.evaluation(uw.durable.fire_here(features))
                    matches = None
                    if pr is not None and evaluation.outcome != "decline":
                        matches = _matches(pr, pr.durable.fire_here(features), features)
                    out.append((evaluation, matches))
                return out

            return self.engine.call(run)
        finally:
            if pr is not None:
                self._release(pr)
            self._release(uw)

    # -- lifecycle ---------------------------------------------------------------------------
    def durable_names(self) -> list[str]:
        """Durable rulesets this book still holds (serving or waiting for in-flight work)."""
        with self._lock:
            return sorted(n for x in self._alive for n in x.durable.names)

    def close(self) -> None:
        """Retire every version; their durable rulesets go once nothing uses them."""
        with self._reload_lock:
            with self._lock:
                retired, self._current = list(self._current.values()), {}
            for loaded in retired:
                self._retire(loaded)


def _product_catalog(loaded: _Loaded, name: str) -> None:
    if loaded.compiled.ruleset.kind != PRODUCTS:
        raise UnknownRuleset(f"ruleset {name!r} is not a product catalog")


def _matches(loaded: _Loaded, fired: set[str], features: Mapping[str, Any]
             ) -> list[ProductMatch]:
    """The product matches of a catalog's fired (eligible) products for ``features``."""
    rs = loaded.compiled.ruleset
    evaluation = loaded.compiled.combiner.evaluation(fired)
    return match_offers(features, [rs.product(pid) for pid in evaluation.fired_ids],
                        rs.version)


def install_sighup_handler(
    book: RuleBook | Callable[[], RuleBook | None], directory: Path | str | None = None
) -> Any:
    """Reload ``book`` on SIGHUP (call from the main thread). Returns the previous handler.

    ``book`` may be a callable giving the book at signal time, for a service that builds its
    book on first use: None then means nothing is loaded yet (the first use reads the files
    as they are). The handler only starts a thread: a signal handler runs between bytecodes
    of the main thread, possibly while it holds the book's lock, so reloading inline could
    deadlock.
    """
    current = book if callable(book) else (lambda: book)

    def reload_in_background() -> None:
        target = current()
        if target is None:
            log.info("SIGHUP: no rules loaded yet; the first decision reads the files")
            return
        try:
            target.reload(directory)
        except ReloadError as exc:
            log.error("SIGHUP reload failed: %s", exc)

    def handler(signum: int, frame: Any) -> None:
        threading.Thread(target=reload_in_background, name="rules-reload", daemon=True).start()

    return signal.signal(signal.SIGHUP, handler)
