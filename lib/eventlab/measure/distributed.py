"""Load from many processes or machines: producers as Dask tasks, one slice of the schedule each.

:func:`connect` gives a :class:`Pool`: a ``LocalCluster`` of worker processes on 127.0.0.1 (the
default), or any running Dask cluster by its scheduler address (an argument, or
``EVENTLAB_DASK_SCHEDULER``). :meth:`Pool.offer` runs one producer task per worker: each builds
its own clients from the target's description (nothing holding a client is pickled), takes a
disjoint slice of the one open-loop schedule (the same intended times, every key sent by one
worker only, so per-key order is the service's to keep) and streams its send records back in
chunks while it runs, so a worker that dies leaves what it had reported.

Clocks: before and after the load, each worker's clock is compared with this process's by round
trips (NTP-style); timestamps a worker took are moved onto this clock when its offset is beyond
the error bound or it runs on another host, and the offsets go into the result
(``clock_offsets``). A worker that died makes the run ``incomplete`` (:class:`Offered`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from eventlab.measure import senders
from eventlab.measure.consumers import handoff
from eventlab.measure.load import LoadGenerator, LoadResult, LoadSpec, RetryPolicy
from eventlab.measure.probes import ProbeFactory, Receipt, ReceiptLog, SendLog, SendRecord
from eventlab.measure.senders import Sender
from eventlab.run import Run
from eventlab.target import Target

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

SCHEDULER_ENV = "EVENTLAB_DASK_SCHEDULER"
LOCAL = "local"  # as a cluster address: a new LocalCluster, whatever the environment says
CONNECT_TIMEOUT_S = 3.0
CHUNK_S = 0.5  # how often a producer reports the sends it made
START_LEAD_S = 2.0  # from submitting the tasks to the schedule's start: room to build clients
CLOCK_ROUNDS = 8
_TIME_FIELDS = ("intended_ns", "start_ns", "end_ns")


class ClusterError(ValueError):
    """A Dask cluster that cannot be used; the message names the problem and the fix."""


# -- where the cluster is ----------------------------------------------------------------------
def scheduler_address(cluster: str | None = None) -> str | None:
    """The scheduler to use: ``cluster``, else ``EVENTLAB_DASK_SCHEDULER``; None for a local cluster."""
    if cluster == LOCAL:
        return None
    return (cluster or os.environ.get(SCHEDULER_ENV) or "").strip() or None


def check_scheduler(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`ClusterError` unless something listens at the scheduler ``address``
    (``tcp://host:port``, or ``host:port``), within ``timeout`` s: before anything is created."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        raise ClusterError(f"Dask scheduler {address!r}: give tcp://host:port (as `dask scheduler` prints it)")
    try:
        port = parts.port or 8786
    except ValueError as error:
        raise ClusterError(f"Dask scheduler {address!r}: {error}") from None
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ClusterError(
            f"the Dask scheduler at {address} does not answer ({reason} within {timeout:g} s): start it "
            f"(`dask scheduler`, then `dask worker {address}`) or fix --cluster / the workload's cluster / {SCHEDULER_ENV}"
        ) from None


# -- clocks ------------------------------------------------------------------------------------
def clock() -> int:
    """This process's wall clock in ns (what probes and receipts are stamped with)."""
    return time.time_ns()


def _worker_clock() -> tuple[int, str]:
    return clock(), socket.gethostname()


@dataclass(frozen=True)
class ClockOffset:
    """A worker's clock minus ours (ns), from the best round trip, and its error bound (half of it)."""

    offset_ns: int
    bound_ns: int
    at_ns: int  # our clock at the middle of the best round trip

    @classmethod
    def from_round_trip(cls, t0: int, t1: int, t2: int) -> ClockOffset:
        """NTP-style: sent at ``t0``, the worker read ``t1``, answered at ``t2`` (t0, t2 ours)."""
        middle = (t0 + t2) // 2
        return cls(offset_ns=t1 - middle, bound_ns=(t2 - t0 + 1) // 2, at_ns=middle)

    def as_dict(self) -> dict[str, float]:
        return {"offset_ms": self.offset_ns / 1e6, "bound_ms": self.bound_ns / 1e6}


def best_offsets(rounds: Sequence[Mapping[str, tuple[int, int, int]]]) -> dict[str, ClockOffset]:
    """Per worker, the offset of the round trip with the smallest error bound."""
    best: dict[str, ClockOffset] = {}
    for trips in rounds:
        for worker, (t0, t1, t2) in trips.items():
            offset = ClockOffset.from_round_trip(t0, t1, t2)
            if worker not in best or offset.bound_ns < best[worker].bound_ns:
                best[worker] = offset
    return best


def measure_offsets(client: Client, workers: Sequence[str], rounds: int = CLOCK_ROUNDS) -> tuple[dict[str, ClockOffset], dict[str, str]]:
    """Each worker's clock offset to this process (best of ``rounds`` round trips), and its host."""
    trips: list[dict[str, tuple[int, int, int]]] = []
    hosts: dict[str, str] = {}
    for _ in range(rounds):
        t0 = clock()
        answers = client.run(_worker_clock, workers=list(workers))
        t2 = clock()
        trips.append({w: (t0, t1, t2) for w, (t1, _host) in answers.items()})
        hosts.update({w: host for w, (_t1, host) in answers.items()})
    return best_offsets(trips), hosts


@dataclass
class WorkerClock:
    """One worker's offsets before and after the run, and whether its timestamps are moved."""

    before: ClockOffset
    after: ClockOffset | None = None
    host: str = ""
    applied: bool = False

    def offset_at(self, worker_ns: int) -> int:
        """The offset at a worker time: interpolated between before and after (clocks drift)."""
        if self.after is None or self.after.at_ns == self.before.at_ns:
            return self.before.offset_ns
        ours = worker_ns - self.before.offset_ns
        share = min(1.0, max(0.0, (ours - self.before.at_ns) / (self.after.at_ns - self.before.at_ns)))
        return int(self.before.offset_ns + share * (self.after.offset_ns - self.before.offset_ns))

    def to_ours(self, worker_ns: int) -> int:
        """A worker timestamp on this process's clock (unchanged when the offset is not applied)."""
        return worker_ns - self.offset_at(worker_ns) if self.applied and worker_ns else worker_ns

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "before": self.before.as_dict(),
            "after": self.after.as_dict() if self.after else None,
            "applied": self.applied,
        }


def should_apply(offset: ClockOffset, worker_host: str, our_host: str) -> bool:
    """Move a worker's timestamps when it runs on another host, or when its offset is beyond the
    measurement's error bound (one host has one clock: there the estimate is noise around 0)."""
    return worker_host != our_host or abs(offset.offset_ns) > offset.bound_ns


# -- the producer task, on a worker --------------------------------------------------------------
@dataclass(frozen=True)
class Slice:
    """One worker's part of the schedule: share ``index`` of ``of``, the keys, and the start."""

    index: int
    of: int
    keys: tuple[str, ...]
    t0_ns: int  # on the worker's clock
    topic: str  # where the chunks of send records go; ``<topic>-stop`` is the event that stops it


def keys_for(spec: LoadSpec, shares: int) -> tuple[str, ...]:
    """The schedule's keys: ``spec.keys`` per producer, ``k0``.. (key ``k<i>`` is sent by share
    ``i % shares`` only)."""
    return tuple(f"k{i}" for i in range(spec.keys * shares))


def produce(target: dict[str, Any], run_id: str, sender: dict[str, Any], spec: LoadSpec, part: Slice, retry: RetryPolicy | None) -> LoadResult:
    """One producer: clients of its own (from plain descriptions), its slice of the schedule, and
    its send records reported every :data:`CHUNK_S` seconds while it sends."""
    from distributed import Event, get_worker, secede

    worker = get_worker()
    stop = Event(f"{part.topic}-stop")
    own = senders.rebuild(Target.from_description(target), **sender)
    factory = ProbeFactory(run_id, keys=part.keys, size=spec.size)
    generator = LoadGenerator(own, factory, replace(spec, progress=False), retry=retry, share=(part.index, part.of))
    secede()  # a long task: leave the worker's thread pool free (a consumer task may need it)
    done: list[LoadResult] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(generator.run(part.t0_ns))
        except BaseException as error:  # noqa: BLE001 - raised in the task below
            failed.append(error)

    thread = threading.Thread(target=run, name=f"producer-{part.index}", daemon=True)
    thread.start()
    reported = 0
    while True:
        thread.join(CHUNK_S)
        chunk = generator.sends.since(reported)
        if chunk:
            worker.log_event(part.topic, {"slice": part.index, "records": [dataclasses.astuple(r) for r in chunk]})
            reported += len(chunk)
        if not thread.is_alive():
            break
        if stop.is_set():  # the measuring process gave up (interrupted, failed): stop sending
            generator.stop()
    if failed:
        raise failed[0]
    return done[0]


def consume(target: dict[str, Any], run_id: str, consumer: dict[str, Any], index: int, topic: str, stop: str) -> int:
    """One consumer on a worker: clients of its own, its receipts reported every :data:`CHUNK_S`
    seconds, until the measuring process sets the event ``stop``; returns the receipts it took."""
    from distributed import Event, get_worker, secede

    worker = get_worker()
    receipts = ReceiptLog(run_id)
    own = handoff.rebuild(Target.from_description(target), receipts, **consumer)
    stopped = Event(stop)
    secede()  # a long task: leave the worker's thread pool to the producer
    reported = 0

    def flush() -> None:
        nonlocal reported
        chunk = receipts.since(reported)
        if chunk:
            worker.log_event(topic, {"consumer": index, "receipts": [dataclasses.astuple(r) for r in chunk]})
            reported += len(chunk)

    with own:
        worker.log_event(topic, {"consumer": index, "ready": True})
        while not stopped.wait(CHUNK_S):
            flush()
    flush()
    return reported


# -- the pool ----------------------------------------------------------------------------------
@dataclass
class Offered:
    """The load offered from the workers: one result per slice (moved onto this clock), the
    clocks, and the slices whose worker died (``incomplete``: their sends as far as reported)."""

    loads: list[LoadResult]
    clocks: dict[str, WorkerClock] = field(default_factory=dict)
    incomplete: list[dict[str, Any]] = field(default_factory=list)

    @property
    def clock_offsets(self) -> dict[str, dict[str, Any]]:
        return {worker: c.as_dict() for worker, c in self.clocks.items()}

    def intended(self) -> dict[str, int]:
        """Each probe's intended time on this clock, by message id."""
        return {r.msg_id: r.intended_ns for load in self.loads for r in load.sends.records}

    def correct_receipts(self, receipts: pd.DataFrame) -> pd.DataFrame:
        """Receipts with each probe's intended time taken from its (corrected) send record: the
        probe's body carries the worker's clock, the receipt ours."""
        if receipts.empty or not any(c.applied for c in self.clocks.values()):
            return receipts
        intended = receipts["msg_id"].map(self.intended())
        out = receipts.copy()
        out["intended_ns"] = intended.fillna(out["intended_ns"]).astype("int64")
        return out


def _progress_bar(spec: LoadSpec, description: str) -> Any:
    """tqdm.auto's bar (a widget in Jupyter) when ipywidgets is installed, else the text bar
    (tqdm.auto's widget cannot draw without it); shown as the generator's own would be."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(total=spec.total(), unit="msg", desc=description, leave=False, disable=not spec.shows_progress())


class Pool:
    """A connected Dask client and the workers producers run on."""

    def __init__(self, client: Client, *, local: bool, dashboard: bool) -> None:
        self.client = client
        self.local = local
        self.dashboard = dashboard
        self._clocks: dict[str, WorkerClock] = {}
        self.incomplete: list[dict[str, Any]] = []
        """Consumers whose worker died (producers' are in :attr:`Offered.incomplete`)."""

    def _identity(self) -> dict[str, Any]:
        """The scheduler's own answer (``Client.scheduler_info()`` returns a cache that the
        client's periodic refresh, which carries no workers, may have just replaced)."""
        return self.client.sync(self.client.scheduler.identity, n_workers=-1)

    @property
    def workers(self) -> list[str]:
        return sorted(self._identity()["workers"])

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard's address, when there is one."""
        return self.client.dashboard_link if self.dashboard else None

    def _alive(self) -> set[str]:
        return set(self._identity()["workers"])

    def clocks(self, run: Run) -> dict[str, WorkerClock]:
        """Every worker's clock, measured once per pool (before the first consumer or producer
        starts); a worker that cannot reach ``run``'s target is refused here."""
        workers = self.workers
        if not workers:
            raise ClusterError("the Dask cluster has no workers: start some (`dask worker <scheduler>`)")
        missing = [w for w in workers if w not in self._clocks]
        if missing:
            our_host = socket.gethostname()
            before, hosts = measure_offsets(self.client, missing)
            for worker in missing:
                c = WorkerClock(before[worker], host=hosts[worker])
                c.applied = should_apply(c.before, c.host, our_host)
                self._clocks[worker] = c
                log.info("clock of %s (%s): %+.3f ms +- %.3f ms%s", worker, c.host, c.before.offset_ns / 1e6,
                         c.before.bound_ns / 1e6, " (applied)" if c.applied else "")
            elsewhere = sorted({c.host for c in self._clocks.values() if c.host != our_host})
            if elsewhere and run.target.is_emulated:
                raise ClusterError(
                    f"workers on {', '.join(elsewhere)} cannot reach the emulator on this machine's 127.0.0.1: "
                    "use a cluster of workers on other machines with the AWS target, or a local cluster"
                )
        return {w: self._clocks[w] for w in workers}

    def _target(self, run: Run) -> dict[str, Any]:
        """The target as the workers build it: on other hosts with their own credentials
        (instance role, IRSA), so not even our profile's name is sent."""
        target = run.target.describe()
        if any(c.host != socket.gethostname() for c in self._clocks.values()):
            target["profile"] = None
        return target

    @contextlib.contextmanager
    def consume(self, run: Run, consumers: Sequence[Any], receipts: ReceiptLog, *, ready_timeout_s: float = 60.0) -> Iterator[list[Any]]:
        """Run the consumers that can move (:func:`eventlab.measure.consumers.handoff.address`) on
        the workers, in turn, recording into ``receipts`` (their times moved onto this clock);
        yields the others, to run here. Returns once every moved consumer is ready, and stops
        them on exit; one whose worker died is listed in :attr:`incomplete`."""
        moving = [(c, handoff.address(c)) for c in consumers]
        staying = [c for c, where in moving if where is None]
        moved = [(c, where) for c, where in moving if where is not None]
        if not moved:
            yield staying
            return
        from distributed import Event

        clocks = self.clocks(run)
        workers = list(clocks)
        topic = f"eventlab-receipts-{run.run_id}-{time.monotonic_ns()}"
        stop = Event(f"{topic}-stop", client=self.client)
        hosts = {i: workers[i % len(workers)] for i in range(len(moved))}
        ready: set[int] = set()
        changed = threading.Condition()

        def on_chunk(event: tuple[float, dict[str, Any]]) -> None:
            _, message = event
            index = int(message["consumer"])
            if message.get("ready"):
                with changed:
                    ready.add(index)
                    changed.notify_all()
                return
            worker_clock = clocks[hosts[index]]
            for fields in message["receipts"]:
                receipt = Receipt(*fields)
                receipt.received_ns = worker_clock.to_ours(receipt.received_ns)
                receipt.consumer = f"{hosts[index]}/{receipt.consumer}"  # where it was taken
                receipts.add(receipt)

        self.client.subscribe_topic(topic, on_chunk)
        target = self._target(run)
        futures = {
            i: self.client.submit(
                consume, target, run.run_id, where, i, topic, f"{topic}-stop", workers=[hosts[i]], allow_other_workers=False,
                pure=False, key=f"eventlab-consume-{run.run_id}-{i}-{topic[-8:]}",
            )
            for i, (_c, where) in enumerate(moved)
        }
        try:
            deadline = time.monotonic() + ready_timeout_s
            with changed:
                while len(ready) < len(futures) and time.monotonic() < deadline:
                    failed = [f for f in futures.values() if f.status == "error"]
                    if failed:
                        raise RuntimeError(f"a consumer failed to start on a worker: {failed[0].exception()!r}")
                    changed.wait(CHUNK_S)
            if len(ready) < len(futures):
                raise RuntimeError(f"consumers not ready on the workers after {ready_timeout_s:.0f} s")
            log.info("%d consumer(s) on Dask workers, %d here", len(moved), len(staying))
            yield staying
        finally:
            stop.set()
            alive = self._alive()
            for i, future in futures.items():
                if hosts[i] not in alive:
                    future.cancel()
                    self.incomplete.append({"worker": hosts[i], "consumer": moved[i][1]["path"]})
                    log.warning("the worker %s of a %s consumer died: its receipts are as far as reported", hosts[i], moved[i][1]["path"])
                    continue
                try:
                    future.result(timeout=30)
                except TimeoutError:
                    log.warning("a %s consumer on %s did not stop within 30 s", moved[i][1]["path"], hosts[i])
            time.sleep(0.1)  # the last chunks are on their way from the scheduler
            self.client.unsubscribe_topic(topic)

    def offer(self, run: Run, sender: Sender, spec: LoadSpec, *, retry: RetryPolicy | None = None, timeout_s: float = 60.0) -> Offered:
        """Offer ``spec`` through ``sender`` from every worker, each with its slice of the one schedule."""
        from distributed import Event

        clocks = self.clocks(run)
        workers = list(clocks)
        topic = f"eventlab-sends-{run.run_id}-{time.monotonic_ns()}"
        keys = keys_for(spec, len(workers))
        t0 = clock() + int(START_LEAD_S * 1e9)
        reported: dict[int, list[SendRecord]] = {i: [] for i in range(len(workers))}
        lock = threading.Lock()
        bar = _progress_bar(spec, f"{sender.path} on {len(workers)} Dask worker(s)")
        if self.dashboard_link:
            bar.write(f"Dask dashboard: {self.dashboard_link}")  # beside the bar, where the run is watched

        def on_chunk(event: tuple[float, dict[str, Any]]) -> None:
            _, message = event
            records = [SendRecord(*fields) for fields in message["records"]]
            with lock:
                reported[int(message["slice"])].extend(records)
            bar.update(len(records))

        self.client.subscribe_topic(topic, on_chunk)
        address = senders.address(sender)
        target = self._target(run)
        futures = {}
        for index, worker in enumerate(workers):
            part = Slice(index, len(workers), keys, t0 + (clocks[worker].before.offset_ns if clocks[worker].applied else 0), topic)
            futures[index] = self.client.submit(
                produce, target, run.run_id, address, spec, part, retry, workers=[worker], allow_other_workers=False,
                pure=False, key=f"eventlab-produce-{run.run_id}-{index}-{topic[-8:]}",
            )
        finished: dict[int, LoadResult] = {}
        died: dict[int, str] = {}
        deadline = time.monotonic() + START_LEAD_S + (spec.duration_s or 0) + timeout_s
        try:
            while len(finished) + len(died) < len(futures):
                time.sleep(CHUNK_S / 2)
                alive = self._alive()
                for index, future in futures.items():
                    if index in finished or index in died:
                        continue
                    if future.status == "finished":
                        finished[index] = future.result()
                    elif future.status == "error":
                        error = future.exception()
                        if type(error).__name__ == "KilledWorker":
                            died[index] = workers[index]
                        else:
                            raise RuntimeError(f"producer {index} on {workers[index]} failed: {error!r}") from error
                    elif workers[index] not in alive:
                        died[index] = workers[index]
                        future.cancel()
                if time.monotonic() > deadline:
                    for index, future in futures.items():
                        if index not in finished and index not in died:
                            died[index] = workers[index]
                            future.cancel()
                    log.warning("producers still running %.0f s after the load should have ended: given up", timeout_s)
        finally:
            if len(finished) < len(futures):  # interrupted, failed or given up: no producer goes on sending
                Event(f"{topic}-stop", client=self.client).set()
            time.sleep(0.1)  # the last chunks are on their way from the scheduler
            self.client.unsubscribe_topic(topic)
            bar.close()
        survivors = [w for i, w in enumerate(workers) if i not in died and w in self._alive()]
        after, _ = measure_offsets(self.client, survivors) if survivors else ({}, {})
        for worker, offset in after.items():
            clocks[worker].after = offset
        loads: list[LoadResult] = []
        incomplete: list[dict[str, Any]] = []
        for index, worker in enumerate(workers):
            if index in finished:
                load = finished[index]
            else:
                with lock:
                    records = list(reported[index])
                load = LoadResult(spec, sender.path, t0, clock(), SendLog(records), Counter())
                incomplete.append({"worker": worker, "slice": index, "reported_sends": len(records)})
                log.warning("worker %s died during the run: %d of its sends were reported; the run is incomplete", worker, len(records))
            loads.append(_on_our_clock(load, clocks[worker]))
        return Offered(loads, clocks, incomplete)


def _on_our_clock(load: LoadResult, worker_clock: WorkerClock) -> LoadResult:
    """A worker's load result with its timestamps moved onto this process's clock."""
    if not worker_clock.applied:
        return load
    records = [
        replace(r, **{name: worker_clock.to_ours(getattr(r, name)) for name in _TIME_FIELDS}) for r in load.sends.records
    ]
    return LoadResult(load.spec, load.path, worker_clock.to_ours(load.started_ns), worker_clock.to_ours(load.ended_ns),
                      SendLog(records), load.calls)


def dashboard_default() -> bool:
    """A dashboard unless in CI (``CI`` set), and only when its server (bokeh) is installed."""
    return not os.environ.get("CI") and importlib.util.find_spec("bokeh") is not None


@contextlib.contextmanager
def connect(cluster: str | None = None, *, workers: int = 2, dashboard: bool | None = None) -> Iterator[Pool]:
    """A pool on the running cluster at ``cluster`` (or ``EVENTLAB_DASK_SCHEDULER``), else on a
    new ``LocalCluster`` of ``workers`` processes (one thread each, everything on 127.0.0.1),
    closed on exit. An address that does not answer is a :class:`ClusterError`, raised at once."""
    from distributed import Client, LocalCluster

    address = scheduler_address(cluster)
    if address:
        check_scheduler(address)
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"cannot connect to the Dask scheduler at {address}: {error}") from None
        pool = Pool(client, local=False, dashboard=False)
        identity = pool._identity()
        pool.dashboard = bool(identity.get("services", {}).get("dashboard"))
        log.info("on the Dask cluster at %s: %d worker(s)", address, len(identity["workers"]))
        try:
            yield pool
        finally:
            client.close()
        return
    if workers < 1:
        raise ClusterError(f"workers={workers}: a local cluster needs at least one worker")
    show = dashboard_default() if dashboard is None else dashboard
    # The scheduler's HTTP server (health, metrics; the dashboard when bokeh is installed and
    # ``show``) listens on a free port of 127.0.0.1, like the scheduler, the nannies and workers.
    local = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", worker_dashboard_address=None, scheduler_kwargs={"dashboard": show},
        silence_logs=logging.WARNING,
    )
    try:
        client = Client(local, set_as_default=False)
        try:
            client.wait_for_workers(workers, timeout=60)
            log.info("local Dask cluster: %d worker(s)%s", workers, f", dashboard {client.dashboard_link}" if show else "")
            yield Pool(client, local=True, dashboard=show)
        finally:
            client.close()
    finally:
        local.close()
