"""Many threads evaluating at once: every result equals the batch executor's, sessions are
always deleted, and no sid leaks. The naive design (stock Host, calls from every thread)
lost results and segfaulted at this scale."""

from __future__ import annotations

import threading

import durable_rules_engine
import pytest

from chedaitong_sim.synthetic import rule_frames
from ruleengine.engine_thread import default_engine

THREADS = 10
PER_THREAD = 2_000


def test_concurrent_evaluations_match_the_batch_executor(book, catalog):
    frame = rule_frames.applications(THREADS * PER_THREAD, catalog, seed=11)
    expected = book.evaluate_frame(frame, "underwriting")
    want = list(zip(expected["outcome"].astype(str), expected["fired_rules"], strict=True))
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    errors: list[str] = []
    done = [0] * THREADS
    start = threading.Barrier(THREADS)

    def work(t: int) -> None:
        start.wait()
        try:
            for i in range(t, len(rows), THREADS):
                ev = book.evaluate(rows[i])
                if (ev.outcome, ev.fired_ids) != want[i]:
                    errors.append(f"row {i}: {ev.outcome} {ev.fired_ids} != {want[i]}")
                done[t] += 1
        except Exception as exc:  # surfaced in the assertion below
            errors.append(f"thread {t}: {exc!r}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors[:5]
    assert sum(done) == THREADS * PER_THREAD
    assert {o for o, _ in want} == {"pass", "refer", "decline"}  # all outcomes exercised

    engine = default_engine()
    assert engine.sids.free == len(engine.sids.names)
    # no session survives an evaluation: delete_state ran in `finally` every time
    handles = book._current["underwriting"].durable.handles  # noqa: SLF001
    for sid in engine.sids.names[:8]:
        for handle in handles:
            with pytest.raises(durable_rules_engine.error):
                engine.call(durable_rules_engine.get_state, handle, sid)
