"""SQS consumers: long-polling receivers that record, handle and delete, and batch handlers."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from eventlab.measure.consumers.base import Consumer
from eventlab.measure.probes import Probe, Receipt, ReceiptLog, decode

log = logging.getLogger(__name__)

SQS_THROTTLE_CODES = frozenset({"ThrottlingException", "RequestThrottled"})


@dataclass
class SqsMessage:
    """A received SQS message as the handler sees it."""

    message_id: str
    receipt_handle: str
    body: str
    probe: Probe | None
    receive_count: int
    receipt: Receipt | None = field(default=None, repr=False)


Handler = Callable[[list[SqsMessage]], Iterable[str] | None]
"""Processes a batch; returns the message ids that failed (a partial batch response), or None.
Raising fails the whole batch: nothing is deleted and all of it comes back."""


class SqsReceiver(Consumer):
    """Long-polling SQS receivers, ``threads`` of them, that record, handle and delete.

    ``handler`` (optional) processes each batch, see :data:`Handler`. ``processing_s`` sleeps
    before deleting (a slow consumer). ``crash_after`` batches: the thread then stops *before*
    deleting the batch in hand, like a consumer killed mid-work. ``delete=False`` never deletes.
    """

    def __init__(
        self,
        client: Any,
        queue_url: str,
        receipts: ReceiptLog,
        *,
        path: str = "sqs",
        threads: int = 1,
        wait_s: int = 1,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        handler: Handler | None = None,
        processing_s: float = 0.0,
        crash_after: int | None = None,
        delete: bool = True,
    ) -> None:
        super().__init__(receipts, path=path, threads=threads)
        if not 0 <= wait_s <= 20:
            raise ValueError(f"wait_s={wait_s}: SQS long polling allows 0 to 20 s.")
        self.client = client
        self.queue_url = queue_url
        self.wait_s = wait_s
        self.max_messages = max_messages
        self.visibility_timeout = visibility_timeout
        self.handler = handler
        self.processing_s = processing_s
        self.crash_after = crash_after
        self.delete = delete
        self.batches = 0
        self.deleted = 0
        self.delete_failures = 0
        self.crashed = 0
        self._count_lock = threading.Lock()

    def _loop(self, index: int) -> None:
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": self.max_messages,
            "WaitTimeSeconds": self.wait_s,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if self.visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = self.visibility_timeout
        while not self._stop.is_set():
            try:
                reply = self.client.receive_message(**kwargs)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in SQS_THROTTLE_CODES:
                    with self._count_lock:
                        self.throttled += 1
                    time.sleep(0.05)
                    continue
                raise
            received_ns = time.time_ns()
            raw = reply.get("Messages", [])
            if not raw:
                continue
            messages = []
            for m in raw:
                count = int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1))
                probe = decode(m["Body"])
                receipt = None
                if probe is not None:
                    receipt = self.receipts.record(
                        probe, path=self.path, consumer=threading.current_thread().name,
                        received_ns=received_ns, receive_count=count, source=m["MessageId"],
                    )
                messages.append(SqsMessage(m["MessageId"], m["ReceiptHandle"], m["Body"], probe, count, receipt))
            with self._count_lock:
                self.batches += 1
                crash = self.crash_after is not None and self.batches > self.crash_after
            if crash:
                with self._count_lock:
                    self.crashed += len(messages)
                log.info("%s: consumer %d crashes before deleting %d message(s) (injected)", self.path, index, len(messages))
                for m in messages:
                    if m.receipt:
                        m.receipt.ok = False
                return
            failed = self._handle(messages)
            if self.processing_s:
                time.sleep(self.processing_s)
            done = [m for m in messages if m.message_id not in failed]
            for m in messages:
                if m.message_id in failed and m.receipt is not None:
                    m.receipt.ok = False
            if self.delete and done:
                self._delete(done)

    def _handle(self, messages: list[SqsMessage]) -> set[str]:
        if self.handler is None:
            return set()
        try:
            failed = self.handler(messages)
        except Exception as error:  # noqa: BLE001 - a failing handler is a scenario, not a bug
            log.debug("%s: handler failed the whole batch of %d: %r", self.path, len(messages), error)
            return {m.message_id for m in messages}
        return set(failed or ())

    def _delete(self, messages: Sequence[SqsMessage]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)]
        for attempt in range(1, 11):
            try:
                reply = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
                break
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code in SQS_THROTTLE_CODES and attempt < 10:
                    with self._count_lock:
                        self.throttled += 1
                    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
                    continue
                # a stale receipt handle (the message was received again meanwhile) is a
                # scenario, not a crash: the message comes back and is counted as a duplicate
                log.info("%s: delete of %d message(s) failed: %s", self.path, len(entries), code)
                with self._count_lock:
                    self.delete_failures += len(entries)
                return
        with self._count_lock:
            self.deleted += len(reply.get("Successful", []))
            self.delete_failures += len(reply.get("Failed", []))
        for failed in reply.get("Failed", []):
            log.info("%s: delete failed for %s: %s", self.path, messages[int(failed["Id"])].message_id, failed.get("Code"))


def per_item(process: Callable[[SqsMessage], None], *, partial_batch: bool = True) -> Handler:
    """A batch handler from a per-message function that raises on failure.

    ``partial_batch=True`` reports only the failed messages (like Lambda's
    ``ReportBatchItemFailures``); ``False`` lets the first failure fail the whole batch.
    """

    def handler(messages: list[SqsMessage]) -> list[str]:
        failed: list[str] = []
        for message in messages:
            try:
                process(message)
            except Exception:
                if not partial_batch:
                    raise
                failed.append(message.message_id)
        return failed

    return handler


def probe_ids(messages: Iterable[dict[str, Any]]) -> set[str]:
    """The ids of the probes among received SQS messages (e.g. what a DLQ held)."""
    return {probe.msg_id for probe in (decode(m["Body"]) for m in messages) if probe is not None}
