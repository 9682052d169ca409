"""Senders: one API call that carries probes to one destination, and what each probe's call did.

Each sender wraps one producer API (SendMessage(Batch), Publish(Batch), PutEvents,
PutRecord(s)), classifies every probe's outcome (accepted, throttled, worth a retry, failed)
and counts its calls; retrying is the load generator's (:mod:`eventlab.measure.load`). A sender
is rebuilt from its :func:`address` in another process (a producer of its own, with clients
of its own: :mod:`eventlab.measure.producers`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from eventlab.measure.probes import Probe
from eventlab.target import Target

THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "KMSThrottlingException",
        "InternalFailure",  # EventBridge per-entry code for a throttled entry
    }
)
RETRYABLE_CODES = THROTTLE_CODES | {"InternalError", "ServiceUnavailable", "InternalFailureException"}
Outcome = Literal["ok", "throttled", "retry", "failed"]


class CallStats(Counter[str]):
    """Per-sender call counters that sender threads update safely (``+=`` on a dict is not atomic)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self[key] += n


@dataclass
class Result:
    """What one call did to one probe."""

    outcome: Outcome
    error: str = ""


class Sender(Protocol):
    """Sends probes to one destination. ``send`` makes exactly one API call."""

    path: str
    max_batch: int

    def send(self, probes: Sequence[Probe]) -> list[Result]: ...


def _classify(code: str) -> Outcome:
    if code in THROTTLE_CODES:
        return "throttled"
    return "retry" if code in RETRYABLE_CODES else "failed"


def _call(fn: Callable[[], dict[str, Any]], n: int, stats: CallStats) -> dict[str, Any] | list[Result]:
    """Make one call; a raised error becomes the same Result for all ``n`` probes."""
    stats.add("calls")
    try:
        reply = fn()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        outcome = _classify(code)
        stats.add(f"call_{outcome}")
        return [Result(outcome, f"{code}: {error.response.get('Error', {}).get('Message', '')}")] * n
    except (BotoConnectionError, HTTPClientError) as error:
        stats.add("call_retry")
        return [Result("retry", f"{type(error).__name__}: {error}")] * n
    stats.add("sdk_retries", int(reply.get("ResponseMetadata", {}).get("RetryAttempts", 0)))
    return reply


def _entry_results(entries: Sequence[dict[str, Any]]) -> list[Result]:
    """Per-entry outcomes of a call that answers each entry (PutEvents, PutRecords)."""
    return [
        Result(_classify(e["ErrorCode"]), f"{e['ErrorCode']}: {e.get('ErrorMessage', '')}") if e.get("ErrorCode") else Result("ok")
        for e in entries
    ]


@dataclass(frozen=True)
class _MessageApi:
    """How one message service names its calls and their arguments."""

    kind: str  # as :func:`address` and :func:`rebuild` name it
    one: str  # the call for one message
    many: str  # the call for a batch of up to 10
    address: str  # the argument naming the queue or topic
    body: str  # the message body's name, in a call and in a batch entry
    entries: str  # the batch call's list of entries


SQS_API = _MessageApi("sqs", "send_message", "send_message_batch", "QueueUrl", "MessageBody", "Entries")
SNS_API = _MessageApi("sns", "publish", "publish_batch", "TopicArn", "Message", "PublishBatchRequestEntries")


@dataclass
class _MessageSender:
    """What the SQS and SNS senders share: one message or a batch of up to 10, FIFO arguments
    from the probe (group = key, dedup id = probe id), and the per-entry failures of a batch;
    each names its calls in an :class:`_MessageApi`."""

    client: Any
    address: str  # the queue URL or the topic ARN
    batch: bool = False
    path: str = ""
    stats: CallStats = field(default_factory=CallStats)
    api: ClassVar[_MessageApi]

    @property
    def fifo(self) -> bool:
        return self.address.endswith(".fifo")

    @property
    def max_batch(self) -> int:
        return 10 if self.batch else 1

    def _fifo_args(self, probe: Probe) -> dict[str, str]:
        return {"MessageGroupId": probe.key, "MessageDeduplicationId": probe.msg_id} if self.fifo else {}

    def send(self, probes: Sequence[Probe]) -> list[Result]:
        api, to = self.api, {self.api.address: self.address}
        if not self.batch:
            (probe,) = probes
            one = getattr(self.client, api.one)
            reply = _call(lambda: one(**to, **{api.body: probe.to_json()}, **self._fifo_args(probe)), 1, self.stats)
            return reply if isinstance(reply, list) else [Result("ok")]
        entries = [{"Id": str(i), api.body: p.to_json(), **self._fifo_args(p)} for i, p in enumerate(probes)]
        many = getattr(self.client, api.many)
        reply = _call(lambda: many(**to, **{api.entries: entries}), len(probes), self.stats)
        if isinstance(reply, list):
            return reply
        results = [Result("ok") for _ in probes]
        for failed in reply.get("Failed", []):
            code = failed.get("Code", "")
            outcome: Outcome = "failed" if failed.get("SenderFault") else ("throttled" if code in THROTTLE_CODES else "retry")
            results[int(failed["Id"])] = Result(outcome, f"{code}: {failed.get('Message', '')}")
        return results


@dataclass
class SqsSender(_MessageSender):
    """SendMessage / SendMessageBatch to the queue at ``address`` (its URL)."""

    path: str = "sqs"
    api: ClassVar[_MessageApi] = SQS_API


@dataclass
class SnsSender(_MessageSender):
    """Publish / PublishBatch to the topic at ``address`` (its ARN)."""

    path: str = "sns"
    api: ClassVar[_MessageApi] = SNS_API


@dataclass
class EventBridgeSender:
    """PutEvents (up to 10 entries a call); the probe is the event's ``detail``. ``bus`` is the
    bus's name (its ARN for the Custom Event Bus sender below)."""

    client: Any
    bus: str
    source: str = "eventlab.probe"
    detail_type: str = "Probe"
    batch: bool = False
    path: str = "events"
    stats: CallStats = field(default_factory=CallStats)

    @property
    def max_batch(self) -> int:
        return 10 if self.batch else 1

    def entry(self, probe: Probe) -> dict[str, Any]:
        return {"EventBusName": self.bus, "Source": self.source, "DetailType": self.detail_type, "Detail": probe.to_json()}

    def put(self, entries: list[dict[str, Any]]) -> Any:
        return self.client.put_events(Entries=entries)

    def send(self, probes: Sequence[Probe]) -> list[Result]:
        entries = [self.entry(p) for p in probes]
        reply = _call(lambda: self.put(entries), len(probes), self.stats)
        return reply if isinstance(reply, list) else _entry_results(reply["Entries"])


@dataclass
class EventBridgeV2Sender(EventBridgeSender):
    """PutEvents on a Custom Event Bus (eventbridgev2), by the bus's ARN; the probe's key is the
    event group (FIFO order)."""

    path: str = "events2"

    def entry(self, probe: Probe) -> dict[str, Any]:
        return {"Source": self.source, "DetailType": self.detail_type, "Detail": probe.to_json(),
                "SystemMetadata": {"EventGroupId": probe.key}}

    def put(self, entries: list[dict[str, Any]]) -> Any:
        return self.client.put_events(EventBusArn=self.bus, Entries=entries)


@dataclass
class KinesisSender:
    """PutRecord / PutRecords (any batch up to 500); partition key = probe key.

    PutRecords answers per record: a throttled record (``FailedRecordCount``, ``ErrorCode``) is
    retried alone, as AWS's guidance says.
    """

    client: Any
    stream_name: str
    batch_size: int = 1
    path: str = "kinesis"
    stats: CallStats = field(default_factory=CallStats)

    @property
    def max_batch(self) -> int:
        return max(1, min(500, self.batch_size))

    def send(self, probes: Sequence[Probe]) -> list[Result]:
        if self.batch_size <= 1:
            (probe,) = probes
            reply = _call(lambda: self.client.put_record(StreamName=self.stream_name, Data=probe.to_bytes(), PartitionKey=probe.key), 1, self.stats)
            return reply if isinstance(reply, list) else [Result("ok")]
        records = [{"Data": p.to_bytes(), "PartitionKey": p.key} for p in probes]
        reply = _call(lambda: self.client.put_records(StreamName=self.stream_name, Records=records), len(probes), self.stats)
        if isinstance(reply, list):
            return reply
        if reply.get("FailedRecordCount"):
            self.stats.add("call_partial")
        return _entry_results(reply["Records"])


def send_all(sender: Sender, probes: Sequence[Probe]) -> None:
    """Send every probe once, in batches as large as the sender takes; raise if any is not
    accepted. For setting up a backlog, not for measuring (no schedule, no retries)."""
    for start in range(0, len(probes), sender.max_batch):
        refused = [r for r in sender.send(probes[start : start + sender.max_batch]) if r.outcome != "ok"]
        if refused:
            raise RuntimeError(f"{sender.path}: {len(refused)} probe(s) not accepted: {refused[0].error}")


# -- the same sender in another process ----------------------------------------------------------
def address(sender: Sender) -> dict[str, Any]:
    """What another process needs to build the same sender with clients of its own (plain data)."""
    if isinstance(sender, _MessageSender):
        return {"kind": sender.api.kind, "address": sender.address, "batch": sender.batch, "path": sender.path}
    if isinstance(sender, EventBridgeSender):  # the Custom Event Bus sender is one too
        kind = "events2" if isinstance(sender, EventBridgeV2Sender) else "events"
        return {"kind": kind, "address": sender.bus, "batch": sender.batch, "path": sender.path}
    if isinstance(sender, KinesisSender):
        return {"kind": "kinesis", "address": sender.stream_name, "batch": sender.batch_size > 1, "path": sender.path}
    raise TypeError(f"cannot hand {type(sender).__name__} to another process")


def rebuild(target: Target, *, kind: str, address: str, batch: bool, path: str) -> Sender:
    """The sender an :func:`address` describes, on ``target``'s clients."""
    if kind == "sqs":
        return SqsSender(target.client("sqs"), address, batch=batch, path=path)
    if kind == "sns":
        return SnsSender(target.client("sns"), address, batch=batch, path=path)
    if kind == "events":
        return EventBridgeSender(target.client("events"), address, batch=batch, path=path)
    if kind == "events2":
        return EventBridgeV2Sender(target.client("eventbridgev2"), address, batch=batch, path=path)
    return KinesisSender(target.client("kinesis"), address, batch_size=500 if batch else 1, path=path)
