"""SQS experiments for notebook 01: latency, ordering under concurrent consumers,
DLQ and redrive, batching.

Each function builds its own queues under the run, measures one behaviour and returns a small
result (a :class:`~eventlab.measure.results.RunResult`, a DataFrame or a dataclass) whose
counts the notebook asserts. Nothing here asserts on wall-clock time.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from eventlab.measure import analysis
from eventlab.measure.consumers import SqsMessage, SqsReceiver
from eventlab.measure.load import LoadResult, LoadSpec, run_load
from eventlab.measure.probes import ProbeFactory, ReceiptLog
from eventlab.measure.results import RunResult
from eventlab.measure.senders import SqsSender, send_all
from eventlab.run import Run
from eventlab.services import sqs

log = logging.getLogger(__name__)


# -- latency -----------------------------------------------------------------------------------
def latency_standard_vs_fifo(
    run: Run,
    *,
    messages: int = 200,
    rate: float = 100.0,
    keys: int = 4,
    warmup: int = 20,
    timeout: float = 60.0,
) -> RunResult:
    """Open-loop probes through a standard and a FIFO queue, one after the other.

    Each path gets ``messages`` probes at ``rate`` per second over ``keys`` keys (FIFO message
    groups), read by one long-polling consumer; the first ``warmup`` are discarded. Receipt
    paths are ``standard`` and ``fifo``.
    """
    spec = LoadSpec(rate=rate, count=messages, keys=keys, warmup_count=warmup)
    spec.check()  # a bad bound (warmup >= messages) is refused before anything is built
    client = run.target.client("sqs")
    receipts = ReceiptLog(run.run_id)
    loads: list[LoadResult] = []
    for path, fifo in (("standard", False), ("fifo", True)):
        queue = sqs.create_queue(run, f"lat-{path}", fifo=fifo)
        with SqsReceiver(client, queue.url, receipts, path=path):
            loads.append(run_load(SqsSender(client, queue.url, path=path), run.run_id, spec))
            if not receipts.wait_for(messages, timeout, path=path):
                log.warning("%s: only %d of %d probes arrived", path, receipts.unique_count(path), messages)
    return RunResult.build("sqs-standard-vs-fifo", run.target, loads, receipts, receipt_paths=["standard", "fifo"])


# -- ordering: the order in which concurrent consumers finish their work -----------------------
@dataclass
class OrderingReport:
    """Per key: messages, inversions and largest reorder distance, in receipt order and in
    the order consumers finished processing."""

    queue: str
    consumers: int
    received: pd.DataFrame
    processed: pd.DataFrame
    duplicates: int
    processed_receipts: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def processed_inversions(self) -> int:
        return int(self.processed["inversions"].sum())

    @property
    def received_inversions(self) -> int:
        return int(self.received["inversions"].sum())

    def summary(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "consumers": self.consumers,
            "messages": int(self.processed["messages"].sum()),
            "inversions_received": self.received_inversions,
            "inversions_processed": self.processed_inversions,
            "max_reorder_distance_processed": int(self.processed["max_reorder_distance"].max()),
            "duplicates": self.duplicates,
        }


def _send_backlog(run: Run, queue: sqs.Queue, factory: ProbeFactory, messages: int) -> list[str]:
    """Send ``messages`` probes in batches of 10 (in key rotation); returns their ids in order."""
    probes = [factory.make(time.time_ns()) for _ in range(messages)]
    send_all(SqsSender(run.target.client("sqs"), queue.url, batch=True, path=queue.name), probes)
    return [p.msg_id for p in probes]


def processing_order(
    run: Run,
    *,
    fifo: bool,
    messages: int = 120,
    keys: int = 4,
    consumers: int = 4,
    work_ms: float = 4.0,
    seed: int = 7,
    timeout: float = 60.0,
) -> OrderingReport:
    """A backlog of ``messages`` probes, worked off by ``consumers`` threads at once.

    Each consumer processes its batch message by message, taking a random 0 to 2 * ``work_ms`` ms
    per message (seeded), and notes when each message is done. On a standard queue several
    consumers hold messages of the same key at once, so they finish out of order; a FIFO queue
    hands a message group to one consumer at a time, so each group is processed in order.
    """
    kind = "fifo" if fifo else "standard"
    queue = sqs.create_queue(run, f"order-{kind}", fifo=fifo)
    factory = ProbeFactory(run.run_id, keys=[f"k{i}" for i in range(keys)])
    _send_backlog(run, queue, factory, messages)

    received = ReceiptLog(run.run_id)
    processed = ReceiptLog(run.run_id)
    rng = random.Random(seed)
    rng_lock = threading.Lock()

    def work(batch: list[SqsMessage]) -> None:
        for message in batch:
            with rng_lock:
                pause = rng.uniform(0, 2 * work_ms) / 1000
            time.sleep(pause)
            if message.probe is not None:
                processed.record(message.probe, path=kind, consumer=threading.current_thread().name)

    client = run.target.client("sqs")
    with SqsReceiver(client, queue.url, received, path=kind, threads=consumers, handler=work):
        if not processed.wait_for(messages, timeout):
            log.warning("%s: processed %d of %d", kind, processed.unique_count(), messages)
    frame = received.to_frame()
    return OrderingReport(
        queue=kind,
        consumers=consumers,
        received=analysis.ordering(frame),
        processed=analysis.ordering(processed.to_frame()),
        duplicates=len(frame) - frame["msg_id"].nunique(),
        processed_receipts=processed.to_frame(),
    )


# -- DLQ and redrive ---------------------------------------------------------------------------
def dlq_view(messages: list[dict[str, Any]]) -> pd.DataFrame:
    """Messages of a DLQ (from :func:`eventlab.services.sqs.peek`) as a table: body, receive
    count, first send time and the queue each came from."""
    rows = []
    for m in messages:
        attrs = m.get("Attributes", {})
        rows.append({
            "message_id": m["MessageId"],
            "body": m["Body"],
            "receive_count": int(attrs.get("ApproximateReceiveCount", 0)),
            "sent": pd.to_datetime(int(attrs.get("SentTimestamp", 0)), unit="ms", utc=True),
            "source_queue": attrs.get("DeadLetterQueueSourceArn", "").rsplit(":", 1)[-1],
        })
    return pd.DataFrame(rows, columns=["message_id", "body", "receive_count", "sent", "source_queue"])


def strict_amount(order: Mapping[str, Any]) -> float:
    """The consumer before the fix: reads the amount as a float ("12,50" raises ValueError)."""
    return float(order["amount"])


def tolerant_amount(order: Mapping[str, Any]) -> float:
    """The consumer after the fix: also accepts a decimal comma."""
    return float(str(order["amount"]).replace(",", "."))


@dataclass
class DlqReport:
    """A poison message's path: receives on the source queue, the DLQ, the redrive, the fix."""

    max_receive_count: int
    receive_counts: list[int]
    in_dlq: int
    dlq_view: pd.DataFrame
    redrive: sqs.RedriveResult
    processed_after_fix: list[str]
    dlq_left: int

    def summary(self) -> dict[str, Any]:
        return {
            "max_receive_count": self.max_receive_count,
            "receives_before_dlq": len(self.receive_counts),
            "in_dlq": self.in_dlq,
            "redrive_method": self.redrive.method,
            "redrive_status": self.redrive.status,
            "moved": self.redrive.moved,
            "processed_after_fix": len(self.processed_after_fix),
            "dlq_left": self.dlq_left,
        }


def poison_to_dlq_and_back(
    run: Run,
    *,
    good: int = 5,
    max_receive_count: int = 3,
    timeout: float = 40.0,
    process: Callable[[dict[str, Any]], object] | None = None,
    fixed: Callable[[dict[str, Any]], object] | None = None,
) -> DlqReport:
    """``good`` orders and one poison order go through a queue whose DLQ takes a message after
    ``max_receive_count`` receives. The consumer (``process``, by default one that cannot read a
    decimal comma) fails on the poison order until SQS moves it to the DLQ; then the consumer is
    fixed (``fixed``), the DLQ is redriven, and the order is processed."""
    client = run.target.client("sqs")
    dlq = sqs.create_queue(run, "orders-dlq")
    queue = sqs.create_queue(
        run, "orders", attributes={"VisibilityTimeout": 1}, dead_letter_queue=dlq, max_receive_count=max_receive_count
    )
    orders = [{"order": f"o-{i}", "amount": f"{10 + i}.50"} for i in range(good)] + [{"order": "o-poison", "amount": "12,50"}]
    for order in orders:
        client.send_message(QueueUrl=queue.url, MessageBody=json.dumps(order))

    process = process or strict_amount
    fixed = fixed or tolerant_amount
    done: list[str] = []
    poison_receives: list[int] = []

    def consume(handler: Callable[[dict[str, Any]], object], until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            reply = client.receive_message(
                QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            for m in reply.get("Messages", []):
                order = json.loads(m["Body"])
                try:
                    handler(order)
                except ValueError as error:
                    poison_receives.append(int(m["Attributes"]["ApproximateReceiveCount"]))
                    log.info("order %s failed (receive %s): %s", order["order"], poison_receives[-1], error)
                    continue  # not deleted: it comes back after the visibility timeout
                done.append(order["order"])
                client.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])

    consume(process, lambda: sqs.approximate_count(run, dlq) >= 1)
    in_dlq = sqs.wait_for_count(run, dlq, 1, timeout=5)
    view = dlq_view(sqs.peek(run, dlq))
    before_fix = set(done)
    result = sqs.redrive(run, dlq, queue, timeout=timeout)
    consume(fixed, lambda: "o-poison" in done)
    return DlqReport(
        max_receive_count=max_receive_count,
        receive_counts=poison_receives,
        in_dlq=in_dlq,
        dlq_view=view,
        redrive=result,
        processed_after_fix=[o for o in done if o not in before_fix],
        dlq_left=sqs.approximate_count(run, dlq),
    )


# -- batching ----------------------------------------------------------------------------------
def batching_calls(run: Run, *, messages: int = 100, timeout: float = 30.0) -> pd.DataFrame:
    """The same messages sent and received one at a time and ten at a time: API calls per
    message on each side (SendMessage vs SendMessageBatch, ReceiveMessage of 1 vs 10)."""
    client = run.target.client("sqs")
    rows = []
    for batch in (False, True):
        label = "batches of 10" if batch else "one at a time"
        queue = sqs.create_queue(run, f"batch-{'10' if batch else '1'}")
        load = run_load(
            SqsSender(client, queue.url, batch=batch, path=label), run.run_id,
            LoadSpec(mode="closed", count=messages, batch=10 if batch else 1),
        )
        receipts = ReceiptLog(run.run_id)
        with SqsReceiver(client, queue.url, receipts, path=label, max_messages=10 if batch else 1, wait_s=1) as rx:
            receipts.wait_for(messages, timeout)
        rows.append({
            "mode": label,
            "messages": receipts.unique_count(),
            "send_calls": int(load.calls.get("calls", 0)),
            "receive_batches": rx.batches,
            "send_calls_per_message": load.calls.get("calls", 0) / messages,
            "receives_per_message": rx.batches / max(1, receipts.unique_count()),
        })
    return pd.DataFrame(rows).set_index("mode")
