"""Offering one load: from this process, or from the workers of a Dask cluster.

A producer is a plain callable (:func:`eventlab.measure.distributed.produce`: plain data in, a
:class:`~eventlab.measure.load.LoadResult` out) that builds its own clients; :func:`offer` runs
the one load here, or one slice of its schedule on every worker of a
:class:`~eventlab.measure.distributed.Pool` (a local cluster of processes, or a cluster of
machines).
"""

from __future__ import annotations

from eventlab.measure.distributed import Offered, Pool, keys_for
from eventlab.measure.load import LoadGenerator, LoadSpec, RetryPolicy
from eventlab.measure.probes import ProbeFactory
from eventlab.measure.senders import Sender
from eventlab.run import Run


def offer(run: Run, sender: Sender, spec: LoadSpec, *, pool: Pool | None = None, retry: RetryPolicy | None = None) -> Offered:
    """Offer ``spec`` through ``sender``: from this process (``pool`` None), or split over the
    pool's workers (each a disjoint slice of the one schedule and keys of its own)."""
    if pool is None:
        factory = ProbeFactory(run.run_id, keys=keys_for(spec, 1), size=spec.size)
        return Offered([LoadGenerator(sender, factory, spec, retry=retry).run()])
    return pool.offer(run, sender, spec, retry=retry)
