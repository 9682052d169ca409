"""SQS experiments for notebook 01: latency, ordering under concurrent consumers,
DLQ and redrive, batching and batch limits, the queue as a buffer (a consumer outage, a burst),
FIFO deduplication, message sizes.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eventlab.measure import analysis
from eventlab.measure.consumers import SqsMessage, SqsReceiver
from eventlab.measure.load import LoadResult, LoadSpec, run_load
from eventlab.measure.probes import ProbeFactory, ReceiptLog
from eventlab.measure.results import RunResult
from eventlab.measure.senders import SqsSender, send_all
from eventlab.run import Run
from eventlab.services import sqs
from eventlab.waiting import until

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
    sent: int = 0

    @property
    def processed_distinct(self) -> int:
        """Distinct messages the consumers finished."""
        return int(self.processed_receipts["msg_id"].nunique()) if len(self.processed_receipts) else 0

    @property
    def processed_repeats(self) -> int:
        """Times a message was finished again (a redelivery processed twice)."""
        return len(self.processed_receipts) - self.processed_distinct

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
            "sent": self.sent,
            "processed": self.processed_distinct,
            "processed_twice": self.processed_repeats,
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
        sent=messages,
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


# -- batches: what the service accepts and hands over --------------------------------------------
BATCH_MAX_ENTRIES = 10  # SendMessageBatch, DeleteMessageBatch, ReceiveMessage's MaxNumberOfMessages
SEND_MESSAGE_BATCH = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html"
QUERY_ERROR_PREFIX = "AWS.SimpleQueueService."


def error_code(error: ClientError) -> str:
    """The error code without SQS's query-protocol prefix (``AWS.SimpleQueueService.``)."""
    return str(error.response.get("Error", {}).get("Code", "")).removeprefix(QUERY_ERROR_PREFIX)


@dataclass
class BatchLimits:
    """What SQS did with batches: a batch over the limit refused (and its error), a full batch
    accepted, counted by the queue, and handed to a consumer several messages per receive."""

    over_limit_entries: int
    over_limit_error: str  # the error code the oversized batch was refused with ("" if it was accepted)
    entries: int
    accepted: int  # entries of the full batch SendMessageBatch reported Successful
    depth_after_send: int  # the queue's ApproximateNumberOfMessages after it
    received: int  # distinct messages the consumer received
    receive_calls: int
    largest_receive: int  # most messages one ReceiveMessage returned

    def summary(self) -> dict[str, Any]:
        return dict(self.__dict__)


def batch_limits(run: Run, *, entries: int = BATCH_MAX_ENTRIES, timeout: float = 10.0) -> BatchLimits:
    """Send one batch of ``entries + 1`` (SQS must refuse it whole) and one of ``entries``; read
    the queue's own counter, then receive ten at a time and count what each receive returned."""
    client = run.target.client("sqs")
    queue = sqs.create_queue(run, "batch-limits")
    try:
        client.send_message_batch(QueueUrl=queue.url, Entries=[{"Id": str(n), "MessageBody": f"over {n}"} for n in range(entries + 1)])
        refused = ""
    except ClientError as error:
        refused = error_code(error)
    reply = client.send_message_batch(QueueUrl=queue.url, Entries=[{"Id": str(n), "MessageBody": f"m{n}"} for n in range(entries)])
    until(lambda: _visible(run, queue) >= entries, timeout=timeout, interval=0.2)  # the counter is approximate, and late
    depth = _visible(run, queue)
    seen: set[str] = set()
    calls, largest = 0, 0
    deadline = time.monotonic() + timeout
    while len(seen) < entries and time.monotonic() < deadline:
        batch = client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=BATCH_MAX_ENTRIES, WaitTimeSeconds=1).get("Messages", [])
        calls += 1
        largest = max(largest, len(batch))
        seen.update(m["Body"] for m in batch)
        if batch:
            sqs.delete_messages(run, queue, batch)
    return BatchLimits(
        over_limit_entries=entries + 1, over_limit_error=refused, entries=entries,
        accepted=len(reply.get("Successful", [])), depth_after_send=depth, received=len(seen & {f"m{n}" for n in range(entries)}),
        receive_calls=calls, largest_receive=largest,
    )


def _visible(run: Run, queue: sqs.Queue) -> int:
    """The queue's ApproximateNumberOfMessages: messages waiting to be received."""
    attrs = run.target.client("sqs").get_queue_attributes(QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


# -- the queue as a buffer: a consumer outage, a burst --------------------------------------------
class DepthSampler:
    """A thread that reads a queue's depth (ApproximateNumberOfMessages, and those in flight)
    every ``interval`` seconds: the service's own view of what waits in it."""

    def __init__(self, run: Run, queue: sqs.Queue, *, interval: float = 0.2) -> None:
        self.run, self.queue, self.interval = run, queue, interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"depth-{queue.name}", daemon=True)

    def _loop(self) -> None:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        client = self.run.target.client("sqs")
        while not self._stop.is_set():
            attrs = client.get_queue_attributes(QueueUrl=self.queue.url, AttributeNames=names)["Attributes"]
            self.samples.append({"t_ns": time.time_ns(), "visible": int(attrs[names[0]]), "in_flight": int(attrs[names[1]])})
            self._stop.wait(self.interval)

    def __enter__(self) -> DepthSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class BufferReport:
    """A queue between a producer and a consumer that is away (an outage) or slower (a burst):
    what was sent, what the consumer got, and the queue's depth over time.

    ``timeline`` has one row per depth sample (``t_s`` from the start, ``visible``, ``in_flight``);
    ``phases`` names moments (``t_s``), e.g. when the consumer stopped and came back."""

    scenario: str
    sent: int
    delivered: int
    duplicates: int
    lost: int
    timeline: pd.DataFrame
    phases: dict[str, float]
    sends_s: list[float] = field(default_factory=list, repr=False)  # when each message was sent, s from the start
    receipts_s: list[float] = field(default_factory=list, repr=False)  # when the consumer received each one
    intake_limit: float | None = None  # the consumer's steady intake, messages per second

    def depth_between(self, start: str, end: str) -> pd.Series:
        """Depth samples (visible messages) between two phases."""
        t = self.timeline["t_s"]
        return self.timeline.loc[(t >= self.phases[start]) & (t <= self.phases[end]), "visible"]

    def depth_rise(self, start: str, end: str) -> int:
        """How much the depth grew between two phases: its last sample there minus its first."""
        depth = self.depth_between(start, end)
        return int(depth.iloc[-1] - depth.iloc[0]) if len(depth) else 0

    def sent_between(self, start: str, end: str) -> int:
        """Messages the producer sent between two phases."""
        return sum(self.phases[start] < s < self.phases[end] for s in self.sends_s)

    def received_between(self, start: str, end: str) -> int:
        """Messages the consumer received between two phases."""
        return sum(self.phases[start] < r < self.phases[end] for r in self.receipts_s)

    @property
    def peak_depth(self) -> int:
        return int(self.timeline["visible"].max()) if len(self.timeline) else 0

    @property
    def final_depth(self) -> int:
        """Visible plus in-flight messages at the last sample: 0 when the consumer caught up."""
        last = self.timeline.iloc[-1] if len(self.timeline) else None
        return int(last["visible"] + last["in_flight"]) if last is not None else -1

    def rates(self, bin_s: float = 0.5) -> pd.DataFrame:
        """Messages sent and received per second, in bins of ``bin_s``."""
        end = max([*self.sends_s, *self.receipts_s, float(self.timeline["t_s"].max()) if len(self.timeline) else 0.0])
        edges = [i * bin_s for i in range(int(end / bin_s) + 2)]
        sent = pd.cut(pd.Series(self.sends_s, dtype=float), edges, right=False).value_counts(sort=False)
        got = pd.cut(pd.Series(self.receipts_s, dtype=float), edges, right=False).value_counts(sort=False)
        return pd.DataFrame({"t_s": edges[:-1], "sent_per_s": sent.to_numpy() / bin_s, "received_per_s": got.to_numpy() / bin_s})

    def summary(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "sent": self.sent, "delivered": self.delivered, "duplicates": self.duplicates,
                "lost": self.lost, "peak_depth": self.peak_depth, "final_depth": self.final_depth}

    def plot(self, *, bin_s: float = 0.5) -> Figure:
        """Above: messages sent and received per second; below: the queue's depth, as SQS counts
        it; the phases as vertical lines."""
        figure = Figure(figsize=(9, 4.8))
        FigureCanvasAgg(figure)
        top, bottom = figure.subplots(2, 1, sharex=True)
        rates = self.rates(bin_s)
        top.step(rates["t_s"], rates["sent_per_s"], where="post", label="producer: sent per second")
        top.step(rates["t_s"], rates["received_per_s"], where="post", label="consumer: received per second")
        if self.intake_limit:
            top.axhline(self.intake_limit, color="grey", linestyle=":", label="consumer's steady intake")
        top.set_ylabel("messages / s")
        top.legend(loc="upper right", fontsize="small")
        bottom.fill_between(self.timeline["t_s"], self.timeline["visible"], step="post", alpha=0.4, label="ApproximateNumberOfMessages")
        bottom.plot(self.timeline["t_s"], self.timeline["in_flight"], drawstyle="steps-post", label="ApproximateNumberOfMessagesNotVisible")
        bottom.set_ylabel("messages in the queue")
        bottom.set_xlabel("seconds from the start")
        bottom.legend(loc="upper right", fontsize="small")
        for name, t in self.phases.items():
            for axis in (top, bottom):
                axis.axvline(t, color="black", linewidth=0.8, linestyle="--")
            top.annotate(name, (t, top.get_ylim()[1]), fontsize="x-small", rotation=90, va="top", ha="right")
        top.set_title(self.scenario)
        figure.tight_layout()
        return figure


def _buffer_report(scenario: str, t0_ns: int, load: LoadResult, receipts: ReceiptLog, sampler: DepthSampler,
                   phases: dict[str, float], intake_limit: float | None = None) -> BufferReport:
    sends = load.frame()
    frame = receipts.to_frame()
    lost = analysis.loss(sends.query("ok")["msg_id"], frame["msg_id"])
    timeline = pd.DataFrame(sampler.samples, columns=["t_ns", "visible", "in_flight"])
    timeline.insert(0, "t_s", (timeline.pop("t_ns") - t0_ns) / 1e9)
    report = BufferReport(
        scenario=scenario, sent=lost["sent"], delivered=lost["delivered"], duplicates=len(frame) - frame["msg_id"].nunique(),
        lost=lost["lost"], timeline=timeline, phases={k: round(v, 3) for k, v in phases.items()},
        sends_s=((sends["end_ns"] - t0_ns) / 1e9).tolist(), receipts_s=((frame["received_ns"] - t0_ns) / 1e9).tolist(),
        intake_limit=intake_limit,
    )
    log.info("%s: %s", scenario, report.summary())
    return report


def consumer_outage(
    run: Run, *, rate: float = 20.0, before_s: float = 1.0, outage_s: float = 2.0, after_s: float = 1.0, timeout: float = 30.0
) -> BufferReport:
    """A producer sends at ``rate`` per second throughout; the consumer runs for ``before_s``,
    is stopped for ``outage_s`` while the producer goes on, then comes back. The queue keeps what
    arrives meanwhile (its depth rises), and the consumer, back, receives every message."""
    client = run.target.client("sqs")
    queue = sqs.create_queue(run, "outage")
    receipts = ReceiptLog(run.run_id)
    count = max(1, round(rate * (before_s + outage_s + after_s)))
    loads: list[LoadResult] = []
    producer = threading.Thread(
        target=lambda: loads.append(run_load(SqsSender(client, queue.url, path="outage"), run.run_id, LoadSpec(rate=rate, count=count))),
        name="outage-producer", daemon=True,
    )
    t0 = time.time_ns()
    elapsed = lambda: (time.time_ns() - t0) / 1e9  # noqa: E731
    with DepthSampler(run, queue) as sampler:
        consumer = SqsReceiver(client, queue.url, receipts, path="outage").start()
        producer.start()
        time.sleep(before_s)
        consumer.stop()  # returns once its last long poll has ended: from here nobody receives
        stopped = elapsed()
        time.sleep(max(0.0, outage_s - (stopped - before_s)))
        restarted = elapsed()
        with SqsReceiver(client, queue.url, receipts, path="outage"):
            producer.join(timeout)
            if not receipts.wait_for(count, timeout):
                log.warning("outage: %d of %d messages received", receipts.unique_count(), count)
            receipts.wait_quiet(0.5, timeout=5)
        time.sleep(sampler.interval * 2)  # one more depth sample after the last delete
    if not loads:
        raise RuntimeError(f"consumer outage: the producer did not finish sending {count} messages within {timeout} s (see the log)")
    return _buffer_report("a consumer outage", t0, loads[0], receipts, sampler,
                          {"consumer stopped": stopped, "consumer back": restarted})


def burst_buffering(
    run: Run, *, burst: int = 60, intake: float = 20.0, per_receive: int = 5, lead_s: float = 0.6, timeout: float = 30.0
) -> BufferReport:
    """A consumer with a steady intake (``per_receive`` messages per receive, paced to ``intake``
    per second); after ``lead_s`` a producer sends ``burst`` messages at once, in batches of ten.
    The queue absorbs the burst (its depth jumps, then drains) while the consumer keeps its pace."""
    if not 1 <= per_receive <= BATCH_MAX_ENTRIES:
        raise ValueError(f"per_receive={per_receive}: a ReceiveMessage returns 1 to {BATCH_MAX_ENTRIES} messages.")
    client = run.target.client("sqs")
    queue = sqs.create_queue(run, "burst")
    receipts = ReceiptLog(run.run_id)
    t0 = time.time_ns()
    with DepthSampler(run, queue) as sampler:
        with SqsReceiver(client, queue.url, receipts, path="burst", max_messages=per_receive, processing_s=per_receive / intake):
            time.sleep(lead_s)
            start = (time.time_ns() - t0) / 1e9
            load = run_load(SqsSender(client, queue.url, batch=True, path="burst"), run.run_id,
                            LoadSpec(mode="closed", count=burst, batch=BATCH_MAX_ENTRIES))
            sent = (time.time_ns() - t0) / 1e9
            if not receipts.wait_for(burst, timeout + burst / intake):
                log.warning("burst: %d of %d messages received", receipts.unique_count(), burst)
            receipts.wait_quiet(0.5, timeout=5)
        time.sleep(sampler.interval * 2)
    return _buffer_report("a burst, and a consumer at a steady pace", t0, load, receipts, sampler,
                          {"burst starts": start, "burst sent": sent}, intake_limit=intake)


# -- FIFO deduplication --------------------------------------------------------------------------
FIFO_KEY_TERMS = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-key-terms.html"
DEDUPLICATION_INTERVAL_S = 300  # "the 5-minute deduplication interval" (FIFO_KEY_TERMS)


def _fifo_scenario(run: Run, base: str, name: str, case: str, sends: list[dict[str, Any]], expected: int, *,
                   attributes: Mapping[str, str] | None = None, content_based: bool = False,
                   receive_between: bool = False) -> dict[str, Any]:
    """Send ``sends`` (each SendMessage's arguments) to a new FIFO queue and count what arrives;
    with ``receive_between``, the first is received and deleted before the rest are sent."""
    queue = sqs.create_queue(run, base, fifo=True, content_based_deduplication=content_based, attributes=attributes)
    client = run.target.client("sqs")
    got: list[dict[str, Any]] = []
    for i, kwargs in enumerate(sends):
        client.send_message(QueueUrl=queue.url, **kwargs)
        if receive_between and i == 0:
            got += sqs.receive_all(run, queue, expected=1, timeout=5)
    got += sqs.receive_all(run, queue, expected=None, timeout=5)
    return {"scenario": name, "sent": len(sends), "delivered": len(got), "aws_delivers": expected,
            "bodies": ", ".join(m["Body"] for m in got), "case": case}


def fifo_deduplication(run: Run) -> pd.DataFrame:
    """Deduplication on SQS FIFO queues, one scenario per row: by MessageDeduplicationId, by
    content (ContentBasedDeduplication), after the first copy was deleted, and its scope (the
    queue, or each message group). ``aws_delivers`` is what AWS's documentation says arrives;
    ``case`` names the conformance case that checks the same behaviour on every backend."""
    def message(body: str, group: str = "g", dedup: str | None = None) -> dict[str, Any]:
        return {"MessageBody": body, "MessageGroupId": group, **({"MessageDeduplicationId": dedup} if dedup else {})}

    scenarios = [
        ("same deduplication id, two bodies", "sqs.fifo.dedup-window", [message("first", dedup="d1"), message("second", dedup="d1")], 1, {}),
        ("content-based: a body sent twice, then another", "sqs.fifo.content-based",
         [message("same"), message("same"), message("other")], 2, {"content_based": True}),
        ("the same id again after the first was received and deleted", "sqs.fifo.dedup-after-delete",
         [message("first", dedup="d1"), message("again", dedup="d1")], 1, {"receive_between": True}),
        ("scope queue: the same id in two groups", "sqs.fifo.dedup-scope-queue",
         [message("in a", "a", "d1"), message("in b", "b", "d1")], 1, {"attributes": {"DeduplicationScope": "queue"}}),
        ("scope messageGroup: the same id in two groups", "sqs.fifo.dedup-scope-group",
         [message("in a", "a", "d1"), message("in b", "b", "d1")], 2,
         {"attributes": {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}}),
    ]
    with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
        futures = [pool.submit(_fifo_scenario, run, f"dedup-{i}", name, case, sends, expected, **options)
                   for i, (name, case, sends, expected, options) in enumerate(scenarios)]
        rows = [f.result() for f in futures]
    return pd.DataFrame(rows).set_index("scenario")


# -- message size ----------------------------------------------------------------------------------
KIB = 1024
MIB = 1024 * KIB
OLD_MAX_MESSAGE = 256 * KIB  # SQS's limit until 2025
MAX_MESSAGE = MIB  # since: the quota, and the default of MaximumMessageSize
MESSAGE_QUOTAS = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html"


def message_sizes(run: Run, *, sizes: tuple[int, ...] = (OLD_MAX_MESSAGE + 1, MAX_MESSAGE, MAX_MESSAGE + 1)) -> pd.DataFrame:
    """Messages of each size (bytes of body) sent to a queue created without a MaximumMessageSize:
    accepted (and received whole) or refused, with the error; beside the queue's default limit."""
    client = run.target.client("sqs")
    queue = sqs.create_queue(run, "sizes")
    default = int(sqs.get_queue_attributes(run, queue).get("MaximumMessageSize", 0))
    rows = []
    for size in sizes:
        row: dict[str, Any] = {"bytes": size, "KiB": round(size / KIB, 3), "default MaximumMessageSize": default}
        try:
            client.send_message(QueueUrl=queue.url, MessageBody="x" * size)
            got = sqs.receive_all(run, queue, expected=1, timeout=5)
            row |= {"accepted": True, "received_bytes": len(got[0]["Body"]) if got else 0, "error": ""}
        except ClientError as error:
            row |= {"accepted": False, "received_bytes": 0, "error": error_code(error)}
        rows.append(row)
    return pd.DataFrame(rows).set_index("bytes")
