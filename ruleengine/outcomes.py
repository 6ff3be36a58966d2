"""How fired rules combine into a result — one function, used by both executors.

Every matching rule is collected (not just the first). Reporting order is (priority, id).
Decision rulesets: any decline → ``decline``, else any refer → ``refer``, else ``pass``.
Action rulesets: the distinct actions, most severe first; the outcome is the most severe or
``none``. Product rulesets: the outcome is ``eligible`` when any product matched, else ``none``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ruleengine.rulesets import ACTION_SEVERITY, ACTIONS, DECISION, RuleSet

PASS = "pass"
NONE = "none"
Actions = tuple[str, ...]
_SEVERITY = {a: i for i, a in enumerate(ACTION_SEVERITY)}


@dataclass(frozen=True, slots=True)
class FiredRule:
    id: str
    priority: int
    outcome: str  # decline / refer, an action, or "eligible"
    reason_code: str
    reason_zh: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The result of one ruleset on one application (or loan); carries the ruleset version."""

    ruleset: str
    version: str
    outcome: str
    fired: tuple[FiredRule, ...]
    actions: tuple[str, ...] = ()

    @property
    def fired_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.fired)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Combiner:
    """Precomputed per ruleset: rule order and metadata, so combining is a few lookups."""

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self._order = {r.id: i for i, r in enumerate(ruleset.rules)}
        self._fired = {
            r.id: FiredRule(r.id, r.priority, r.outcome, r.reason_code, r.reason_zh, r.reason_en)
            for r in ruleset.rules
        }

    def combine(self, fired_ids: Iterable[str]) -> tuple[str, tuple[FiredRule, ...], Actions]:
        """(outcome, fired rules in reporting order, actions) for a set of fired rule ids."""
        ids = sorted(set(fired_ids), key=self._order.__getitem__)
        fired = tuple(self._fired[i] for i in ids)
        kind = self.ruleset.kind
        if kind == DECISION:
            seen = {f.outcome for f in fired}
            outcome = "decline" if "decline" in seen else "refer" if "refer" in seen else PASS
            return outcome, fired, ()
        if kind == ACTIONS:
            distinct = {f.outcome for f in fired}
            actions = tuple(sorted(distinct, key=_SEVERITY.__getitem__, reverse=True))
            return (actions[0] if actions else NONE), fired, actions
        return ("eligible" if fired else NONE), fired, ()

    def evaluation(self, fired_ids: Iterable[str]) -> Evaluation:
        outcome, fired, actions = self.combine(fired_ids)
        return Evaluation(self.ruleset.name, self.ruleset.version, outcome, fired, actions)
