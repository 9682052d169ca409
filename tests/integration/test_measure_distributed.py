"""Producers on a local Dask cluster of 2 workers against the embedded emulator: nothing lost,
clocks measured (and a skew injected into the workers corrected), a worker killed mid-run
reported, every server on 127.0.0.1.

One cluster serves the module (starting one takes seconds on a shared 2-core machine); measure()
reaches it by its scheduler's address, as it would a cluster of machines. Loads are short: these
check the measurement, not the emulator's speed.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

import cloudpickle
import psutil
import pytest

from eventlab import bench, processes
from eventlab.measure import distributed
from eventlab.measure.load import LoadSpec
from eventlab.measure.paths import measure
from eventlab.measure.results import FIGURES
from eventlab.run import Run

pytestmark = pytest.mark.integration

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the helpers below run on the workers

SKEW_NS = 3_000_000_000


def _skew_clock(skew_ns: int) -> None:
    """On a worker: its wall clock runs ``skew_ns`` ahead (0 restores it)."""
    real = getattr(time, "_eventlab_real_time_ns", time.time_ns)
    time._eventlab_real_time_ns = real  # type: ignore[attr-defined]
    time.time_ns = (lambda: real() + skew_ns) if skew_ns else real


@pytest.fixture(scope="module")
def pool() -> Iterator[distributed.Pool]:
    with distributed.connect(workers=2, dashboard=False) as the_pool:
        yield the_pool


def _address(pool: distributed.Pool) -> str:
    pool.client.wait_for_workers(2, timeout=60)
    return pool.client.scheduler.address


def test_servers_of_the_local_cluster_listen_on_loopback_only(pool: distributed.Pool) -> None:
    found = processes.listeners(processes.family(psutil.Process()))
    ports = {listener.port for listener in found}
    scheduler_port = int(_address(pool).rsplit(":", 1)[1])
    assert scheduler_port in ports
    workers = [int(w.rsplit(":", 1)[1]) for w in pool.workers]
    assert set(workers) <= ports, "the workers (children of this process) are seen"
    assert processes.exposed(found) == [], f"reachable from another machine: {processes.exposed(found)}"


def test_two_workers_lose_nothing_record_their_clocks_and_compare_with_the_baseline(run: Run, pool: distributed.Pool) -> None:
    workload = bench.load_workload(bench.find_workload("sqs-r100-s256-b10-k4-p1-d3s"))
    result = measure(run, workload.path, workload.load_spec(warmup_s=0.5), cluster=_address(pool), name=workload.name,
                     parameters={"duration": workload.duration})
    assert result is not None
    (row,) = result.summary.to_dict("records")
    assert row["lost"] == 0 and row["delivered"] == row["sent"] == workload.rate * workload.duration
    assert not result.incomplete and "incomplete" not in result.summary
    assert set(result.clock_offsets) == set(pool.workers)
    for clock in result.clock_offsets.values():
        assert clock["before"]["bound_ms"] > 0 and clock["after"] is not None
        assert not clock["applied"], "one host, one clock: nothing to correct"
    assert result.receipts["consumer"].str.startswith(tuple(pool.workers)).all(), "the receiver ran on a worker"
    # each key came from one worker only; the probes' sequence numbers are whole per key
    assert result.sends.groupby("key")["sender"].nunique().max() == 1
    assert result.sends["sender"].str.split("/").str[0].nunique() == 2
    for _key, rows in result.sends.sort_values("intended_ns").groupby("key"):
        assert list(rows["seq"]) == list(range(len(rows)))
    document = result.to_json()
    assert document["clock_offsets"] == result.clock_offsets
    baseline = bench.Baseline.load(workload.name, "localstack")
    assert baseline is not None
    changes = bench.compare(baseline, [{**document, "provenance": result.provenance}])
    assert {c.figure for c in changes} == set(FIGURES)
    assert {c.figure: c.verdict for c in changes}["lost"] == "unchanged"


def test_a_skewed_worker_clock_is_measured_and_corrected(run: Run, pool: distributed.Pool) -> None:
    address = _address(pool)
    pool.client.run(_skew_clock, SKEW_NS)
    try:
        result = measure(run, "sqs", LoadSpec(rate=50, duration_s=2, batch=5, keys=2), cluster=address)
    finally:
        pool.client.run(_skew_clock, 0)
    assert result is not None
    for worker, clock in result.clock_offsets.items():
        assert clock["applied"], worker
        for when in ("before", "after"):
            error_ms = abs(clock[when]["offset_ms"] - SKEW_NS / 1e6)
            assert error_ms <= clock[when]["bound_ms"] + 5, f"{worker} {when}: {clock[when]}"
    (row,) = result.summary.to_dict("records")
    assert row["lost"] == 0
    messages = result.messages
    # uncorrected, every latency would be about -3 s (receipts on our clock, sends on theirs)
    assert (messages["latency_ns"] > -50_000_000).all() and messages["latency_ns"].median() < SKEW_NS / 2
    merged = messages.merge(result.sends[["msg_id", "intended_ns"]], on="msg_id", suffixes=("", "_send"))
    assert (merged["intended_ns"] == merged["intended_ns_send"]).all()


def test_a_worker_that_dies_mid_run_makes_the_run_incomplete_with_what_it_had_sent(run: Run, pool: distributed.Pool) -> None:
    address = _address(pool)
    victim, pid = sorted(pool.client.run(os.getpid).items())[1]
    killer = threading.Timer(distributed.START_LEAD_S + 3.0, os.kill, (pid, signal.SIGKILL))
    killer.start()
    try:
        result = measure(run, "sqs", LoadSpec(rate=50, duration_s=5, batch=5, keys=2), cluster=address, timeout=10)
    finally:
        killer.cancel()
    assert result is not None
    (hole,) = result.incomplete
    assert hole["worker"] == victim
    reported = result.sends[result.sends["sender"].str.startswith(f"share{hole['slice']}/")]
    assert len(reported) == hole["reported_sends"] < 125, "its sends as far as reported, not its whole share"
    assert bool(result.summary.iloc[0]["incomplete"])
    assert result.figures() == {}, "no figures that hide the hole"
    assert result.to_json()["incomplete"] == result.incomplete
    pool.client.wait_for_workers(2, timeout=60)  # the nanny starts a new one
