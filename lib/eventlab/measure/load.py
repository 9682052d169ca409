"""Load: an open- or closed-loop generator that offers probes through a sender, with retries.

Open loop (the default) follows a fixed-rate schedule: probe *i* is *intended* for
``t0 + i / rate`` and latency is counted from that time, so a sender that stalls cannot hide
the wait it caused (coordinated omission). With batching, a batch leaves when its last probe
is due, and the earlier probes' wait for the batch to fill is part of their latency. The send
delay (actual start minus intended time) is recorded for every probe as its own figure.

Closed loop sends the next batch as soon as the previous one is answered, per thread; the
intended time is then the moment a thread was ready, which is what closed-loop tools report.

Retries use exponential backoff with full jitter and are counted per probe: attempts,
throttled attempts and time spent backing off.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from tqdm import (
    tqdm,  # not tqdm.auto: ipywidgets is not in the lock, plain bars work in Jupyter too
)

from eventlab.measure.probes import Probe, ProbeFactory, SendLog, SendRecord
from eventlab.measure.senders import Sender

log = logging.getLogger(__name__)

# -- retries -----------------------------------------------------------------------------------
@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: sleep ``uniform(0, min(cap, base * 2**n))``."""

    max_attempts: int = 8
    base_s: float = 0.05
    cap_s: float = 2.0
    seed: int | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        with self._lock:
            return self._rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (retry - 1)))


def send_with_retries(sender: Sender, records: Sequence[tuple[Probe, SendRecord]], policy: RetryPolicy) -> None:
    """Send probes in one call; retry the ones that failed retryably, updating their records."""
    pending = list(records)
    attempt = 0
    while pending:
        attempt += 1
        now = time.time_ns()
        for _, rec in pending:
            rec.attempts += 1
            if rec.start_ns == 0:
                rec.start_ns = now
        results = sender.send([p for p, _ in pending])
        done = time.time_ns()
        retry: list[tuple[Probe, SendRecord]] = []
        for (probe, rec), result in zip(pending, results, strict=True):
            if result.outcome == "ok":
                rec.ok, rec.end_ns, rec.error = True, done, ""
                continue
            rec.error = result.error
            if result.outcome == "throttled":
                rec.throttles += 1
            if result.outcome == "failed" or attempt >= policy.max_attempts:
                rec.end_ns = done
                continue
            retry.append((probe, rec))
        if retry:
            pause = policy.backoff(attempt)
            policy.sleep(pause)
            for _, rec in retry:
                rec.backoff_ns += int(pause * 1e9)
        pending = retry
    for probe, rec in records:
        if not rec.ok:
            log.debug("probe %s not sent after %d attempt(s): %s", probe.msg_id, rec.attempts, rec.error)


# -- the generator -----------------------------------------------------------------------------
@dataclass
class LoadSpec:
    """What load to offer. Give ``duration_s`` or ``count`` (or both: whichever ends first).

    ``rate`` is messages per second (open loop; ignored when ``mode="closed"``). ``batch`` is
    probes per call (capped by the sender). ``switch_interval_s``: while an open-loop run lasts,
    the interpreter's GIL switch interval is lowered to this (default 5 ms is restored after),
    so a thread that is due to send is not kept waiting by another thread signing a request.
    ``key_affinity`` (with ``keys >= threads``): each key is sent by one thread only, so the
    producer itself keeps per-key order and any reordering measured is the service's. ``warmup_s`` / ``warmup_count``: the first probes,
    by intended time, are sent and received but marked ``warmup`` and left out of the figures.
    """

    rate: float = 100.0
    duration_s: float | None = None
    count: int | None = None
    mode: Literal["open", "closed"] = "open"
    batch: int = 1
    threads: int = 1
    warmup_s: float = 0.0
    warmup_count: int = 0
    keys: int = 1
    size: int = 0
    progress: bool | None = None
    switch_interval_s: float | None = 0.0005
    key_affinity: bool = True

    def total(self) -> int | None:
        if self.mode == "open":
            by_time = int(self.rate * self.duration_s) if self.duration_s is not None else None
            if by_time is None:
                return self.count
            return by_time if self.count is None else min(by_time, self.count)
        return self.count

    def shows_progress(self) -> bool:
        """``progress``, or by default a bar for a long run (10 s or more, or 5,000 probes)."""
        if self.progress is not None:
            return self.progress
        return (self.duration_s or 0) >= 10 or (self.total() or 0) >= 5000

    def check(self) -> None:
        if self.duration_s is None and self.count is None:
            raise ValueError("LoadSpec: give duration_s or count, or the run never ends.")
        if self.mode == "open" and self.rate <= 0:
            raise ValueError(f"LoadSpec: rate={self.rate}: an open-loop rate must be positive.")
        if self.threads < 1 or self.batch < 1:
            raise ValueError("LoadSpec: threads and batch must be at least 1.")
        if self.warmup_count < 0 or self.warmup_s < 0:
            raise ValueError("LoadSpec: warmup_count and warmup_s cannot be negative.")
        total = self.total()
        if total is not None and self.warmup_count >= total:
            raise ValueError(f"LoadSpec: warmup_count={self.warmup_count} leaves none of the {total} probes to measure; "
                             "send more (count, or rate x duration_s) or warm up with fewer.")
        if self.duration_s is not None and self.warmup_s >= self.duration_s:
            raise ValueError(f"LoadSpec: warmup_s={self.warmup_s} leaves nothing of duration_s={self.duration_s} to measure; "
                             "run longer or warm up for less.")

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "progress"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadSpec:
        """A spec from a workload file's mapping (e.g. YAML), checked; unknown fields are errors."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"LoadSpec: unknown field(s) {sorted(unknown)}; the fields are {sorted(known)}.")
        spec = cls(**dict(data))
        spec.check()
        return spec


@dataclass
class LoadResult:
    """The sends of one load run, and what the senders counted."""

    spec: LoadSpec
    path: str
    started_ns: int
    ended_ns: int
    sends: SendLog
    calls: Counter[str]

    def frame(self) -> pd.DataFrame:
        """One row per probe (see :class:`~eventlab.measure.probes.SendRecord`)."""
        return self.sends.to_frame()

    @property
    def offered_rate(self) -> float:
        """Probes sent per second of wall time (all attempts included once)."""
        elapsed = (self.ended_ns - self.started_ns) / 1e9
        return len(self.sends) / elapsed if elapsed > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        df = self.frame()
        return {
            "path": self.path,
            "probes": len(df),
            "warmup": int(df["warmup"].sum()) if len(df) else 0,
            "sent_ok": int(df["ok"].sum()) if len(df) else 0,
            "offered_rate": self.offered_rate,
            "calls": dict(self.calls),
        }


class LoadGenerator:
    """Offers the load of a :class:`LoadSpec` through a sender, from ``spec.threads`` threads."""

    def __init__(
        self,
        sender: Sender,
        factory: ProbeFactory,
        spec: LoadSpec,
        *,
        retry: RetryPolicy | None = None,
        share: tuple[int, int] = (0, 1),
    ) -> None:
        spec.check()
        index, of = share
        if of < 1 or not 0 <= index < of:
            raise ValueError(f"share={share}: a share is (index, of) with 0 <= index < of")
        self.sender = sender
        self.factory = factory
        self.spec = spec
        self.retry = retry or RetryPolicy()
        self.batch = max(1, min(spec.batch, sender.max_batch))
        self.share = share
        self.sends = SendLog()
        self._lock = threading.Lock()
        self._next = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the threads to finish the batch in hand and stop."""
        self._stop.set()

    def _is_warmup(self, index: int, intended_ns: int, t0: int) -> bool:
        by_time = self.spec.warmup_s > 0 and intended_ns - t0 < self.spec.warmup_s * 1e9
        return index < self.spec.warmup_count or by_time

    @property
    def lanes(self) -> int:
        """Sending threads over all shares: thread ``t`` of share ``i`` is lane ``i + of * t``."""
        return self.spec.threads * self.share[1]

    @property
    def key_affinity(self) -> bool:
        """True when each key is sent by one thread only (so the producer keeps per-key order)."""
        return self.spec.key_affinity and self.lanes > 1 and len(self.factory.keys) >= self.lanes

    def share_total(self, total: int | None) -> int | None:
        """How many of the schedule's ``total`` slots are this share's (slots ``j = index + of * n``)."""
        index, of = self.share
        return None if total is None else max(0, -(-(total - index) // of))

    def _claim_owned(self, worker: int, cursor: list[int], t0: int, deadline_ns: int | None, total: int | None) -> list[tuple[Probe, SendRecord]] | None:
        """The next batch of thread ``worker``'s own slots (its keys only); None when done.

        Slot ``j`` of the shared schedule has key ``keys[j % K]`` and belongs to the lane
        ``(j % K) % lanes`` (see :attr:`lanes`: one per thread of every share); ``cursor[0]`` is
        the first slot this thread has not looked at.
        """
        spec = self.spec
        keys = self.factory.keys
        k, lanes = len(keys), self.lanes
        lane = self.share[0] + self.share[1] * worker
        slots: list[int] = []
        j = cursor[0]
        while len(slots) < self.batch and not self._stop.is_set():
            if total is not None and j >= total:
                break
            intended = t0 + int(j * 1e9 / spec.rate) if spec.mode == "open" else time.time_ns()
            if deadline_ns is not None and intended >= deadline_ns:
                break
            if (j % k) % lanes == lane:
                slots.append(j)
            j += 1
        cursor[0] = j
        if not slots:
            return None
        batch = []
        for j in slots:
            intended = t0 + int(j * 1e9 / spec.rate) if spec.mode == "open" else time.time_ns()
            probe = self.factory.make(intended, key=keys[j % k])
            batch.append((probe, self._record(probe, j, t0, len(slots))))
        return batch

    def _record(self, probe: Probe, index: int, t0: int, n: int) -> SendRecord:
        return SendRecord(
            path=self.sender.path, msg_id=probe.msg_id, key=probe.key, seq=probe.seq,
            intended_ns=probe.intended_ns, warmup=self._is_warmup(index, probe.intended_ns, t0), batch=n,
            sender=threading.current_thread().name if self.share[1] == 1 else f"share{self.share[0]}/{threading.current_thread().name}",
        )

    def _claim(self, t0: int, deadline_ns: int | None, total: int | None) -> list[tuple[Probe, SendRecord]] | None:
        """The next batch: probes with their intended times; None when the run is over.

        The threads of this share take its slots in turn: slot ``index + of * n`` for n = 0, 1, ..
        """
        spec = self.spec
        index, of = self.share
        own_total = self.share_total(total)
        with self._lock:
            if self._stop.is_set():
                return None
            first = self._next
            n = self.batch if own_total is None else min(self.batch, own_total - first)
            if n <= 0:
                return None
            slots = [index + of * (first + i) for i in range(n)]
            if spec.mode == "open":
                interval = 1e9 / spec.rate
                intended = [t0 + int(j * interval) for j in slots]
                if deadline_ns is not None and intended[0] >= deadline_ns:
                    return None
            else:
                now = time.time_ns()
                if deadline_ns is not None and now >= deadline_ns:
                    return None
                intended = [now] * n
            self._next = first + n
            batch = []
            keys = self.factory.keys
            for j, t in zip(slots, intended, strict=True):
                probe = self.factory.make(t, key=keys[j % len(keys)] if of > 1 else None)
                batch.append((probe, self._record(probe, j, t0, n)))
            return batch

    def run(self, t0_ns: int | None = None) -> LoadResult:
        """Send until the count or duration is reached; returns every probe's send record.

        ``t0_ns`` is when the schedule starts (on this process's clock); by default a few ms
        from now. Shares of one schedule (see ``share``) are given the same start."""
        spec = self.spec
        total = spec.total()
        t0 = t0_ns if t0_ns is not None else time.time_ns() + 5_000_000  # a few ms for the threads to start
        deadline = t0 + int(spec.duration_s * 1e9) if spec.duration_s is not None else None
        show = spec.shows_progress()
        bar = tqdm(total=self.share_total(total), unit="msg", desc=f"{self.sender.path} {spec.mode}-loop", disable=not show, leave=False)
        errors: list[BaseException] = []

        affinity = self.key_affinity
        if spec.threads > 1 and not affinity:
            log.info("%d sender threads share %d key(s): the producer may reorder probes of a key", spec.threads, len(self.factory.keys))

        def worker(index: int) -> None:
            cursor = [0]
            try:
                if spec.mode == "closed" and t0 > time.time_ns():  # shares of one load start together
                    time.sleep((t0 - time.time_ns()) / 1e9)
                while True:
                    if affinity:
                        batch = self._claim_owned(index, cursor, t0, deadline, total)
                    else:
                        batch = self._claim(t0, deadline, total)
                    if batch is None:
                        return
                    due = batch[-1][1].intended_ns
                    wait = (due - time.time_ns()) / 1e9
                    if wait > 0:
                        time.sleep(wait)
                    send_with_retries(self.sender, batch, self.retry)
                    self.sends.extend(rec for _, rec in batch)
                    bar.update(len(batch))
            except BaseException as error:  # noqa: BLE001 - reported after join
                errors.append(error)
                self._stop.set()

        threads = [threading.Thread(target=worker, args=(i,), name=f"load-{i}", daemon=True) for i in range(spec.threads)]
        old_interval = sys.getswitchinterval()
        if spec.mode == "open" and spec.switch_interval_s:
            sys.setswitchinterval(min(old_interval, spec.switch_interval_s))
        started = time.time_ns()
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except KeyboardInterrupt:
            self._stop.set()
            for thread in threads:
                thread.join()
            raise
        finally:
            bar.close()
            sys.setswitchinterval(old_interval)
        ended = time.time_ns()
        if errors:
            raise RuntimeError(f"load generator thread failed: {errors[0]!r}") from errors[0]
        self.sends.records.sort(key=lambda r: r.intended_ns)
        calls = Counter(getattr(self.sender, "stats", Counter()))
        result = LoadResult(spec, self.sender.path, started, ended, self.sends, calls)
        log.info("load %s: %s", self.sender.path, json.dumps(result.summary(), default=str))
        unsent = [r for r in self.sends.records if not r.ok]
        if unsent:  # one line for the run, not one per probe (a throttling demo expects many)
            log.warning("%s: %d of %d probes not sent; first error: %s", self.sender.path, len(unsent), len(self.sends), unsent[0].error)
        return result


def run_load(sender: Sender, run_id: str, spec: LoadSpec, *, retry: RetryPolicy | None = None) -> LoadResult:
    """One load run with a fresh probe factory (``spec.keys`` keys ``k0``.., ``spec.size`` bytes)."""
    factory = ProbeFactory(run_id, keys=[f"k{i}" for i in range(spec.keys)], size=spec.size)
    return LoadGenerator(sender, factory, spec, retry=retry).run()
