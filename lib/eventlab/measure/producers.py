"""Offering one load from one process or from several: each producer is a plain callable.

:func:`produce` is one producer (its own clients, its own keys, its share of the load): plain
data in, a :class:`~eventlab.measure.load.LoadResult` out, so that any engine that runs
callables on workers could run it; today :func:`offer` runs it in this process, or in
``producers`` processes of its own (spawned, so the consumers' threads are not forked).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

from eventlab.measure import senders
from eventlab.measure.load import LoadGenerator, LoadResult, LoadSpec, RetryPolicy
from eventlab.measure.probes import ProbeFactory
from eventlab.measure.senders import Sender
from eventlab.run import Run
from eventlab.target import Target


def keys(spec: LoadSpec, producer: int | None = None) -> list[str]:
    """The ordering keys one producer uses: ``k<i>``, or ``p<n>-k<i>`` for producer ``n`` of several."""
    stem = "k" if producer is None else f"p{producer}-k"
    return [f"{stem}{i}" for i in range(spec.keys)]


def produce(
    target: dict[str, Any], run_id: str, sender: dict[str, Any], spec: LoadSpec, producer: int, retry: RetryPolicy | None = None
) -> LoadResult:
    """One producer process: its own clients (from the target's and the sender's descriptions),
    its own keys, and the load of ``spec`` (its share)."""
    own = senders.rebuild(Target.from_description(target), **sender)
    factory = ProbeFactory(run_id, keys=keys(spec, producer), size=spec.size)
    return LoadGenerator(own, factory, spec, retry=retry).run()


def offer(run: Run, sender: Sender, spec: LoadSpec, producers: int = 1, retry: RetryPolicy | None = None) -> list[LoadResult]:
    """Offer ``spec`` through ``sender``: from this process, or split over ``producers`` processes
    (each with an equal share of the rate and the count)."""
    if producers < 1:
        raise ValueError("producers must be at least 1")
    if producers == 1:
        factory = ProbeFactory(run.run_id, keys=keys(spec), size=spec.size)
        return [LoadGenerator(sender, factory, spec, retry=retry).run()]
    share = replace(spec, rate=spec.rate / producers, count=None if spec.count is None else spec.count // producers, progress=False)
    address = senders.address(sender)
    context = multiprocessing.get_context("spawn")  # no fork: the consumers' threads are running
    with ProcessPoolExecutor(max_workers=producers, mp_context=context) as pool:
        futures = [pool.submit(produce, run.target.describe(), run.run_id, address, share, n, retry) for n in range(producers)]
        return [future.result() for future in futures]
