"""Emulated service quotas: the throttling that AWS applies and LocalStack does not.

kinesis-mock enforces no per-shard rate and LocalStack does not throttle SQS FIFO. To show
throttling on the emulator, :class:`QuotaEmulator` hooks a boto3 client's event system
(botocore ``before-parameter-build`` / ``before-call`` / ``after-call``) and refuses calls the
way AWS would, with the error codes AWS uses:

- Kinesis, per shard: writes of 1,000 records/s or 1 MiB/s (``PutRecord`` raises
  ``ProvisionedThroughputExceededException``; ``PutRecords`` returns per-record failures with
  ``FailedRecordCount`` and an ``ErrorCode`` per record, as AWS does); reads of 5
  ``GetRecords`` calls/s and 2 MiB/s.
- SQS FIFO queues, per queue and per action: 300 calls/s (``ThrottlingException``, as AWS's
  FIFO throttling guide says).

Every message says ``(emulated by eventlab)``. Quotas are token buckets holding one second
of capacity; :meth:`KinesisQuota.scaled` / :meth:`SqsFifoQuota.scaled` shrink them for demos
(a shard of 100 records/s makes throttling visible at a rate the emulator can sustain).
Emulation is on for LocalStack and off for AWS, which enforces the real quotas itself.

Refused calls never reach the emulator and skip botocore's own retries: the caller sees the
error at once and its retry policy (see :mod:`eventlab.measure.load`) is what is measured.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Self

from botocore.awsrequest import AWSResponse

from eventlab.services import kinesis
from eventlab.target import Target

log = logging.getLogger(__name__)

MIB = 1024 * 1024
EMULATED = "(emulated by eventlab)"
KINESIS_THROTTLE = "ProvisionedThroughputExceededException"
# AWS's "Troubleshoot FIFO throttling issues" page: requests over 300 TPS per action get
# ThrottlingException (the SQS API model also lists RequestThrottled; consumers accept both).
SQS_THROTTLE = "ThrottlingException"
SQS_FIFO_ACTIONS = (
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
)
_CTX = "eventlab_quota"
Clock = Callable[[], float]


class TokenBucket:
    """``rate`` tokens per second, holding at most ``capacity`` (default: one second's worth,
    and at least one token).

    ``take`` is all-or-nothing; ``debit`` may drive the balance negative (read bytes are only
    known after the call), which then refuses takes until it refills.
    """

    def __init__(self, rate: float, capacity: float | None = None, *, clock: Clock = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"token bucket rate {rate}: must be positive.")
        self.rate = float(rate)
        # at least one whole token, or a rate below 1/s could never admit anything
        self.capacity = float(capacity if capacity is not None else max(rate, 1.0))
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def available(self) -> float:
        self._refill()
        return self.tokens

    def can_take(self, n: float = 1) -> bool:
        self._refill()
        return self.tokens >= n and self.tokens > 0

    def take(self, n: float = 1) -> bool:
        self._refill()
        if self.tokens >= n and self.tokens > 0:
            self.tokens -= n
            return True
        return False

    def debit(self, n: float) -> None:
        self._refill()
        self.tokens -= n


@dataclass(frozen=True)
class KinesisQuota:
    """Per-shard Kinesis Data Streams limits (AWS defaults for provisioned streams)."""

    records_per_s: float = 1000
    bytes_per_s: float = MIB
    reads_per_s: float = 5
    read_bytes_per_s: float = 2 * MIB

    def scaled(self, factor: float) -> KinesisQuota:
        """The same quota times ``factor`` (0.1: a shard of 100 records/s for a clear demo)."""
        return KinesisQuota(*(v * factor for v in (self.records_per_s, self.bytes_per_s, self.reads_per_s, self.read_bytes_per_s)))


@dataclass(frozen=True)
class SqsFifoQuota:
    """SQS FIFO without high-throughput mode: 300 API calls per second per action, per queue."""

    calls_per_s: float = 300

    def scaled(self, factor: float) -> SqsFifoQuota:
        return replace(self, calls_per_s=self.calls_per_s * factor)


@dataclass(frozen=True)
class QuotaEvent:
    """One emulated decision: a whole call, or ``records`` records of a PutRecords.

    ``at`` is the emulator's clock (seconds) read under the same lock as the token bucket,
    so admitted events obey the bucket's bound exactly; ``time_ns`` is wall time for plots.
    """

    time_ns: int
    service: str
    operation: str
    resource: str
    records: int = 1
    at: float = 0.0


def _error_response(code: str, message: str, status: int = 400) -> tuple[AWSResponse, dict[str, Any]]:
    http = AWSResponse("eventlab://emulated-quota", status, {}, None)
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": f"emulated-{uuid.uuid4()}", "RetryAttempts": 0},
    }
    return http, parsed


def _stream_name(params: dict[str, Any]) -> str:
    if params.get("StreamName"):
        return str(params["StreamName"])
    return str(params.get("StreamARN", "")).rsplit("/", 1)[-1]


@dataclass
class QuotaEmulator:
    """Applies emulated quotas to boto3 clients; records every refusal in ``events``.

    Use :func:`emulate_quotas` to get one that is on for LocalStack and off for AWS. Install
    on the clients that should be limited and remove when done (or use it as a context
    manager); clients from ``target.client(...)`` are shared, so always remove.
    """

    kinesis: KinesisQuota | None = field(default_factory=KinesisQuota)
    sqs_fifo: SqsFifoQuota | None = field(default_factory=SqsFifoQuota)
    enabled: bool = True
    clock: Clock = time.monotonic
    events: list[QuotaEvent] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    admitted: list[QuotaEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._shards: dict[str, list[tuple[int, int, str]]] = {}
        self._iterators: dict[str, tuple[str, str]] = {}
        self._installed: list[tuple[Any, str, str]] = []
        self._uid = uuid.uuid4().hex

    # -- installation --------------------------------------------------------------------------
    def install(self, client: Any) -> Self:
        """Hook ``client`` (a kinesis or sqs boto3 client); a no-op when emulation is off."""
        if not self.enabled:
            return self
        service = client.meta.service_model.service_id.hyphenize()
        hooks: list[tuple[str, Callable[..., Any]]] = []
        if service == "kinesis" and self.kinesis is not None:
            hooks = [
                ("before-parameter-build.kinesis.PutRecord", self._kinesis_put_record),
                ("before-parameter-build.kinesis.PutRecords", self._kinesis_put_records),
                ("after-call.kinesis.PutRecords", self._kinesis_merge_put_records),
                ("before-parameter-build.kinesis.GetShardIterator", self._kinesis_iterator_params),
                ("after-call.kinesis.GetShardIterator", self._kinesis_iterator_reply),
                ("before-parameter-build.kinesis.GetRecords", self._kinesis_get_records),
                ("after-call.kinesis.GetRecords", self._kinesis_read_bytes),
                ("before-call.kinesis", self._short_circuit),
            ]
        elif service == "sqs" and self.sqs_fifo is not None:
            hooks = [(f"before-parameter-build.sqs.{action}", self._sqs_fifo) for action in SQS_FIFO_ACTIONS]
            hooks.append(("before-call.sqs", self._short_circuit))
        else:
            raise ValueError(f"no emulated quota for a {service!r} client: pass a kinesis or sqs client.")
        for event, handler in hooks:
            uid = f"{self._uid}-{event}"
            client.meta.events.register_first(event, handler, unique_id=uid)
            self._installed.append((client, event, uid))
        log.info("emulated %s quotas installed %s: %s", service, EMULATED, self.kinesis if service == "kinesis" else self.sqs_fifo)
        return self

    def remove(self) -> None:
        """Unhook every client this emulator was installed on."""
        while self._installed:
            client, event, uid = self._installed.pop()
            client.meta.events.unregister(event, unique_id=uid)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # -- accounting ----------------------------------------------------------------------------
    def throttled(self, service: str | None = None, operation: str | None = None) -> int:
        """Refusals so far (calls, plus records refused inside PutRecords)."""
        return sum(
            e.records for e in self.events
            if (service is None or e.service == service) and (operation is None or e.operation == operation)
        )

    def per_resource(self, service: str, *, refused: bool = True) -> Counter[str]:
        """Refused (or admitted) records per resource: per ``stream/shard`` for Kinesis writes."""
        counts: Counter[str] = Counter()
        for e in self.events if refused else self.admitted:
            if e.service == service:
                counts[e.resource] += e.records
        return counts

    def admitted_count(self, service: str | None = None, operation: str | None = None) -> int:
        """Calls (or PutRecords records) the quota let through."""
        return sum(
            e.records for e in self.admitted
            if (service is None or e.service == service) and (operation is None or e.operation == operation)
        )

    def _refuse(self, service: str, operation: str, resource: str, records: int = 1) -> None:
        self.events.append(QuotaEvent(time.time_ns(), service, operation, resource, records, self.clock()))

    def _bucket(self, key: tuple[str, ...], rate: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, clock=self.clock)
        return bucket

    @staticmethod
    def _short_circuit(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        return context.pop(_CTX, None)

    # -- Kinesis -------------------------------------------------------------------------------
    def set_shards(self, stream: str, ranges: list[tuple[int, int, str]]) -> None:
        """Tell the emulator a stream's shards (start, end hash key, shard id); else it asks."""
        with self._lock:
            self._shards[stream] = sorted(ranges)

    def _shard_ranges(self, stream: str, client: Any) -> list[tuple[int, int, str]]:
        with self._lock:
            ranges = self._shards.get(stream)
        if ranges is None:
            ranges = [
                (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]), s["ShardId"])
                for s in kinesis.list_shards(client, stream, open_only=True)
            ]
            self.set_shards(stream, ranges)
        return ranges

    def shard_for(self, stream: str, partition_key: str, explicit_hash_key: str | None = None, client: Any = None) -> str:
        """The shard a record goes to: MD5 of the partition key (or the explicit hash key)."""
        hash_key = int(explicit_hash_key) if explicit_hash_key else kinesis.hash_key(partition_key)
        for start, end, shard_id in self._shard_ranges(stream, client):
            if start <= hash_key <= end:
                return shard_id
        raise LookupError(f"no open shard of stream {stream} covers hash key {hash_key}")

    def _admit_write(self, stream: str, shard: str, size: int, operation: str) -> bool:
        q = self.kinesis
        assert q is not None
        with self._lock:
            records = self._bucket(("kinesis-w-rec", stream, shard), q.records_per_s)
            data = self._bucket(("kinesis-w-bytes", stream, shard), q.bytes_per_s)
            if records.can_take(1) and data.can_take(size):
                records.take(1)
                data.take(size)
                self.admitted.append(QuotaEvent(time.time_ns(), "kinesis", operation, f"{stream}/{shard}", 1, self.clock()))
                return True
            return False

    def _write_message(self, stream: str, shard: str) -> str:
        q = self.kinesis
        assert q is not None
        return (
            f"Rate exceeded for shard {shard} in stream {stream} {EMULATED}: quota "
            f"{q.records_per_s:g} records/s or {q.bytes_per_s / MIB:g} MiB/s per shard."
        )

    def _kinesis_put_record(self, params: dict[str, Any], context: dict[str, Any], **kw: Any) -> None:
        stream = _stream_name(params)
        client = self._client_for(context)
        shard = self.shard_for(stream, params["PartitionKey"], params.get("ExplicitHashKey"), client)
        size = len(params["Data"]) + len(params["PartitionKey"].encode())
        if self._admit_write(stream, shard, size, "PutRecord"):
            with self._lock:
                self.accepted["kinesis.PutRecord"] += 1
            return
        self._refuse("kinesis", "PutRecord", f"{stream}/{shard}")
        context[_CTX] = _error_response(KINESIS_THROTTLE, self._write_message(stream, shard))

    def _kinesis_put_records(self, params: dict[str, Any], context: dict[str, Any], **kw: Any) -> None:
        stream = _stream_name(params)
        client = self._client_for(context)
        records = params["Records"]
        verdicts: list[tuple[bool, str]] = []
        for record in records:
            shard = self.shard_for(stream, record["PartitionKey"], record.get("ExplicitHashKey"), client)
            size = len(record["Data"]) + len(record["PartitionKey"].encode())
            verdicts.append((self._admit_write(stream, shard, size, "PutRecords"), shard))
        refused = [i for i, (ok, _) in enumerate(verdicts) if not ok]
        with self._lock:
            self.accepted["kinesis.PutRecords"] += len(records) - len(refused)
        if not refused:
            return
        per_shard = Counter(verdicts[i][1] for i in refused)
        for shard, count in per_shard.items():  # one event per shard, so refusals count per shard
            self._refuse("kinesis", "PutRecords", f"{stream}/{shard}", count)
        failures = {i: self._write_message(stream, verdicts[i][1]) for i in refused}
        if len(refused) == len(records):
            # AWS answers 200 with every record failed, not an exception.
            http = AWSResponse("eventlab://emulated-quota", 200, {}, None)
            parsed = {
                "FailedRecordCount": len(records),
                "Records": [{"ErrorCode": KINESIS_THROTTLE, "ErrorMessage": failures[i]} for i in range(len(records))],
                "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": f"emulated-{uuid.uuid4()}", "RetryAttempts": 0},
            }
            context[_CTX] = (http, parsed)
            return
        params["Records"] = [r for i, r in enumerate(records) if i not in failures]
        context[f"{_CTX}-merge"] = (len(records), failures)

    def _kinesis_merge_put_records(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        merge = context.pop(f"{_CTX}-merge", None)
        if merge is None or "Records" not in parsed:
            return
        total, failures = merge
        sent = iter(parsed["Records"])
        parsed["Records"] = [
            {"ErrorCode": KINESIS_THROTTLE, "ErrorMessage": failures[i]} if i in failures else next(sent)
            for i in range(total)
        ]
        parsed["FailedRecordCount"] = int(parsed.get("FailedRecordCount", 0)) + len(failures)

    def _kinesis_iterator_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[f"{_CTX}-shard"] = (_stream_name(params), str(params["ShardId"]))

    def _kinesis_iterator_reply(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        where = context.pop(f"{_CTX}-shard", None)
        if where and parsed.get("ShardIterator"):
            with self._lock:
                self._iterators[parsed["ShardIterator"]] = where

    def _kinesis_get_records(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        q = self.kinesis
        assert q is not None
        with self._lock:
            where = self._iterators.pop(params["ShardIterator"], None)
        if where is None:
            return  # an iterator made before the quota was installed: not limited
        stream, shard = where
        context[f"{_CTX}-shard"] = where
        with self._lock:
            calls = self._bucket(("kinesis-r-calls", stream, shard), q.reads_per_s)
            data = self._bucket(("kinesis-r-bytes", stream, shard), q.read_bytes_per_s)
            ok = data.available() > 0 and calls.take(1)
            if ok:
                self.accepted["kinesis.GetRecords"] += 1
            else:
                self._iterators[params["ShardIterator"]] = where  # still valid for the retry
        if not ok:
            self._refuse("kinesis", "GetRecords", f"{stream}/{shard}")
            context.pop(f"{_CTX}-shard", None)
            context[_CTX] = _error_response(
                KINESIS_THROTTLE,
                f"Rate exceeded for Shard - {shard} in stream {stream} {EMULATED}: quota "
                f"{q.reads_per_s:g} GetRecords calls/s and {q.read_bytes_per_s / MIB:g} MiB/s per shard.",
            )

    def _kinesis_read_bytes(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        q = self.kinesis
        where = context.pop(f"{_CTX}-shard", None)
        if where is None or q is None:
            return
        size = sum(len(r.get("Data", b"")) + len(r.get("PartitionKey", "")) for r in parsed.get("Records", []))
        with self._lock:
            self._bucket(("kinesis-r-bytes", *where), q.read_bytes_per_s).debit(size)
            if parsed.get("NextShardIterator"):
                self._iterators[parsed["NextShardIterator"]] = where

    # -- SQS FIFO ------------------------------------------------------------------------------
    def _sqs_fifo(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        q = self.sqs_fifo
        assert q is not None
        url = str(params.get("QueueUrl", ""))
        if not url.endswith(".fifo"):
            return
        action = model.name
        with self._lock:
            ok = self._bucket(("sqs-fifo", url, action), q.calls_per_s).take(1)
            if ok:
                self.accepted[f"sqs.{action}"] += 1
                self.admitted.append(QuotaEvent(time.time_ns(), "sqs", action, url.rsplit("/", 1)[-1], 1, self.clock()))
        if ok:
            return
        queue = url.rsplit("/", 1)[-1]
        self._refuse("sqs", action, queue)
        context[_CTX] = _error_response(
            SQS_THROTTLE,
            f"Request is throttled {EMULATED}: {action} on FIFO queue {queue} exceeds "
            f"{q.calls_per_s:g} calls/s per action (no high-throughput mode).",
        )

    # The kinesis handlers need the client to list shards; botocore does not pass it to
    # parameter-build handlers, so install() remembers it per client context.
    def _client_for(self, context: dict[str, Any]) -> Any:
        for client, _, _ in self._installed:
            if client.meta.service_model.service_name == "kinesis":
                return client
        raise RuntimeError("emulated Kinesis quota is not installed on any kinesis client.")


def emulate_quotas(
    target: Target,
    *clients: Any,
    kinesis: KinesisQuota | None = None,
    sqs_fifo: SqsFifoQuota | None = None,
    force: bool = False,
    clock: Clock = time.monotonic,
) -> QuotaEmulator:
    """A :class:`QuotaEmulator` installed on ``clients``: on for LocalStack, off for AWS.

    ``kinesis`` / ``sqs_fifo`` default to AWS's quotas; pass ``KinesisQuota().scaled(0.1)``
    for a demo. ``force=True`` also emulates on AWS (never needed to see real throttling).
    """
    enabled = target.is_emulated or force
    emulator = QuotaEmulator(
        kinesis=kinesis or KinesisQuota(),
        sqs_fifo=sqs_fifo or SqsFifoQuota(),
        enabled=enabled,
        clock=clock,
    )
    if not enabled:
        log.info("target %s enforces its own quotas: no emulated throttling", target)
    for client in clients:
        emulator.install(client)
    return emulator
