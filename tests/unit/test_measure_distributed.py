"""The Dask side of the load, offline: the schedule split over shares, clock offsets, the
scheduler check (no cluster is started here; see tests/integration/test_measure_distributed.py)."""

from __future__ import annotations

import socket
from collections import Counter

import pandas as pd
import pytest

from eventlab.measure.distributed import (
    ClockOffset,
    ClusterError,
    Offered,
    WorkerClock,
    _on_our_clock,
    best_offsets,
    check_scheduler,
    keys_for,
    scheduler_address,
    should_apply,
)
from eventlab.measure.load import LoadGenerator, LoadResult, LoadSpec
from eventlab.measure.probes import ProbeFactory, SendLog, SendRecord


class _Accepting:
    """A sender that accepts everything at once (no service)."""

    path = "fake"
    max_batch = 10

    def send(self, probes):
        from eventlab.measure.senders import Result

        return [Result("ok") for _ in probes]


def _slices(spec: LoadSpec, shares: int) -> list[LoadResult]:
    keys = keys_for(spec, shares)
    t0 = 1_000_000_000_000_000_000  # in the past: nobody sleeps
    return [
        LoadGenerator(_Accepting(), ProbeFactory("r", keys=keys), spec, share=(i, shares)).run(t0)
        for i in range(shares)
    ]


@pytest.mark.parametrize(("threads", "keys"), [(1, 4), (2, 4), (4, 1)])
def test_shares_take_disjoint_slices_whose_union_is_the_one_schedule(threads: int, keys: int) -> None:
    spec = LoadSpec(rate=1000, count=120, batch=10, keys=keys, threads=threads, progress=False)
    alone = _slices(spec, 1)[0].frame()
    parts = _slices(spec, 3)
    union = sorted(t for p in parts for t in p.frame()["intended_ns"])
    expected = sorted(alone["intended_ns"])
    # the same intended times: the shares together offer the single producer's schedule
    assert len(union) == 120 and [u - union[0] for u in union] == [e - expected[0] for e in expected]
    owners = {}
    for i, part in enumerate(parts):
        frame = part.frame()
        for key, rows in frame.groupby("key"):
            owners.setdefault(key, set()).add(i)
            assert list(rows.sort_values("intended_ns")["seq"]) == list(range(len(rows))), "seq per key in send order"
    assert all(len(o) == 1 for o in owners.values()), f"a key is sent by one share only: {owners}"
    assert len(owners) == keys * 3, "each producer has keys of its own"


def test_ntp_style_offset_and_bound_from_the_best_round_trip() -> None:
    # worker clock 5 s ahead; the round trips took 4 ms and 10 ms
    ms = 1_000_000
    rounds = [
        {"w": (100 * ms, 100 * ms + 5_000 * ms + 5 * ms, 110 * ms)},
        {"w": (200 * ms, 200 * ms + 5_000 * ms + 2 * ms, 204 * ms)},
    ]
    best = best_offsets(rounds)["w"]
    assert best.offset_ns == 5_000 * ms and best.bound_ns == 2 * ms
    assert ClockOffset.from_round_trip(0, 7, 10).as_dict() == {"offset_ms": 2e-6, "bound_ms": 5e-6}


def test_an_offset_is_applied_across_hosts_or_beyond_its_bound() -> None:
    ms = 1_000_000
    assert not should_apply(ClockOffset(300_000, ms, 0), "vm", "vm"), "one host, one clock: noise around 0"
    assert should_apply(ClockOffset(300_000, ms, 0), "worker-7", "laptop")
    assert should_apply(ClockOffset(2_000 * ms, ms, 0), "vm", "vm")


def test_a_workers_timestamps_move_onto_our_clock_with_drift_interpolated() -> None:
    s = 1_000_000_000
    clock = WorkerClock(ClockOffset(2 * s, 1000, at_ns=100 * s), ClockOffset(2 * s + 10_000, 1000, at_ns=110 * s), applied=True)
    record = SendRecord("q", "m1", "k0", 0, 102 * s + 5 * s // 10, 102 * s + 6 * s // 10, 102 * s + 7 * s // 10, True, 1)
    load = LoadResult(LoadSpec(rate=1, count=1), "q", 102 * s, 103 * s, SendLog([record]), Counter())
    moved = _on_our_clock(load, clock).sends.records[0]
    assert moved.intended_ns == record.intended_ns - 2 * s - 500  # halfway: half the drift
    assert abs((moved.end_ns - moved.start_ns) - (record.end_ns - record.start_ns)) < 1000, "a duration barely changes"
    offered = Offered([_on_our_clock(load, clock)], {"w": clock})
    receipts = pd.DataFrame({"msg_id": ["m1", "other"], "intended_ns": [record.intended_ns, 5], "received_ns": [103 * s, 6]})
    fixed = offered.correct_receipts(receipts)
    assert list(fixed["intended_ns"]) == [moved.intended_ns, 5], "a receipt's intended time comes from the corrected send"
    assert offered.clock_offsets["w"]["applied"] is True


def test_the_scheduler_address_comes_from_the_argument_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTLAB_DASK_SCHEDULER", raising=False)
    assert scheduler_address(None) is None
    monkeypatch.setenv("EVENTLAB_DASK_SCHEDULER", "tcp://10.1.2.3:8786")
    assert scheduler_address(None) == "tcp://10.1.2.3:8786"
    assert scheduler_address("tcp://h:1") == "tcp://h:1"
    assert scheduler_address("local") is None, "local: a new local cluster, whatever the environment says"


def test_a_scheduler_that_does_not_answer_is_a_clear_error_at_once() -> None:
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ClusterError, match=rf"the Dask scheduler at tcp://127.0.0.1:{port} does not answer"):
        check_scheduler(f"tcp://127.0.0.1:{port}", timeout=1)
    with pytest.raises(ClusterError, match="give tcp://host:port"):
        check_scheduler("inproc://x")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_scheduler(f"127.0.0.1:{server.getsockname()[1]}")


def test_only_consumers_whose_behaviour_is_their_settings_move_to_a_worker() -> None:
    from eventlab.measure.consumers import HttpReceiver, SqsReceiver, handoff
    from eventlab.measure.probes import ReceiptLog

    receipts = ReceiptLog("r")
    plain = SqsReceiver(object(), "https://sqs/q", receipts, path="sqs", threads=2, wait_s=3)
    assert handoff.address(plain) == {
        "kind": "sqs", "address": "https://sqs/q", "path": "sqs", "threads": 2, "wait_s": 3, "max_messages": 10,
        "visibility_timeout": None,
    }
    assert handoff.address(SqsReceiver(object(), "u", receipts, crash_after=2)) is None, "an injected crash is this process's"
    assert handoff.address(SqsReceiver(object(), "u", receipts, handler=lambda batch: None)) is None
    assert handoff.address(HttpReceiver(receipts)) is None, "a server on this machine's loopback stays"
