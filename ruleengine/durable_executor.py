"""The online executor: one application at a time through durable-rules.

Each evaluation asserts the application as **one fact** (``assert_fact`` fires every matching
rule; ``post`` would fire only the first) in a session of its own and walks the C core's action
messages directly — ``assert_fact → start_action_for_state → complete_and_start_action …`` —
reading only the rule name of each; no Python callback runs inside durable. "Not handled" (what
``Host`` raises as ``MessageNotHandledException``) means nothing fired; in practice every shard
carries a sentinel rule that always fires (see :data:`ruleengine.compiler.SENTINEL` for the
durable bug it avoids) and is dropped from the result. The session is deleted in ``finally``,
because durable creates it in any case and fails past 1024 live sessions. A rule whose
condition has several true ``$or`` branches fires once per branch: names are de-duplicated.
All of this runs with the engine lock held (:mod:`ruleengine.engine_thread`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import durable_rules_engine

from ruleengine.compiler import SENTINEL, Shard
from ruleengine.engine_thread import Engine
from ruleengine.errors import EngineError
from ruleengine.facts import FactEncoder

log = logging.getLogger(__name__)
_OK, _NOT_HANDLED = 0, 1


def _action_name(message: str) -> str:
    # '{"RULE_ID":{"m":{...}}}' — rule ids are validated identifiers, never escaped.
    return message[2 : message.index('"', 2)]


class _CorruptState(EngineError):
    """durable-rules failed mid-evaluation: its state may be corrupt."""


def _fire_shard(handle: int, sid: str, fact: str, fired: set[str]) -> None:
    try:
        code, state = durable_rules_engine.assert_fact(handle, fact)
        if code == _OK:
            out = durable_rules_engine.start_action_for_state(handle, state)
            message = out[1] if out else None
            while message:
                fired.add(_action_name(message))
                message = durable_rules_engine.complete_and_start_action(handle, state)
            fired.discard(SENTINEL)
        elif code != _NOT_HANDLED:  # Host would raise MessageNotHandledException: none fired
            raise EngineError(f"durable-rules assert_fact returned code {code}")
    except durable_rules_engine.error as exc:
        # Measured: after an error mid-assert (e.g. 303, match stack overflow) the C core can
        # crash later — deleting the session then segfaults — so it is left alone (its sid
        # quarantined). The compiler's limits exist so this never happens; if it does, say so.
        log.critical(
            "durable-rules failed (%s); its state may be corrupt: restart the process", exc
        )
        raise _CorruptState(f"durable-rules: {exc}") from None
    except BaseException:
        durable_rules_engine.delete_state(handle, sid)
        raise
    durable_rules_engine.delete_state(handle, sid)


class DurableRuleset:
    """A ruleset registered in an engine: one durable ruleset per shard. An
    `ruleengine.executors.Executor`."""

    name = "durable"

    def __init__(
        self, engine: Engine, base_name: str, shards: Sequence[Shard], encoder: FactEncoder
    ):
        self.engine = engine
        self.encoder = encoder
        self.names: tuple[str, ...] = ()
        self.handles: tuple[int, ...] = ()
        engine.call(self._register, base_name, tuple(shards))

    def _register(self, base_name: str, shards: tuple[Shard, ...]) -> None:
        names: list[str] = []
        handles: list[int] = []
        try:
            for i, shard in enumerate(shards):
                name = self.engine.unique_name(f"{base_name}_s{i}")
                handles.append(self.engine.host.add_ruleset(name, shard.document))
                names.append(name)
        except BaseException:
            for name in names:
                self.engine.host.remove_ruleset(name)
            raise
        self.names, self.handles = tuple(names), tuple(handles)

    # -- with the engine lock held ------------------------------------------------------------
    def _fire_bodies(self, bodies: Sequence[str]) -> list[set[str]]:
        sids = self.engine.sids
        results = []
        for body in bodies:
            sid = sids.acquire()
            fact = f'{{"id":"f","sid":"{sid}"' + ("," + body if body else "") + "}"
            fired: set[str] = set()
            try:
                for handle in self.handles:
                    _fire_shard(handle, sid, fact, fired)
            except _CorruptState:
                sids.quarantine(sid)
                raise
            except EngineError:
                sids.release(sid)
                raise
            except durable_rules_engine.error as exc:  # delete_state itself failed
                sids.quarantine(sid)
                raise EngineError(f"durable-rules delete_state: {exc}") from None
            except BaseException:
                sids.quarantine(sid)
                raise
            sids.release(sid)
            results.append(fired)
        return results

    def fire_here(self, features: Mapping[str, Any]) -> set[str]:
        """:meth:`fire`, from a job already holding the engine lock (several rulesets and
        rows under one hold: `RuleBook.underwrite_many`)."""
        return self._fire_bodies((self.encoder.encode(features),))[0]

    # -- from any thread ------------------------------------------------------------------------
    def fire(self, features: Mapping[str, Any]) -> set[str]:
        """Ids of the rules matching ``features`` (validated against the catalog first)."""
        body = self.encoder.encode(features)
        return self.engine.call(self._fire_bodies, (body,))[0]

    def fire_many(self, rows: Sequence[Mapping[str, Any]]) -> list[set[str]]:
        """Like :meth:`fire` for many rows, under one hold of the engine lock."""
        bodies = [self.encoder.encode(r) for r in rows]
        return self.engine.call(self._fire_bodies, bodies)

    def unregister(self) -> None:
        """Delete the durable rulesets (errors logged, never raised to the caller)."""
        self.engine.submit(self._unregister)

    def _unregister(self) -> None:
        for name in self.names:
            self.engine.host.remove_ruleset(name)
        self.names, self.handles = (), ()
