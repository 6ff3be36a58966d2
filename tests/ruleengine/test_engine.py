"""The durable-rules guard rails, each tied to a measured sharp edge."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from ruleengine.compiler import compile_ruleset
from ruleengine.conditions import Leaf
from ruleengine.durable_executor import DurableRuleset
from ruleengine.engine_thread import Engine, QuietHost, SidPool, default_engine, fnv1a_32
from ruleengine.errors import EngineError, FactError
from ruleengine.rulesets import ACTIONS, DECISION, Rule, RuleSet

from .conftest import ROOT


def _rules(n: int, feature: str = "age_at_application", kind: str = DECISION) -> RuleSet:
    outcome = "decline" if kind == DECISION else "sms_reminder"
    rules = tuple(
        Rule(f"R{i:03d}", "d", "C", "中", "en", i, outcome, Leaf(feature, ">", -1000 + i))
        for i in range(n)
    )
    return RuleSet("t", kind, "1", "0", "-", rules)


def test_fnv1a_reproduces_the_measured_sid_collision():
    assert fnv1a_32("app-828589") == fnv1a_32("app-1402410")


def test_sid_pool_names_never_collide():
    pool = SidPool(64)
    hashes = {fnv1a_32(s) for s in pool.names}
    assert len(hashes) == 64 and fnv1a_32("0") not in hashes


def test_quiet_host_starts_no_threads():
    before = threading.active_count()
    QuietHost()
    assert threading.active_count() == before


def test_a_durable_name_is_used_once():
    engine = default_engine()
    doc = '{"r":{"all":[{"m":{"$and":[{"$gt":{"x":1}},{"$nex":{"$s":1}}]}}],"pri":0}}'
    name = engine.unique_name("dup")
    engine.call(engine.host.add_ruleset, name, doc)
    with pytest.raises(EngineError, match="already registered"):
        engine.call(engine.host.add_ruleset, name, doc)
    engine.call(engine.host.remove_ruleset, name)
    assert name not in engine.registered()


def test_more_rules_firing_than_durables_stack_are_sharded(toy_catalog):
    # 70 rules all true for one fact: one durable ruleset fails with error 303
    ruleset = _rules(70)
    compiled = compile_ruleset(ruleset, toy_catalog)
    assert len(compiled.shards) == 2
    durable = DurableRuleset(default_engine(), "many", compiled.shards, compiled.encoder)
    try:
        assert len(durable.fire({"age_at_application": 30})) == 70
    finally:
        durable.unregister()


OVERFLOW = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from conftest import TOY
from ruleengine.compiler import Shard, casts_for, compile_ruleset, rule_document
from ruleengine.conditions import Leaf
from ruleengine.durable_executor import DurableRuleset
from ruleengine.engine_thread import default_engine
from ruleengine.errors import EngineError
from ruleengine.jsontext import dumps
from ruleengine.rulesets import DECISION, Rule, RuleSet

rules = tuple(Rule(f"R{{i}}", "d", "C", "z", "e", i, "decline", Leaf("age_at_application", ">", i))
              for i in range(-100, -30))
ruleset = RuleSet("t", DECISION, "1", "0", "-", rules)
compiled = compile_ruleset(ruleset, TOY)
document = dumps({{r.id: rule_document(r, casts_for(TOY)) for r in rules}})
engine = default_engine()
durable = DurableRuleset(engine, "one", [Shard(tuple(r.id for r in rules), document, 70, 70)],
                         compiled.encoder)
free = engine.sids.free
try:
    durable.fire({{"age_at_application": 30}})
except EngineError as exc:
    print("raised:", exc, "| sid quarantined:", engine.sids.free == free - 1)
"""


def test_engine_errors_are_surfaced_not_swallowed():
    # Run in a child process: after error 303 durable's C state is corrupt (measured: a later
    # call segfaults), which is why the compiler shards rulesets to stay far below it.
    code = OVERFLOW.format(root=str(ROOT), tests=str(ROOT / "tests" / "ruleengine"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "raised: durable-rules: Could not assert fact, error code: 303" in done.stdout, (
        done.stderr
    )
    # its session is not touched again (deleting it segfaulted): the sid is not reused
    assert "sid quarantined: True" in done.stdout


def test_tiny_thresholds_reach_durable_without_exponents(toy_catalog):
    tiny = Rule("TINY", "d", "C", "中", "en", 0, "refer", Leaf("model_pd", "<", 0.00005))
    ruleset = RuleSet("tiny", DECISION, "1", "0", "-", (tiny,))
    compiled = compile_ruleset(ruleset, toy_catalog)
    assert "5e-05" not in compiled.shards[0].document
    durable = DurableRuleset(default_engine(), "tiny", compiled.shards, compiled.encoder)
    try:
        assert durable.fire({"model_pd": 0.00004}) == {"TINY"}
        assert durable.fire({"model_pd": 0.00005}) == set()
        assert durable.fire({"model_pd": 1e-12}) == {"TINY"}  # flushed to 0.0
    finally:
        durable.unregister()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1000", "feature age_at_application is int: got '1000'"),
        (True, "feature age_at_application is int: got True"),
        (22.5, "feature age_at_application is int: got 22.5"),
        (2**60, "out of range"),
    ],
)
def test_fact_types_are_checked_before_asserting(toy_catalog, value, message):
    compiled = compile_ruleset(_rules(1), toy_catalog)
    with pytest.raises(FactError, match=message.replace("(", r"\(")):
        compiled.encoder.encode({"age_at_application": value})


def test_only_features_the_rules_read_are_sent(toy_catalog):
    compiled = compile_ruleset(_rules(1), toy_catalog)
    body = compiled.encoder.encode({"age_at_application": 30, "monthly_income": 1.0, "x": "y"})
    assert body == '"age_at_application":30'


def test_engine_calls_never_overlap(toy_catalog):
    """Calls from many threads run one at a time (each in its caller), and a job may call
    the engine again without deadlocking."""
    engine = Engine()
    inside, most, ran = [0], [0], []

    def job() -> int:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.002)  # gives up the GIL: another caller would enter now if it could
        inside[0] -= 1
        return threading.get_ident()

    threads = [threading.Thread(target=lambda: ran.append(engine.call(job))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and len(ran) == 8
    assert set(ran) == {t.ident for t in threads}  # in the callers: no hand-off
    assert engine.call(engine.call, lambda: 7) == 7


def test_exceptions_in_engine_jobs_reach_the_caller():
    engine = default_engine()
    with pytest.raises(ZeroDivisionError):
        engine.call(lambda: 1 / 0)
    assert engine.call(lambda: 42) == 42


def test_action_rulesets_are_sharded_too(toy_catalog):
    compiled = compile_ruleset(_rules(3, "days_past_due", ACTIONS), toy_catalog)
    assert compiled.combiner.evaluation({"R002", "R000"}).fired_ids == ("R000", "R002")
