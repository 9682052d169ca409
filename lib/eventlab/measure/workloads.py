"""Ready-made measurements, one call per path, for notebooks and benchmark workloads.

Each builds its resources through :mod:`eventlab.services` (deleted with the run), starts
the consumers, offers the load of a :class:`~eventlab.measure.load.LoadSpec`, waits until
every accepted probe has arrived on every path (or ``timeout``), and returns a
:class:`~eventlab.measure.results.RunResult`::

    result = measure_sqs(run, LoadSpec(rate=200, duration_s=10, warmup_s=2))
    result.summary
"""

from __future__ import annotations

import itertools
import logging
from contextlib import ExitStack
from typing import Any

from eventlab.measure.consumers import HttpReceiver, KinesisEfoReader, KinesisPoller, SqsReceiver
from eventlab.measure.load import EventBridgeSender, KinesisSender, LoadResult, LoadSpec, RetryPolicy, SnsSender, SqsSender, run_load
from eventlab.measure.probes import ReceiptLog
from eventlab.measure.quotas import KinesisQuota, QuotaEmulator, SqsFifoQuota, emulate_quotas
from eventlab.measure.results import RunResult
from eventlab.run import Run
from eventlab.services import events, kinesis, sns, sqs

log = logging.getLogger(__name__)
_NUMBER = itertools.count(1)


def _base(stem: str) -> str:
    """A base name unique within this process, so one run can measure a path many times."""
    return f"{stem}{next(_NUMBER)}"


def _await(receipts: ReceiptLog, load: LoadResult, paths: list[str], timeout: float) -> None:
    expected = int(load.frame()["ok"].sum())
    for path in paths:
        if not receipts.wait_for(expected, timeout, path=path):
            log.warning(
                "%s: %d of %d probes arrived within %.0f s; the rest count as lost",
                path, receipts.unique_count(path), expected, timeout,
            )


def measure_sqs(
    run: Run,
    spec: LoadSpec,
    *,
    fifo: bool = False,
    receivers: int = 2,
    sqs_fifo_quota: SqsFifoQuota | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 60,
    workload: str | None = None,
) -> RunResult:
    """Producer -> SQS queue (standard or FIFO) -> ``receivers`` long-polling threads.

    ``spec.batch`` > 1 uses SendMessageBatch. ``sqs_fifo_quota`` applies an emulated FIFO
    quota (LocalStack only) to the producer's and consumers' client while the run lasts.
    """
    queue = sqs.create_queue(run, _base("measure-fifo" if fifo else "measure"), fifo=fifo)
    client = run.target.client("sqs")
    receipts = ReceiptLog(run.run_id)
    path = "sqs-fifo" if fifo else "sqs"
    quotas: QuotaEmulator | None = None
    with ExitStack() as stack:
        if sqs_fifo_quota is not None:
            quotas = stack.enter_context(emulate_quotas(run.target, client, sqs_fifo=sqs_fifo_quota))
        stack.enter_context(SqsReceiver(client, queue.url, receipts, path=path, threads=receivers))
        load = run_load(SqsSender(client, queue.url, batch=spec.batch > 1, path=path), run.run_id, spec, retry=retry)
        _await(receipts, load, [path], timeout)
    return RunResult.build(workload or f"{path}-{spec.mode}", run.target, load, receipts, quotas=quotas,
                           parameters={"fifo": fifo, "receivers": receivers})


def measure_sns(
    run: Run,
    spec: LoadSpec,
    *,
    to_queue: bool = True,
    to_http: bool = True,
    receivers: int = 1,
    timeout: float = 60,
    workload: str | None = None,
) -> RunResult:
    """Producer -> SNS topic -> an SQS queue (raw delivery) and/or a local HTTP subscriber."""
    if not (to_queue or to_http):
        raise ValueError("measure_sns: subscribe at least one of to_queue or to_http.")
    topic = sns.create_topic(run, _base("measure"))
    receipts = ReceiptLog(run.run_id)
    paths: list[str] = []
    with ExitStack() as stack:
        if to_queue:
            queue = sqs.create_queue(run, _base("measure-sns"))
            sns.subscribe_queue(run, topic, queue, raw_message_delivery=True)
            stack.enter_context(SqsReceiver(run.target.client("sqs"), queue.url, receipts, path="sns-sqs", threads=receivers))
            paths.append("sns-sqs")
        if to_http:
            http = stack.enter_context(HttpReceiver(receipts, path="sns-http"))
            sns.subscribe(run, topic, "http", http.url)
            http.wait_confirmed(topic.arn)
            paths.append("sns-http")
        load = run_load(SnsSender(run.target.client("sns"), topic.arn, batch=spec.batch > 1), run.run_id, spec)
        _await(receipts, load, paths, timeout)
    return RunResult.build(workload or f"sns-{spec.mode}", run.target, load, receipts,
                           parameters={"to_queue": to_queue, "to_http": to_http})


def measure_eventbridge(run: Run, spec: LoadSpec, *, timeout: float = 60, workload: str | None = None) -> RunResult:
    """Producer -> custom bus -> rule -> SQS queue -> a receiver (probes as event ``detail``)."""
    bus = events.create_event_bus(run, _base("measure"))
    queue = sqs.create_queue(run, _base("measure-events"))
    rule = events.put_rule(run, bus, _base("measure-probes"), event_pattern={"source": ["eventlab.probe"]})
    sqs.allow_senders(run, queue, service="events.amazonaws.com", source_arns=[rule.arn])
    events.put_targets(run, rule, [{"Id": "probes", "Arn": queue.arn}])
    receipts = ReceiptLog(run.run_id)
    with SqsReceiver(run.target.client("sqs"), queue.url, receipts, path="events-sqs"):
        load = run_load(EventBridgeSender(run.target.client("events"), bus.name, batch=spec.batch > 1), run.run_id, spec)
        _await(receipts, load, ["events-sqs"], timeout)
    return RunResult.build(workload or f"events-{spec.mode}", run.target, load, receipts)


def measure_kinesis(
    run: Run,
    spec: LoadSpec,
    *,
    shards: int = 1,
    polling: bool = True,
    efo: bool = True,
    poll_interval_s: float = 0.2,
    quota: KinesisQuota | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 60,
    workload: str | None = None,
) -> RunResult:
    """Producer -> stream -> shared-throughput pollers and/or an enhanced fan-out consumer.

    ``spec.batch`` > 1 uses PutRecords. ``quota`` applies emulated per-shard limits
    (LocalStack only) to writes and to the pollers' reads, e.g. ``KinesisQuota().scaled(0.1)``.
    """
    if not (polling or efo):
        raise ValueError("measure_kinesis: choose polling, efo or both.")
    stream = kinesis.create_stream(run, _base("measure"), shard_count=shards)
    client = run.target.client("kinesis")
    receipts = ReceiptLog(run.run_id)
    paths: list[str] = []
    quotas: QuotaEmulator | None = None
    with ExitStack() as stack:
        if quota is not None:
            quotas = stack.enter_context(emulate_quotas(run.target, client, kinesis=quota))
        if polling:
            stack.enter_context(KinesisPoller(client, stream.name, receipts, interval_s=poll_interval_s))
            paths.append("kinesis")
        if efo:
            stack.enter_context(KinesisEfoReader(run, stream.arn, stream.name, receipts, base=_base("efo")))
            paths.append("kinesis-efo")
        load = run_load(KinesisSender(client, stream.name, batch_size=spec.batch), run.run_id, spec, retry=retry)
        _await(receipts, load, paths, timeout)
    params: dict[str, Any] = {"shards": shards, "poll_interval_s": poll_interval_s}
    if quota is not None:
        params["emulated_quota"] = quota.__dict__ | {"emulated": run.target.is_emulated}
    return RunResult.build(workload or f"kinesis-{spec.mode}", run.target, load, receipts, quotas=quotas, parameters=params)
