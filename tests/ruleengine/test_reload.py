"""Hot reload: atomic swap, in-flight evaluations finish on their version, a broken reload
keeps the old version serving, and reloading many times leaks no durable ruleset."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping

import pytest

from ruleengine import durable_executor
from ruleengine.errors import ReloadError
from ruleengine.rulebook import RuleBook, install_sighup_handler

UNDERWRITING = """\
ruleset: underwriting
version: "{version}"
rules:
  - id: AGE
    description: too young
    reason_code: AGE
    reason_zh: 年龄不足
    reason_en: too young
    priority: 1
    outcome: decline
    when: {{feature: age_at_application, op: "<", value: {limit}}}
"""
POSTLOAN = """\
ruleset: postloan
version: "1"
rules:
  - id: LATE
    description: late
    reason_code: LATE
    reason_zh: 逾期
    reason_en: late
    priority: 1
    action: sms_reminder
    when: {feature: days_past_due, op: ">", value: 0}
"""


def _write(d, version: str, limit: int) -> None:
    (d / "underwriting.yaml").write_text(UNDERWRITING.format(version=version, limit=limit))


@pytest.fixture
def rules_dir(tmp_path):
    d = tmp_path / "rules"
    d.mkdir()
    _write(d, "v1", 22)
    (d / "postloan.yaml").write_text(POSTLOAN)
    return d


@pytest.fixture
def rulebook(rules_dir, catalog):
    b = RuleBook(rules_dir, catalog=catalog)
    yield b
    b.close()


def _registered(book: RuleBook) -> set[str]:
    book.engine.drain()
    return set(book.engine.registered())


def test_reload_swaps_to_the_new_version(rulebook, rules_dir):
    old_names = set(rulebook.durable_names())
    first = rulebook.evaluate({"age_at_application": 23})
    assert first.outcome == "pass" and first.version.startswith("v1+")
    _write(rules_dir, "v2", 25)
    versions = rulebook.reload()
    assert versions["underwriting"].startswith("v2+")
    second = rulebook.evaluate({"age_at_application": 23})
    assert second.outcome == "decline" and second.version == versions["underwriting"]
    registered = _registered(rulebook)
    assert not (old_names - set(rulebook.durable_names())) & registered  # old one deleted
    assert set(rulebook.durable_names()) <= registered
    # the unchanged ruleset was kept as it was
    assert [n for n in old_names if n.startswith("postloan")] == [
        n for n in rulebook.durable_names() if n.startswith("postloan")
    ]


class _SlowFeatures(Mapping):
    """Features whose reading blocks until released: an evaluation caught mid-flight."""

    def __init__(self, data: dict):
        self.data = data
        self.started = threading.Event()
        self.release = threading.Event()

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        self.started.set()
        assert self.release.wait(10)
        return self.data.get(key, default)

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


def test_in_flight_evaluation_finishes_on_its_version(rulebook, rules_dir):
    v1_names = [n for n in rulebook.durable_names() if n.startswith("underwriting")]
    slow = _SlowFeatures({"age_at_application": 23})
    result = {}
    worker = threading.Thread(target=lambda: result.update(ev=rulebook.evaluate(slow)))
    worker.start()
    assert slow.started.wait(5)
    _write(rules_dir, "v2", 25)
    rulebook.reload()  # does not wait for the in-flight evaluation
    assert rulebook.evaluate({"age_at_application": 23}).version.startswith("v2+")
    assert set(v1_names) <= _registered(rulebook)  # still in use: not deleted yet
    slow.release.set()
    worker.join(5)
    ev = result["ev"]
    assert ev.version.startswith("v1+") and ev.outcome == "pass"  # v1: age limit 22
    assert not set(v1_names) & _registered(rulebook)  # deleted once the evaluation returned


def test_broken_reload_keeps_the_old_version_serving(rulebook, rules_dir):
    before = rulebook.current_versions()
    names = set(rulebook.durable_names())
    (rules_dir / "underwriting.yaml").write_text(UNDERWRITING.format(version="v2", limit='"x"'))
    with pytest.raises(ReloadError, match=r"underwriting.yaml:11: feature age_at_application"):
        rulebook.reload()
    assert rulebook.current_versions() == before
    assert rulebook.evaluate({"age_at_application": 21}).outcome == "decline"
    assert set(rulebook.durable_names()) == names


def test_reload_refuses_to_drop_a_serving_ruleset(rulebook, rules_dir):
    (rules_dir / "postloan.yaml").unlink()
    with pytest.raises(ReloadError, match="would remove ruleset"):
        rulebook.reload()
    assert set(rulebook.current_versions()) == {"postloan", "underwriting"}
    assert set(rulebook.reload(allow_removal=True)) == {"underwriting"}


def test_durable_failure_during_reload_rolls_back(rulebook, rules_dir, monkeypatch):
    before = rulebook.current_versions()
    registered = _registered(rulebook)
    (rules_dir / "postloan.yaml").write_text(POSTLOAN.replace('"1"', '"2"'))
    _write(rules_dir, "v2", 25)
    real = durable_executor.DurableRuleset._register

    def failing(self, base_name, shards):
        if base_name.startswith("underwriting"):
            raise RuntimeError("durable said no")
        return real(self, base_name, shards)

    monkeypatch.setattr(durable_executor.DurableRuleset, "_register", failing)
    with pytest.raises(ReloadError, match="durable said no"):
        rulebook.reload()
    assert rulebook.current_versions() == before
    assert _registered(rulebook) == registered  # the new postloan ruleset was removed again


def test_reloading_many_times_leaks_no_ruleset(rulebook, rules_dir):
    start = _registered(rulebook)
    for i in range(60):
        _write(rules_dir, f"v{i % 2 + 2}", 20 + i % 2)
        rulebook.reload()
        assert rulebook.evaluate({"age_at_application": 20}).outcome == (
            "pass" if i % 2 == 0 else "decline"
        )
    end = _registered(rulebook)
    assert len(end) == len(start)
    assert len(rulebook.durable_names()) == 2


def test_same_content_reload_is_a_no_op(rulebook):
    names = rulebook.durable_names()
    versions = rulebook.current_versions()
    assert rulebook.reload() == versions
    assert rulebook.durable_names() == names


def test_sighup_reloads(rulebook, rules_dir):
    previous = install_sighup_handler(rulebook)
    try:
        _write(rules_dir, "v9", 30)
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not rulebook.current_versions()["underwriting"].startswith("v9+"):
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert rulebook.evaluate({"age_at_application": 29}).outcome == "decline"


def test_underwriting_many_rows_needs_no_catalog_and_a_missing_one_leaks_nothing(
        rulebook, rules_dir):
    from ruleengine.errors import UnknownRuleset

    [(evaluation, matches)] = rulebook.underwrite_many([{"age_at_application": 20}],
                                                       products=False)
    assert evaluation.outcome == "decline" and matches is None
    with pytest.raises(UnknownRuleset):  # this book has no product catalog
        rulebook.underwrite_many([{"age_at_application": 30}])
    old = {n for n in rulebook.durable_names() if n.startswith("underwriting")}
    _write(rules_dir, "v2", 20)
    rulebook.reload()
    # the failed call released its underwriting version, so the reload could delete it
    assert not old & set(rulebook.durable_names())
    assert len(rulebook.durable_names()) == 2
