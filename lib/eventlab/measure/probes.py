"""Probe messages and the receipts consumers record for them.

Every probe carries what the analysis needs and nothing it must look up elsewhere: the run
id, a unique message id, its key (message group or partition key), a sequence number per key
and its *intended* send time in ns (``time.time_ns()``; producer and consumers share one host,
so one clock). A receipt is one arrival of a probe at a consumer, with its receipt time.

Probes are JSON so they survive every envelope on the way: SQS bodies, SNS notifications
(raw or wrapped), EventBridge events (the probe is the ``detail``) and Kinesis record data.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

PROBE_MARK = "eventlab-probe"
PROBE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe message: who sent it, which key and place in that key's order, and when."""

    run_id: str
    msg_id: str
    key: str
    seq: int
    intended_ns: int
    pad: str = ""

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "m": PROBE_MARK,
            "v": PROBE_VERSION,
            "run": self.run_id,
            "id": self.msg_id,
            "key": self.key,
            "seq": self.seq,
            "t": self.intended_ns,
        }
        if self.pad:
            body["pad"] = self.pad
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def to_bytes(self) -> bytes:
        return self.to_json().encode()

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Probe:
        return cls(
            run_id=str(body["run"]),
            msg_id=str(body["id"]),
            key=str(body["key"]),
            seq=int(body["seq"]),
            intended_ns=int(body["t"]),
            pad=str(body.get("pad", "")),
        )


def is_probe(body: Any) -> bool:
    return isinstance(body, dict) and body.get("m") == PROBE_MARK


def decode(payload: str | bytes | dict[str, Any]) -> Probe | None:
    """The probe inside ``payload``, through any envelope eventlab meets; None if there is none.

    Understands a bare probe, an SNS notification (``Message`` holds the probe, as SQS and
    HTTP subscribers get it without raw delivery), an EventBridge event (``detail``) and a
    Lambda-style SQS record (``body``). Anything else is not a probe: None, and logged at debug.
    """
    body: Any = payload
    for _ in range(4):  # at most a few nested envelopes
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                log.debug("not JSON, not a probe: %.80s", body)
                return None
        if not isinstance(body, dict):
            return None
        if is_probe(body):
            return Probe.from_dict(body)
        if body.get("Type") == "Notification" and "Message" in body:
            body = body["Message"]
        elif "detail" in body and "detail-type" in body:
            body = body["detail"]
        elif "body" in body:
            body = body["body"]
        else:
            return None
    return None


class ProbeFactory:
    """Makes probes for one run: unique ids, keys in rotation, a sequence number per key.

    ``keys`` are the ordering keys (FIFO message groups, Kinesis partition keys); probes are
    assigned to them round-robin. ``size`` pads each body to about that many bytes.
    """

    def __init__(self, run_id: str, *, keys: Iterable[str] = ("k0",), size: int = 0) -> None:
        self.run_id = run_id
        self.keys = list(keys)
        if not self.keys:
            raise ValueError("ProbeFactory needs at least one key.")
        self.size = size
        self._next_key = itertools.cycle(self.keys)
        self._seq: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._pad = ""
        if size:
            bare = len(Probe(run_id, uuid.uuid4().hex, self.keys[0], 0, time.time_ns()).to_json())
            self._pad = "x" * max(0, size - bare - 9)

    def make(self, intended_ns: int, key: str | None = None) -> Probe:
        """The next probe, for ``key`` or the next key in rotation."""
        with self._lock:
            key = key if key is not None else next(self._next_key)
            seq = self._seq[key]
            self._seq[key] = seq + 1
        return Probe(self.run_id, uuid.uuid4().hex, key, seq, intended_ns, self._pad)


@dataclass(slots=True)
class Receipt:
    """One arrival of a probe at a consumer (a redelivery is another receipt)."""

    path: str
    consumer: str
    run_id: str
    msg_id: str
    key: str
    seq: int
    intended_ns: int
    received_ns: int
    receive_count: int = 1
    source: str = ""
    ok: bool = True  # False when the consumer failed to process it (it will come back)


class ReceiptLog:
    """A thread-safe record of receipts; consumers append, the analysis reads a DataFrame."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id
        self._receipts: list[Receipt] = []
        self._unique: set[str] = set()
        self._by_path: dict[str, set[str]] = defaultdict(set)
        self._others = 0
        self._cond = threading.Condition()

    def record(
        self,
        probe: Probe,
        *,
        path: str,
        consumer: str,
        received_ns: int | None = None,
        receive_count: int = 1,
        source: str = "",
    ) -> Receipt | None:
        """Record a probe's arrival; probes of another run are counted and ignored."""
        received_ns = received_ns if received_ns is not None else time.time_ns()
        if self.run_id is not None and probe.run_id != self.run_id:
            with self._cond:
                self._others += 1
            return None
        receipt = Receipt(
            path, consumer, probe.run_id, probe.msg_id, probe.key, probe.seq,
            probe.intended_ns, received_ns, receive_count, source,
        )
        self.add(receipt)
        return receipt

    def add(self, receipt: Receipt) -> None:
        """Record a receipt another process took (a consumer on a Dask worker)."""
        if self.run_id is not None and receipt.run_id != self.run_id:
            with self._cond:
                self._others += 1
            return
        with self._cond:
            self._receipts.append(receipt)
            self._unique.add(receipt.msg_id)
            self._by_path[receipt.path].add(receipt.msg_id)
            self._cond.notify_all()

    def since(self, start: int) -> list[Receipt]:
        """The receipts from index ``start`` on (a consumer elsewhere reports them in chunks)."""
        with self._cond:
            return self._receipts[start:]

    def record_payload(self, payload: str | bytes | dict[str, Any], **kwargs: Any) -> Receipt | None:
        """Decode a payload and record it; a payload without a probe is counted, not recorded."""
        received_ns = kwargs.pop("received_ns", None) or time.time_ns()
        probe = decode(payload)
        if probe is None:
            with self._cond:
                self._others += 1
            return None
        return self.record(probe, received_ns=received_ns, **kwargs)

    @property
    def ignored(self) -> int:
        """Payloads that were not probes of this run."""
        return self._others

    def __len__(self) -> int:
        return len(self._receipts)

    def __iter__(self) -> Iterator[Receipt]:
        with self._cond:
            return iter(list(self._receipts))

    def unique_count(self, path: str | None = None) -> int:
        with self._cond:
            return len(self._unique if path is None else self._by_path[path])

    def ids(self) -> set[str]:
        with self._cond:
            return set(self._unique)

    def wait_for(self, unique: int, timeout: float, *, path: str | None = None) -> bool:
        """Block until ``unique`` distinct probes have arrived (on ``path``, or on any), or
        ``timeout`` s; True if they did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._unique if path is None else self._by_path[path]) < unique:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def wait_quiet(self, quiet: float, timeout: float) -> int:
        """Wait until no receipt arrives for ``quiet`` s (or ``timeout``); returns receipts seen."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while time.monotonic() < deadline:
                before = len(self._receipts)
                self._cond.wait(min(quiet, max(0.0, deadline - time.monotonic())))
                if len(self._receipts) == before:
                    break
            return len(self._receipts)

    def to_frame(self) -> pd.DataFrame:
        """One row per receipt (columns: the :class:`Receipt` fields)."""
        with self._cond:
            rows = [asdict(r) for r in self._receipts]
        columns = list(Receipt.__dataclass_fields__)
        return pd.DataFrame(rows, columns=columns)


@dataclass(slots=True)
class SendRecord:
    """What the producer did for one probe: when it meant to send, when it did, and how it went.

    ``start_ns`` is when the first attempt began, ``end_ns`` when the accepting reply came;
    ``attempts`` counts calls that carried it, ``throttles`` the attempts refused by a quota,
    ``backoff_ns`` the time spent sleeping before retries.
    """

    path: str
    msg_id: str
    key: str
    seq: int
    intended_ns: int
    start_ns: int = 0
    end_ns: int = 0
    ok: bool = False
    attempts: int = 0
    throttles: int = 0
    backoff_ns: int = 0
    warmup: bool = False
    error: str = ""
    batch: int = 1
    sender: str = ""


@dataclass
class SendLog:
    """Thread-safe list of :class:`SendRecord` (one per probe)."""

    records: list[SendRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def extend(self, records: Iterable[SendRecord]) -> None:
        with self._lock:
            self.records.extend(records)

    def since(self, start: int) -> list[SendRecord]:
        """The records from index ``start`` on (a producer reports its sends in chunks)."""
        with self._lock:
            return self.records[start:]

    # Picklable (without its lock), so producers on Dask workers can hand their sends back.
    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            return {"records": list(self.records)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.records = state["records"]
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.records)

    def to_frame(self) -> pd.DataFrame:
        with self._lock:
            rows = [asdict(r) for r in self.records]
        return pd.DataFrame(rows, columns=list(SendRecord.__dataclass_fields__))
