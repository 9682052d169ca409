"""Kinesis consumers: shared-throughput pollers, one thread per shard, and enhanced fan-out readers."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Self

from botocore.exceptions import ClientError

from eventlab.measure.consumers.base import Consumer
from eventlab.measure.probes import ReceiptLog, decode
from eventlab.run import Run
from eventlab.services import kinesis

log = logging.getLogger(__name__)


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
            except Exception:
                log.debug("closing an EFO stream failed", exc_info=True)
        super().stop(timeout)
        if self.consumer_arn:
            try:
                kinesis.deregister_stream_consumer(self.run, self.consumer_arn)
            except ClientError as error:
                log.info("deregistering %s: %s", self.consumer_name, error)
                self.run.forget(self.consumer_arn)
