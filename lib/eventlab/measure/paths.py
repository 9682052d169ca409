"""Every message path as a ready rig: resources, consumers and a sender, and one measure() for all.

A rig builds the path under a run (so it is cleaned up with it), starts the consumers that
record receipts, and yields the sender the load generator drives. :func:`measure` runs one
load through one path, optionally from several producer processes, and returns a
:class:`~eventlab.measure.results.RunResult`.

    with Run(target) as run:
        result = measure(run, "sqs-fifo", LoadSpec(rate=100, duration_s=5, keys=4))
        result.summary
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

from eventlab.measure.consumers import KinesisEfoReader, KinesisPoller, SqsReceiver
from eventlab.measure.load import (
    EventBridgeSender,
    KinesisSender,
    LoadGenerator,
    LoadResult,
    LoadSpec,
    Sender,
    SnsSender,
    SqsSender,
)
from eventlab.measure.probes import ProbeFactory, ReceiptLog
from eventlab.measure.results import RunResult
from eventlab.run import Run
from eventlab.services import events, kinesis, sns, sqs
from eventlab.target import Target

log = logging.getLogger(__name__)

PATHS = ("sqs", "sqs-fifo", "sns-sqs", "eventbridge-sqs", "kinesis", "kinesis-efo")


def _check(path: str) -> None:
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}: choose one of {', '.join(PATHS)}")


@contextlib.contextmanager
def rig(run: Run, path: str, receipts: ReceiptLog, *, batch: bool = True, shards: int = 2, receivers: int = 1) -> Iterator[Sender]:
    """Build ``path`` under ``run``, start its consumers, and yield the sender to drive it."""
    _check(path)
    target = run.target
    if path in ("sqs", "sqs-fifo"):
        queue = sqs.create_queue(run, f"bench-{path}", fifo=path == "sqs-fifo")
        with SqsReceiver(target.client("sqs"), queue.url, receipts, path=path, threads=receivers):
            yield SqsSender(target.client("sqs"), queue.url, batch=batch)
    elif path == "sns-sqs":
        topic = sns.create_topic(run, "bench-topic")
        queue = sqs.create_queue(run, "bench-sns-sqs")
        sns.subscribe_queue(run, topic, queue, raw_message_delivery=True)
        with SqsReceiver(target.client("sqs"), queue.url, receipts, path=path, threads=receivers):
            yield SnsSender(target.client("sns"), topic.arn, batch=batch)
    elif path == "eventbridge-sqs":
        bus = events.create_event_bus(run, "bench-bus")
        queue = sqs.create_queue(run, "bench-eventbridge-sqs")
        rule = events.put_rule(run, bus, "bench-all", event_pattern={"source": ["eventlab.probe"]})
        sqs.allow_senders(run, queue, service="events.amazonaws.com", source_arns=[rule.arn])
        events.put_targets(run, rule, [{"Id": "queue", "Arn": queue.arn}])
        with SqsReceiver(target.client("sqs"), queue.url, receipts, path=path, threads=receivers):
            yield EventBridgeSender(target.client("events"), bus.name, batch=batch)
    else:
        stream = kinesis.create_stream(run, "bench-stream", shard_count=shards)
        client = target.client("kinesis")
        reader: Any = (
            KinesisEfoReader(run, stream.arn, stream.name, receipts, path=path)
            if path == "kinesis-efo"
            else KinesisPoller(client, stream.name, receipts, interval_s=0.2, path=path)
        )
        with reader:
            yield KinesisSender(client, stream.name, batch_size=500 if batch else 1)


def _producer(target_doc: dict[str, Any], run_id: str, path_args: dict[str, Any], spec: LoadSpec, producer: int) -> LoadResult:
    """One producer process: its own clients, its own keys (``p<n>-k<i>``), its share of the load."""
    target = _target_from(target_doc)
    sender = _sender_for(target, **path_args)
    factory = ProbeFactory(run_id, keys=[f"p{producer}-k{i}" for i in range(spec.keys)], size=spec.size)
    return LoadGenerator(sender, factory, spec).run()


def _target_from(doc: dict[str, Any]) -> Target:
    if doc["kind"] == "aws":
        return Target.aws(profile=doc.get("profile"), region=doc["region"], announce=False)
    return Target.localstack(doc["endpoint_url"], region=doc["region"])


def _sender_for(target: Target, *, kind: str, address: str, batch: bool) -> Sender:
    if kind == "sqs":
        return SqsSender(target.client("sqs"), address, batch=batch)
    if kind == "sns":
        return SnsSender(target.client("sns"), address, batch=batch)
    if kind == "events":
        return EventBridgeSender(target.client("events"), address, batch=batch)
    return KinesisSender(target.client("kinesis"), address, batch_size=500 if batch else 1)


def _address(sender: Sender) -> dict[str, Any]:
    """How a producer process rebuilds the same sender with its own clients."""
    for kind, cls, attr in (
        ("sqs", SqsSender, "queue_url"),
        ("sns", SnsSender, "topic_arn"),
        ("events", EventBridgeSender, "bus_name"),
        ("kinesis", KinesisSender, "stream_name"),
    ):
        if isinstance(sender, cls):
            batch = sender.batch_size > 1 if isinstance(sender, KinesisSender) else bool(sender.batch)
            return {"kind": kind, "address": getattr(sender, attr), "batch": batch}
    raise TypeError(f"cannot hand {type(sender).__name__} to another process")


def measure(
    run: Run,
    path: str,
    spec: LoadSpec,
    *,
    producers: int = 1,
    workload: str | None = None,
    settle_timeout: float = 60,
    parameters: dict[str, Any] | None = None,
) -> RunResult:
    """Offer ``spec`` through ``path`` (split over ``producers`` processes) and collect receipts."""
    _check(path)
    if producers < 1:
        raise ValueError("producers must be at least 1")
    receipts = ReceiptLog(run.run_id)
    with rig(run, path, receipts, batch=spec.batch > 1) as sender:
        if producers == 1:
            loads = [LoadGenerator(sender, ProbeFactory(run.run_id, keys=[f"k{i}" for i in range(spec.keys)], size=spec.size), spec).run()]
        else:
            share = replace(spec, rate=spec.rate / producers, count=None if spec.count is None else spec.count // producers, progress=False)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=producers, mp_context=context) as pool:
                futures = [
                    pool.submit(_producer, run.target.describe(), run.run_id, _address(sender), share, n)
                    for n in range(producers)
                ]
                loads = [f.result() for f in futures]
        sent = sum(int(lr.frame()["ok"].sum()) for lr in loads)
        if not receipts.wait_for(sent, timeout=settle_timeout, path=path):
            log.warning("%s: %d of %d probes arrived within %.0f s", path, receipts.unique_count(path), sent, settle_timeout)
        receipts.wait_quiet(1.0, timeout=5)  # let late duplicates land
    return RunResult.build(workload or path, run.target, loads, receipts, parameters={"path": path, "producers": producers, **(parameters or {})})
