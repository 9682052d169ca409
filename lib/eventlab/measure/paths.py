"""Every message path as a ready rig, and one :func:`measure` for all of them.

A *path* is a producer API, the services in between and a consumer:

====================  ===================================================================
``sqs``               SendMessage -> standard queue -> long-polling receiver
``sqs-fifo``          SendMessage (group = key) -> FIFO queue -> long-polling receiver
``sns-sqs``           Publish -> topic -> queue (raw delivery) -> long-polling receiver
``sns-http``          the same topic, delivered to a local HTTP subscriber (it confirms itself)
``events-sqs``        PutEvents -> custom bus -> rule -> queue -> long-polling receiver
``events-sqs-fifo``   the same, into a FIFO queue: a classic SQS target takes one fixed message
                      group, so the queue keeps the order the bus delivered in (the bus promises none)
``events2-sqs-fifo``  PutEvents (event group = key) -> Custom Event Bus (eventbridgev2) -> FIFO
                      subscriber -> FIFO queue (group = event group) -> long-polling receiver
``kinesis``           PutRecord(s) (partition key = key) -> stream -> GetRecords every 200 ms
``kinesis-efo``       the same stream, read by enhanced fan-out (SubscribeToShard)
``sqs-lambda``        SendMessage -> standard queue -> event source mapping -> Lambda
====================  ===================================================================

:func:`build_path` creates a path's resources under a run (so they are cleaned up with it)
and returns its sender and consumers; the two SNS subscribers can share one topic and one
load, and so can the two Kinesis readers. :func:`measure` offers a :class:`~eventlab.measure.load.LoadSpec` through one path,
optionally from the workers of a Dask cluster (``producers`` > 1: a local one; or ``cluster``,
a scheduler's address), and returns a
:class:`~eventlab.measure.results.RunResult`::

    with Run(target) as run:
        measure(run, "sqs-fifo", LoadSpec(rate=100, duration_s=5, keys=4)).summary

The ``events2-sqs-fifo`` path needs a botocore that knows ``eventbridgev2`` (1.44 or later;
:func:`build_path` returns None otherwise, with a log line); on the emulator its bus is eventlab's
own server beside it. The ``sqs-lambda`` path needs the function to reach a receipt sink on 127.0.0.1: it runs on
the embedded LocalStack only (:func:`build_path` returns None on AWS, with a log line).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventlab.handlers import handler_dir
from eventlab.measure import distributed
from eventlab.measure.consumers import (
    HttpReceiver,
    KinesisEfoReader,
    KinesisPoller,
    LambdaSink,
    SqsReceiver,
)
from eventlab.measure.load import LoadSpec, RetryPolicy
from eventlab.measure.probes import ReceiptLog
from eventlab.measure.producers import offer
from eventlab.measure.quotas import KinesisQuota, QuotaEmulator, SqsFifoQuota, emulate_quotas
from eventlab.measure.results import RunResult
from eventlab.measure.senders import (
    EventBridgeSender,
    EventBridgeV2Sender,
    KinesisSender,
    Sender,
    SnsSender,
    SqsSender,
)
from eventlab.run import Run
from eventlab.runtime.companions import EVENTBRIDGEV2
from eventlab.services import eventbridgev2, events, kinesis, lambda_, sns, sqs

log = logging.getLogger(__name__)

PATHS: tuple[str, ...] = (
    "sqs", "sqs-fifo", "sns-sqs", "sns-http", "events-sqs", "events-sqs-fifo", "events2-sqs-fifo", "kinesis", "kinesis-efo",
    "sqs-lambda",
)
"""Every path, in the order tables show them."""

ORDERED_PATHS: frozenset[str] = frozenset({"sqs-fifo", "events2-sqs-fifo", "kinesis", "kinesis-efo"})
"""Paths that promise order per key (FIFO message group, event group, Kinesis partition key)."""

SERVICE = {
    "sqs": "SQS standard",
    "sqs-fifo": "SQS FIFO",
    "sns-sqs": "SNS -> SQS",
    "sns-http": "SNS -> HTTP",
    "events-sqs": "EventBridge -> SQS",
    "events-sqs-fifo": "EventBridge (classic rule) -> SQS FIFO",
    "events2-sqs-fifo": "Custom Event Bus (FIFO) -> SQS FIFO",
    "kinesis": "Kinesis, polling",
    "kinesis-efo": "Kinesis, enhanced fan-out",
    "sqs-lambda": "SQS -> Lambda",
}

SINK_HANDLER = "receipt_sink"  # the bundled handler (eventlab.handlers) that reports to the sink


SHARED = (("sns-sqs", "sns-http"), ("kinesis", "kinesis-efo"))
"""Paths that share one resource and one load when measured together."""
_NUMBER = itertools.count(1)


def _base(stem: str) -> str:
    """A base name unique within this process, so one run can measure a path many times."""
    return f"{stem}{next(_NUMBER)}"


@dataclass
class PathSetup:
    """One load's worth of a path: the sender, the consumers that record its receipts, and what
    to do once they run (e.g. subscribe an HTTP endpoint, which must answer at once)."""

    name: str
    sender: Sender
    receipt_paths: list[str]
    consumers: list[Any] = field(default_factory=list)
    on_start: list[Callable[[], None]] = field(default_factory=list)


# -- building each path ------------------------------------------------------------------------
def _sqs_path(run: Run, receipts: ReceiptLog, *, fifo: bool, batch: bool, receivers: int) -> PathSetup:
    name = "sqs-fifo" if fifo else "sqs"
    queue = sqs.create_queue(run, _base(f"path-{name}"), fifo=fifo)
    client = run.target.client("sqs")
    receiver = SqsReceiver(client, queue.url, receipts, path=name, threads=receivers)
    return PathSetup(name, SqsSender(client, queue.url, batch=batch, path=name), [name], [receiver])


def _sns_path(run: Run, receipts: ReceiptLog, *, to_queue: bool, to_http: bool, batch: bool, receivers: int) -> PathSetup:
    topic = sns.create_topic(run, _base("path-topic"))
    name = "sns-sqs" if to_queue else "sns-http"
    sender = SnsSender(run.target.client("sns"), topic.arn, batch=batch, path="sns" if to_queue and to_http else name)
    setup = PathSetup(name, sender, [])
    if to_queue:
        queue = sqs.create_queue(run, _base("path-sns-q"))
        sns.subscribe_queue(run, topic, queue, raw_message_delivery=True)
        setup.consumers.append(SqsReceiver(run.target.client("sqs"), queue.url, receipts, path="sns-sqs", threads=receivers))
        setup.receipt_paths.append("sns-sqs")
    if to_http:
        http = HttpReceiver(receipts, path="sns-http")
        setup.consumers.append(http)
        setup.receipt_paths.append("sns-http")

        def subscribe() -> None:
            sns.subscribe(run, topic, "http", http.url)
            http.wait_confirmed(topic.arn)

        setup.on_start.append(subscribe)
    return setup


def _events_path(run: Run, receipts: ReceiptLog, *, fifo: bool, batch: bool, receivers: int) -> PathSetup:
    name = "events-sqs-fifo" if fifo else "events-sqs"
    bus = events.create_event_bus(run, _base("path-bus"))
    # A classic rule's SQS target takes one fixed MessageGroupId, and a FIFO target needs
    # content-based deduplication (or the target's own id): every probe's body is unique.
    queue = sqs.create_queue(run, _base("path-events-q"), fifo=fifo, content_based_deduplication=fifo)
    rule = events.put_rule(run, bus, _base("path-probes"), event_pattern={"source": ["eventlab.probe"]})
    sqs.allow_senders(run, queue, service=events.PRINCIPAL, source_arns=[rule.arn])
    target: dict[str, Any] = {"Id": "queue", "Arn": queue.arn}
    if fifo:
        target["SqsParameters"] = {"MessageGroupId": "probes"}
    events.put_targets(run, rule, [target])
    receiver = SqsReceiver(run.target.client("sqs"), queue.url, receipts, path=name, threads=receivers)
    sender = EventBridgeSender(run.target.client("events"), bus.name, batch=batch, path=name)
    return PathSetup(name, sender, [name], [receiver])


def _events2_path(run: Run, receipts: ReceiptLog, *, batch: bool, receivers: int) -> PathSetup | None:
    problem = EVENTBRIDGEV2.unavailable()
    if problem:
        log.warning("events2-sqs-fifo skipped: %s", problem)
        return None
    bus = eventbridgev2.create_event_bus(run, _base("path-bus2"))
    queue = sqs.create_queue(run, _base("path-events2-q"), fifo=True, content_based_deduplication=True)
    eventbridgev2.create_subscriber(
        run, bus, _base("path-fifo"), target_arn=queue.arn, type_="FIFO",
        parameters={"SqsParameters": {"MessageGroupId": "{% $events.SystemMetadata.EventGroupId %}"}},
    )
    receiver = SqsReceiver(run.target.client("sqs"), queue.url, receipts, path="events2-sqs-fifo", threads=receivers)
    sender = EventBridgeV2Sender(run.target.client("eventbridgev2"), bus.arn, batch=batch, path="events2-sqs-fifo")
    return PathSetup("events2-sqs-fifo", sender, ["events2-sqs-fifo"], [receiver])


def _kinesis_path(
    run: Run, receipts: ReceiptLog, *, polling: bool, efo: bool, shards: int, batch: bool, poll_interval_s: float
) -> PathSetup:
    stream = kinesis.create_stream(run, _base("path-stream"), shard_count=shards)
    client = run.target.client("kinesis")
    consumers: list[Any] = []
    paths: list[str] = []
    if polling:
        consumers.append(KinesisPoller(client, stream.name, receipts, path="kinesis", interval_s=poll_interval_s))
        paths.append("kinesis")
    if efo:
        consumers.append(KinesisEfoReader(run, stream.arn, stream.name, receipts, base=_base("path-efo"), path="kinesis-efo"))
        paths.append("kinesis-efo")
    sender = KinesisSender(client, stream.name, batch_size=500 if batch else 1, path=paths[0] if len(paths) == 1 else "kinesis")
    return PathSetup(paths[0] if len(paths) == 1 else "kinesis", sender, paths, consumers)


def _lambda_path(run: Run, receipts: ReceiptLog, *, batch_size: int, batch: bool) -> PathSetup:
    queue = sqs.create_queue(run, _base("path-lambda-q"), attributes={"VisibilityTimeout": 30})
    receiver = HttpReceiver(receipts, sink_path="sqs-lambda")
    sink = LambdaSink(receiver)
    function = lambda_.create_function(run, _base("path-sink"), handler_dir(SINK_HANDLER), timeout=10, environment=sink.environment())
    lambda_.create_event_source_mapping(run, function, queue.arn, batch_size=batch_size)
    sender = SqsSender(run.target.client("sqs"), queue.url, batch=batch, path="sqs-lambda")
    return PathSetup("sqs-lambda", sender, ["sqs-lambda"], [receiver])


def path_groups(paths: Sequence[str]) -> list[tuple[str, ...]]:
    """The loads that measuring ``paths`` takes: one per path, except that paths that can share a
    resource (:data:`SHARED`: both SNS subscribers, both Kinesis readers) share one load."""
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        raise ValueError(f"unknown path(s) {unknown}: choose from {', '.join(PATHS)}")
    groups: list[tuple[str, ...]] = []
    for name in PATHS:
        if name not in paths:
            continue
        shared = next((pair for pair in SHARED if name in pair), None)
        if shared:
            together = tuple(p for p in shared if p in paths)
            if together not in groups:
                groups.append(together)
        else:
            groups.append((name,))
    return groups


def build_path(
    run: Run,
    group: Sequence[str],
    receipts: ReceiptLog,
    *,
    shards: int = 2,
    batch: bool = False,
    receivers: int = 1,
    lambda_batch_size: int = 10,
    poll_interval_s: float = 0.2,
) -> PathSetup | None:
    """The resources, sender and consumers of one group from :func:`path_groups`; None when the
    path cannot run on this target (``sqs-lambda`` on AWS, ``events2-sqs-fifo`` without the model). ``batch`` lets the sender use the
    batch APIs (SendMessageBatch, PublishBatch, PutEvents of 10, PutRecords)."""
    (name, *_) = path_groups(group)[0]
    if name in ("sqs", "sqs-fifo"):
        return _sqs_path(run, receipts, fifo=name == "sqs-fifo", batch=batch, receivers=receivers)
    if name in ("sns-sqs", "sns-http"):
        return _sns_path(run, receipts, to_queue="sns-sqs" in group, to_http="sns-http" in group, batch=batch, receivers=receivers)
    if name in ("events-sqs", "events-sqs-fifo"):
        return _events_path(run, receipts, fifo=name == "events-sqs-fifo", batch=batch, receivers=receivers)
    if name == "events2-sqs-fifo":
        return _events2_path(run, receipts, batch=batch, receivers=receivers)
    if name == "sqs-lambda":
        if not run.target.is_emulated:
            log.warning("sqs-lambda skipped: on AWS the function cannot reach the receipt sink on 127.0.0.1")
            return None
        return _lambda_path(run, receipts, batch_size=lambda_batch_size, batch=batch)
    return _kinesis_path(
        run, receipts, polling="kinesis" in group, efo="kinesis-efo" in group, shards=shards, batch=batch,
        poll_interval_s=poll_interval_s,
    )


@contextlib.contextmanager
def consuming(setup: PathSetup) -> Iterator[None]:
    """Run a path's consumers (context managers) for the duration of the block."""
    with contextlib.ExitStack() as stack:
        for consumer in setup.consumers:
            stack.enter_context(consumer)
        for action in setup.on_start:
            action()
        yield


# -- measuring ---------------------------------------------------------------------------------
def measure(
    run: Run,
    path: str | Sequence[str],
    spec: LoadSpec,
    *,
    producers: int = 1,
    cluster: str | None = None,
    shards: int = 2,
    receivers: int = 1,
    lambda_batch_size: int = 10,
    poll_interval_s: float = 0.2,
    kinesis_quota: KinesisQuota | None = None,
    sqs_fifo_quota: SqsFifoQuota | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 60,
    quiet_s: float = 0.5,
    name: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> RunResult | None:
    """Offer ``spec`` through a path (or a group of paths sharing one load, such as both Kinesis
    readers), wait until every message sent arrived on each receipt path (up to ``timeout`` s)
    and ``quiet_s`` more for late duplicates. Missing messages are not an error here: they show
    as ``lost``. None when the path cannot run on this target.

    ``kinesis_quota`` / ``sqs_fifo_quota`` emulate AWS's quotas on the emulator's clients while
    the load runs (no effect on AWS, which enforces its own); ``retry`` is the producers'
    backoff policy for throttled sends.

    ``producers`` > 1 (or ``cluster="local"``) offers the load from a local Dask cluster of that
    many worker processes; ``cluster`` (or ``EVENTLAB_DASK_SCHEDULER``), a scheduler's address,
    from every worker of that cluster instead; the SQS receivers and Kinesis pollers then run on
    the workers too (the HTTP sinks and enhanced fan-out readers stay here) (see :mod:`eventlab.measure.distributed`: the schedule split, the clocks,
    a worker that dies). Producers on workers are not throttled by an emulated quota: they have
    clients of their own."""
    if producers < 1:
        raise ValueError("producers must be at least 1")
    group = (path,) if isinstance(path, str) else tuple(path)
    local = cluster == distributed.LOCAL
    address = None if local else distributed.scheduler_address(cluster)
    quotas: QuotaEmulator | None = None
    with contextlib.ExitStack() as stack:
        pool = None
        if producers > 1 or local or address:  # connected first: a scheduler that does not answer stops us here
            pool = stack.enter_context(distributed.connect(address, workers=producers))
        receipts = ReceiptLog(run.run_id)
        setup = build_path(
            run, group, receipts, shards=shards, batch=spec.batch > 1, receivers=receivers,
            lambda_batch_size=lambda_batch_size, poll_interval_s=poll_interval_s,
        )
        if setup is None:
            return None
        if kinesis_quota or sqs_fifo_quota:
            clients = [run.target.client("kinesis" if kinesis_quota else "sqs")]
            quotas = stack.enter_context(emulate_quotas(run.target, *clients, kinesis=kinesis_quota, sqs_fifo=sqs_fifo_quota))
        if pool is not None:  # the consumers that can move run on the workers too
            setup = dataclasses.replace(setup, consumers=stack.enter_context(pool.consume(run, setup.consumers, receipts)))
        stack.enter_context(consuming(setup))
        offered = offer(run, setup.sender, spec, pool=pool, retry=retry)
        loads = offered.loads
        sent = sum(int(lr.frame()["ok"].sum()) for lr in loads)
        for receipt_path in setup.receipt_paths:
            if not receipts.wait_for(sent, timeout=timeout, path=receipt_path):
                log.warning("%s: %d of %d messages after %.0f s", receipt_path, receipts.unique_count(receipt_path), sent, timeout)
        receipts.wait_quiet(quiet_s, timeout=quiet_s * 4)
    params: dict[str, Any] = {
        "path": setup.name, "producers": len(loads), "cluster": address or (distributed.LOCAL if pool else None),
        **(parameters or {}),
    }
    for setting, quota in (("kinesis_quota", kinesis_quota), ("sqs_fifo_quota", sqs_fifo_quota)):
        if quota is not None:
            params[setting] = quota.__dict__ | {"emulated": run.target.is_emulated}
    result = RunResult.build(
        name or setup.name, run.target, loads, receipts, quotas=quotas, parameters=params, receipt_paths=setup.receipt_paths,
        clock_offsets=offered.clock_offsets, incomplete=offered.incomplete + (pool.incomplete if pool else []),
    )
    result.receipts = offered.correct_receipts(result.receipts)
    return result
