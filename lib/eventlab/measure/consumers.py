"""Consumers that record a receipt (with its time) for every probe that reaches them.

- :class:`SqsReceiver`: long-polling receivers (any number of threads), with a pluggable
  handler, partial batch responses, processing time and crash points for fault injection.
- :class:`KinesisPoller`: shared-throughput readers, one thread per shard, polling
  GetRecords at a set interval (AWS advises at least 200 ms; five reads/s per shard in all).
- :class:`KinesisEfoReader`: enhanced fan-out, RegisterStreamConsumer + SubscribeToShard.
- :class:`HttpReceiver`: a local server on 127.0.0.1 that records probes POSTed to it; it is
  also an SNS HTTP subscriber (it confirms subscriptions by fetching the SubscribeURL) and the
  Lambda sink (``POST /receipts`` from a handler, in the format of :mod:`eventlab.measure.sink`).

Each records into a shared :class:`~eventlab.measure.probes.ReceiptLog` and is a context
manager: ``with SqsReceiver(...) as rx:`` starts it and stops it (threads joined) on exit.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from botocore.exceptions import ClientError

from eventlab.measure import sink
from eventlab.measure.probes import Probe, Receipt, ReceiptLog, decode
from eventlab.run import Run
from eventlab.services import kinesis

log = logging.getLogger(__name__)

SQS_THROTTLE_CODES = frozenset({"ThrottlingException", "RequestThrottled"})


class Consumer:
    """Threads that run ``_loop`` until stopped; context manager; errors kept in ``errors``."""

    path: str = "consumer"

    def __init__(self, receipts: ReceiptLog, *, path: str, threads: int = 1) -> None:
        self.receipts = receipts
        self.path = path
        self.n_threads = threads
        self.errors: list[BaseException] = []
        self.throttled = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _loop(self, index: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _run(self, index: int) -> None:
        try:
            self._loop(index)
        except BaseException as error:
            if not self._stop.is_set():
                log.exception("%s consumer %d failed", self.path, index)
                self.errors.append(error)

    def start(self) -> Self:
        for i in range(self.n_threads):
            thread = threading.Thread(target=self._run, args=(i,), name=f"{self.path}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop and join the threads; raises if a thread died of an unexpected error."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("%s: threads still running after %.0f s: %s", self.path, timeout, alive)
        if self.errors:
            raise RuntimeError(f"{self.path} consumer failed: {self.errors[0]!r}") from self.errors[0]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- SQS ---------------------------------------------------------------------------------------
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


# -- Kinesis -----------------------------------------------------------------------------------
def _open_shards(client: Any, stream_name: str) -> list[str]:
    return [s["ShardId"] for s in kinesis.list_shards(client, stream_name, open_only=True)]


class KinesisPoller(Consumer):
    """Shared-throughput consumers: one thread per shard calling GetRecords every ``interval_s``.

    A throttled read (``ProvisionedThroughputExceededException``) is counted in ``throttled``
    and retried after the interval.
    """

    def __init__(
        self,
        client: Any,
        stream_name: str,
        receipts: ReceiptLog,
        *,
        path: str = "kinesis",
        interval_s: float = 0.2,
        limit: int = 1000,
        start: str = "TRIM_HORIZON",
    ) -> None:
        self.client = client
        self.stream_name = stream_name
        self.shards = _open_shards(client, stream_name)
        super().__init__(receipts, path=path, threads=len(self.shards))
        self.interval_s = interval_s
        self.limit = limit
        self.start_type = start
        self.calls = 0

    def _loop(self, index: int) -> None:
        shard = self.shards[index]
        iterator = self.client.get_shard_iterator(StreamName=self.stream_name, ShardId=shard, ShardIteratorType=self.start_type)["ShardIterator"]
        while iterator and not self._stop.is_set():
            began = time.monotonic()
            try:
                reply = self.client.get_records(ShardIterator=iterator, Limit=self.limit)
                self.calls += 1
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ProvisionedThroughputExceededException":
                    raise
                self.throttled += 1
                self._stop.wait(self.interval_s)
                continue
            received_ns = time.time_ns()
            for record in reply.get("Records", []):
                probe = decode(record["Data"])
                if probe is not None:
                    self.receipts.record(probe, path=self.path, consumer=shard, received_ns=received_ns, source=f"{shard}:{record['SequenceNumber']}")
            iterator = reply.get("NextShardIterator")
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - began)))


class KinesisEfoReader(Consumer):
    """Enhanced fan-out: registers a stream consumer and reads each shard by SubscribeToShard.

    A subscription lasts up to 5 minutes on AWS; the reader resubscribes after the last
    sequence number it saw. The consumer is deregistered by the run (and on ``stop``).
    """

    def __init__(
        self,
        run: Run,
        stream_arn: str,
        stream_name: str,
        receipts: ReceiptLog,
        *,
        base: str = "efo",
        path: str = "kinesis-efo",
        start: str = "TRIM_HORIZON",
    ) -> None:
        self.run = run
        self.client = run.target.client("kinesis")
        self.stream_arn = stream_arn
        self.shards = _open_shards(self.client, stream_name)
        super().__init__(receipts, path=path, threads=len(self.shards))
        self.stream = kinesis.Stream(stream_name, stream_arn)
        self.consumer_name = run.name(base, max_length=kinesis.MAX_CONSUMER_NAME)
        self.start_type = start
        self.consumer_arn = ""
        self._streams: list[Any] = []
        self._lock = threading.Lock()

    def start(self) -> Self:
        self.consumer_arn = kinesis.register_stream_consumer(self.run, self.stream, self.consumer_name)
        return super().start()

    def _loop(self, index: int) -> None:
        shard = self.shards[index]
        position: dict[str, str] = {"Type": self.start_type}
        while not self._stop.is_set():
            reply = self.client.subscribe_to_shard(ConsumerARN=self.consumer_arn, ShardId=shard, StartingPosition=position)
            stream = reply["EventStream"]
            with self._lock:
                self._streams.append(stream)
            try:
                for event in stream:
                    if self._stop.is_set():
                        return
                    body = event.get("SubscribeToShardEvent")
                    if body is None:
                        continue
                    received_ns = time.time_ns()
                    for record in body.get("Records", []):
                        probe = decode(record["Data"])
                        if probe is not None:
                            self.receipts.record(probe, path=self.path, consumer=shard, received_ns=received_ns, source=f"{shard}:{record['SequenceNumber']}")
                    if body.get("ContinuationSequenceNumber"):
                        position = {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": body["ContinuationSequenceNumber"]}
            finally:
                with self._lock:
                    if stream in self._streams:
                        self._streams.remove(stream)
            self._stop.wait(0.2)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - closing a half-read stream may complain
                log.debug("closing an EFO stream failed", exc_info=True)
        super().stop(timeout)
        if self.consumer_arn:
            try:
                kinesis.deregister_stream_consumer(self.run, self.consumer_arn)
            except ClientError as error:
                log.info("deregistering %s: %s", self.consumer_name, error)
                self.run.forget(self.consumer_arn)


# -- HTTP (SNS subscriber and Lambda sink) -----------------------------------------------------
class HttpReceiver:
    """A receipt-recording HTTP server on 127.0.0.1 (a free port unless given).

    - SNS: subscribe ``receiver.url`` with protocol ``http``; it confirms the subscription
      by fetching the SubscribeURL, and records each Notification's probe (path ``http``).
    - Lambda sink: a handler POSTs ``{"consumer": ..., "items": [{"payload", "received_ns"}]}``
      to :attr:`sink_url` (:mod:`eventlab.measure.sink`); recorded under path ``lambda``.
    - Anything else POSTed that holds a probe is recorded too.
    """

    def __init__(self, receipts: ReceiptLog, *, path: str = "http", sink_path: str = "lambda", host: str = "127.0.0.1", port: int = 0) -> None:
        self.receipts = receipts
        self.path = path
        self.sink_label = sink_path
        self.confirmed: list[str] = []
        # Every non-sink POST body, probe or not (e.g. business events for an analytics endpoint).
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self._confirm = threading.Condition()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received_ns = time.time_ns()
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                try:
                    status = outer._on_post(self.path, self.headers.get("x-amz-sns-message-type", ""), body, received_ns)
                except Exception:
                    log.exception("http receiver: could not handle a POST to %s", self.path)
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http receiver: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def sink_url(self) -> str:
        """Where a Lambda handler reports receipts (give it to the function as ``EVENTLAB_SINK_URL``)."""
        return self.url.rstrip("/") + sink.SINK_PATH

    def _on_post(self, url_path: str, sns_type: str, body: bytes, received_ns: int) -> int:
        self.requests += 1
        if url_path.startswith(sink.SINK_PATH):
            consumer, items = sink.decode(body)
            for payload, sent_ns in items:
                self.receipts.record_payload(payload, path=self.sink_label, consumer=consumer, received_ns=int(sent_ns or received_ns))
            return 200
        doc = json.loads(body) if body else {}
        kind = sns_type or doc.get("Type", "")
        if kind == "SubscriptionConfirmation":
            with urllib.request.urlopen(doc["SubscribeURL"], timeout=10) as response:
                response.read()
            with self._confirm:
                self.confirmed.append(doc.get("TopicArn", ""))
                self._confirm.notify_all()
            log.info("http receiver confirmed the SNS subscription to %s", doc.get("TopicArn"))
            return 200
        if kind == "UnsubscribeConfirmation":
            return 200
        self.bodies.append(doc)
        self.receipts.record_payload(doc, path=self.path, consumer="http", received_ns=received_ns, source=doc.get("MessageId", ""))
        return 200

    def wait_confirmed(self, topic_arn: str, timeout: float = 10.0) -> None:
        """Block until SNS has asked this server to confirm a subscription to ``topic_arn``."""
        deadline = time.monotonic() + timeout
        with self._confirm:
            while topic_arn not in self.confirmed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no SubscriptionConfirmation from {topic_arn} at {self.url} within {timeout} s: "
                        "is the subscription's endpoint this receiver's url, and can the service reach 127.0.0.1?"
                    )
                self._confirm.wait(left)

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="http-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LambdaSink:
    """The hook for Lambda consumers: where a function reports the probes it was invoked with.

    Wraps an :class:`HttpReceiver`; :meth:`environment` is what to add to the function's
    environment; the handler reports with :func:`eventlab.measure.sink.report_receipts` (the
    ``receipt_sink`` handler does).
    Lambda itself is not needed here: any process that can POST to 127.0.0.1 can report.
    """

    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver

    @property
    def url(self) -> str:
        return self.receiver.sink_url

    def environment(self) -> dict[str, str]:
        return {sink.SINK_ENV: self.url}
