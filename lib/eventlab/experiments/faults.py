"""Fault scenarios: the ways duplicates arise, each shown with the duplicates it causes and
the proof that nothing was lost (lost = sent - delivered - in DLQ = 0).

All scenarios run on SQS, consumer side, without Lambda:

- :func:`consumer_dies_before_delete` — a consumer takes a batch and dies before deleting;
- :func:`visibility_shorter_than_processing` — the first attempt outlasts the visibility timeout;
- :func:`handler_exceptions` — transient handler failures, with and without a partial batch
  response (only the failed messages come back, or the whole batch does);
- :func:`poison_messages` — messages that always fail end in the DLQ after maxReceiveCount;
- :func:`producer_retry_after_lost_response` — the service accepted the send but the reply was
  lost, so the producer sends again (a FIFO queue's deduplication id absorbs it).

Each returns a :class:`FaultReport`; :func:`fault_table` puts several side by side.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from eventlab.measure import analysis
from eventlab.measure.consumers import SqsMessage, SqsReceiver, per_item, probe_ids
from eventlab.measure.faults import LoseResponses
from eventlab.measure.load import LoadResult, LoadSpec, RetryPolicy, run_load
from eventlab.measure.probes import ReceiptLog
from eventlab.measure.senders import SqsSender
from eventlab.run import Run
from eventlab.services import sqs
from eventlab.waiting import until

log = logging.getLogger(__name__)


@dataclass
class FaultReport:
    """What one scenario did: duplicates it caused, where every message ended up."""

    scenario: str
    sent: int
    receipts: int
    delivered: int
    duplicates: int
    in_dlq: int
    lost: int
    expected_duplicates: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "frame"}


def fault_table(reports: list[FaultReport]) -> pd.DataFrame:
    """One row per scenario."""
    return pd.DataFrame([r.row() for r in reports]).set_index("scenario")


def _report(scenario: str, load: LoadResult, receipts: ReceiptLog, dlq_ids: set[str] | None = None, **detail: Any) -> FaultReport:
    frame = receipts.to_frame()
    sent_ids = load.frame().query("ok")["msg_id"]
    delivered = frame.loc[frame["ok"], "msg_id"]
    lost = analysis.loss(sent_ids, delivered, dlq_ids or ())
    expected = detail.pop("expected_duplicates", None)
    report = FaultReport(
        scenario=scenario,
        sent=lost["sent"],
        receipts=len(frame),
        delivered=lost["delivered"],
        duplicates=len(frame) - frame["msg_id"].nunique(),
        in_dlq=lost["in_dlq"],
        lost=lost["lost"],
        expected_duplicates=expected,
        detail=detail,
        frame=frame,
    )
    log.info("fault %s: %s", scenario, report.row())
    return report


def _send(run: Run, queue: sqs.Queue, count: int, *, batch: bool = True) -> LoadResult:
    sender = SqsSender(run.target.client("sqs"), queue.url, batch=batch)
    return run_load(sender, run.run_id, LoadSpec(mode="closed", count=count, batch=10 if batch else 1))


def _delivered(receipts: ReceiptLog) -> int:
    return len({r.msg_id for r in receipts if r.ok})


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    if not until(condition, timeout=timeout, interval=0.1):
        raise TimeoutError(f"fault scenario: {what} did not happen within {timeout} s")


def consumer_dies_before_delete(run: Run, *, count: int = 10, visibility_s: int = 2, timeout: float = 30) -> FaultReport:
    """A consumer receives a batch and dies before deleting it; after the visibility timeout
    another consumer gets the same messages. Expected duplicates: the batch that was in hand."""
    queue = sqs.create_queue(run, "fault-crash", attributes={"VisibilityTimeout": visibility_s})
    load = _send(run, queue, count)
    receipts = ReceiptLog(run.run_id)
    client = run.target.client("sqs")
    doomed = SqsReceiver(client, queue.url, receipts, crash_after=0).start()
    _wait(lambda: doomed.crashed > 0, timeout, "the first consumer's crash")
    doomed.stop()
    with SqsReceiver(client, queue.url, receipts) as survivor:
        _wait(lambda: _delivered(receipts) >= count, timeout, f"delivery of {count} messages")
    return _report(
        "consumer dies before delete", load, receipts,
        expected_duplicates=doomed.crashed, in_hand_at_crash=doomed.crashed, deleted=survivor.deleted,
    )


def visibility_shorter_than_processing(
    run: Run, *, count: int = 10, visibility_s: int = 1, processing_s: float = 2.5, timeout: float = 30
) -> FaultReport:
    """The first attempt at each batch takes longer than the visibility timeout, so a second
    consumer receives the same messages while the first still works on them."""
    queue = sqs.create_queue(run, "fault-slow", attributes={"VisibilityTimeout": visibility_s})
    load = _send(run, queue, count)
    receipts = ReceiptLog(run.run_id)

    def slow_first_attempt(messages: list[SqsMessage]) -> None:
        if any(m.receive_count == 1 for m in messages):
            time.sleep(processing_s)

    with SqsReceiver(run.target.client("sqs"), queue.url, receipts, threads=2, handler=slow_first_attempt) as rx:
        _wait(lambda: _delivered(receipts) >= count, timeout, f"delivery of {count} messages")
        _wait(lambda: rx.deleted + rx.delete_failures >= len(receipts), timeout + processing_s, "the slow consumer's delete")
    return _report(
        "visibility timeout < processing time", load, receipts,
        expected_duplicates=count, visibility_s=visibility_s, processing_s=processing_s,
        stale_deletes=rx.delete_failures,
    )


def handler_exceptions(
    run: Run, *, count: int = 20, fail_every: int = 5, partial_batch: bool = True, timeout: float = 30
) -> FaultReport:
    """Every ``fail_every``-th message fails on its first attempt (a transient error).

    With a partial batch response only those come back; without, the exception fails the
    whole batch and every message in it comes back.
    """
    queue = sqs.create_queue(run, f"fault-exc-{'partial' if partial_batch else 'whole'}", attributes={"VisibilityTimeout": 1})
    load = _send(run, queue, count)
    receipts = ReceiptLog(run.run_id)
    failing = {p.msg_id for p in load.sends.records if p.seq % fail_every == 0}

    def process(message: SqsMessage) -> None:
        if message.probe and message.probe.msg_id in failing and message.receive_count == 1:
            raise RuntimeError("injected transient failure")

    handler = per_item(process, partial_batch=partial_batch)
    with SqsReceiver(run.target.client("sqs"), queue.url, receipts, handler=handler):
        _wait(lambda: _delivered(receipts) >= count, timeout, f"delivery of {count} messages")
    first = receipts.to_frame().drop_duplicates("msg_id")
    failed_first = int((~first["ok"]).sum())  # partial: the failing ones; whole: their batches
    return _report(
        f"handler exceptions, {'partial batch response' if partial_batch else 'whole batch fails'}",
        load, receipts, expected_duplicates=failed_first, failing_messages=len(failing),
        first_attempt_failures=failed_first,
    )


def poison_messages(
    run: Run, *, count: int = 20, poison_every: int = 10, max_receive_count: int = 2, timeout: float = 40
) -> FaultReport:
    """Messages that always fail are received ``max_receive_count`` times, then SQS moves them
    to the DLQ: duplicates, but nothing lost (they are counted in the DLQ)."""
    dlq = sqs.create_queue(run, "fault-poison-dlq")
    queue = sqs.create_queue(run, "fault-poison", attributes={"VisibilityTimeout": 1}, dead_letter_queue=dlq, max_receive_count=max_receive_count)
    load = _send(run, queue, count)
    receipts = ReceiptLog(run.run_id)
    poison = {p.msg_id for p in load.sends.records if p.seq % poison_every == 0}

    def process(message: SqsMessage) -> None:
        if message.probe and message.probe.msg_id in poison:
            raise ValueError("poison message")

    client = run.target.client("sqs")
    dlq_ids: set[str] = set()
    with SqsReceiver(client, queue.url, receipts, handler=per_item(process)):
        _wait(lambda: _delivered(receipts) >= count - len(poison), timeout, "delivery of the good messages")

        def all_in_dlq() -> bool:
            dlq_ids.update(probe_ids(sqs.receive_all(run, dlq, wait_s=0)))
            return dlq_ids >= poison

        _wait(all_in_dlq, timeout, f"{len(poison)} poison messages in the DLQ")
    return _report(
        "poison messages to DLQ", load, receipts, dlq_ids, expected_duplicates=len(poison) * (max_receive_count - 1),
        poison=len(poison), max_receive_count=max_receive_count,
    )


def producer_retry_after_lost_response(run: Run, *, count: int = 20, every: int = 4, fifo: bool = False, timeout: float = 30) -> FaultReport:
    """The producer's send succeeds but its reply is lost; it retries and the message is sent
    twice. On a standard queue that is a duplicate; a FIFO queue drops the second copy by its
    deduplication id (the probe id) within the 5-minute window."""
    queue = sqs.create_queue(run, "fault-lost-reply", fifo=fifo)
    client = run.target.client("sqs")
    receipts = ReceiptLog(run.run_id)
    with LoseResponses(client, "SendMessage", every) as losses:
        load = run_load(SqsSender(client, queue.url), run.run_id, LoadSpec(mode="closed", count=count), retry=RetryPolicy(base_s=0.01, seed=4))
    with SqsReceiver(client, queue.url, receipts):
        _wait(lambda: _delivered(receipts) >= count, timeout, f"delivery of {count} messages")
        receipts.wait_quiet(1.5, timeout=10)  # let any duplicate arrive too
    return _report(
        f"producer retry after lost reply ({'FIFO, dedup id' if fifo else 'standard'})", load, receipts,
        expected_duplicates=0 if fifo else losses.lost, replies_lost=losses.lost,
        producer_retries=int((load.frame()["attempts"] - 1).sum()),
    )
