"""Enhanced fan-out: SubscribeToShard pushes new records as they are written.

The bug: LocalStack 2026.3.0's ``SubscribeToShard`` delivers a record up to 3 s after it was
written, about 2 s at the median: on the emulator enhanced fan-out is slower than polling
``GetRecords`` every 200 ms, the ranking upside down.

The cause: kinesis-mock (the Node process behind LocalStack's Kinesis) has no push; LocalStack's
Python side implements ``SubscribeToShard`` itself, in ``localstack/services/kinesis/provider.py``
(``KinesisProvider.subscribe_to_shard``), as a generator that calls ``GetRecords`` on
kinesis-mock and, whenever a read comes back empty, ``time.sleep(3)`` before the next one. A
record written during that sleep waits for it to end.

What AWS does (Kinesis Data Streams developer guide, enhanced fan-out; API reference of
``SubscribeToShard`` and ``SubscribeToShardEvent``): after a subscription is established,
Kinesis pushes the shard's records to the consumer over it as they arrive, in order, with a
typical propagation delay of about 70 ms (against about 200 ms for one polling consumer), and
sends an event at least every 5 seconds while nothing arrives; a subscription lasts 5 minutes.

The fix: every ``PutRecord``/``PutRecords`` that LocalStack forwards to kinesis-mock now signals
its stream once kinesis-mock accepted it, and a subscription (which reads kinesis-mock directly,
not through LocalStack's gateway) that read nothing waits on that signal (at most 1 s, then it reads again anyway) instead of sleeping 3 s, reading at most ten
times a second while records keep coming. An event with no
records is sent every second while the shard is quiet; the subscription ends after 5 minutes,
when the stream is deleted, or when the shard is closed and read to its end.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

LOG = logging.getLogger(__name__)

# AWS sends an event at least every 5 s; here every second, so that a client that closes the
# stream while its reader blocks on it (botocore's EventStream.close) is let go within a second.
KEEPALIVE_S = 1.0
FALLBACK_READ_S = 1.0  # re-read this often even without a signal (a write that bypassed the provider)
# At most ten reads a second per subscription: under a steady write load every read finds
# records, and reading after each write would load kinesis-mock (and slow the writers) for
# nothing. A record that arrives on a quiet shard is still read at once.
MIN_READ_GAP_S = 0.1
SUBSCRIPTION_S = 300.0


class Writes:
    """A counter per stream, bumped by each accepted write, that subscriptions wait on."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._counts: dict[tuple[str, str, str], int] = {}

    def count(self, key: tuple[str, str, str]) -> int:
        with self._changed:
            return self._counts.get(key, 0)

    def bump(self, key: tuple[str, str, str]) -> None:
        with self._changed:
            self._counts[key] = self._counts.get(key, 0) + 1
            self._changed.notify_all()

    def wait(self, key: tuple[str, str, str], seen: int, timeout: float) -> bool:
        """Wait until the stream was written to since ``seen`` (True) or ``timeout`` passed."""
        with self._changed:
            return self._changed.wait_for(lambda: self._counts.get(key, 0) != seen, timeout=max(0.0, timeout))


def stream_key(account_id: str, region: str, stream_name: str | None, stream_arn: str | None) -> tuple[str, str, str]:
    name = stream_name or (stream_arn or "").rsplit("/", 1)[-1]
    return account_id, region, name


def apply() -> None:
    import botocore.session
    from botocore.config import Config
    from localstack.aws.api.kinesis import (
        SubscribeToShardEvent,
        SubscribeToShardEventStream,
        SubscribeToShardOutput,
    )
    from localstack.aws.connect import connect_to
    from localstack.aws.forwarder import get_request_forwarder_http
    from localstack.services.kinesis import provider as kinesis_provider
    from localstack.services.kinesis.provider import KinesisProvider
    from localstack.utils.patch import patch

    writes = Writes()

    def forward_and_signal(fn: Any, self: KinesisProvider, context: Any, kwargs: dict[str, Any]) -> Any:
        try:
            return fn(self, context, **kwargs)  # LocalStack's own checks (an emulated error rate)
        except NotImplementedError:
            pass
        response = get_request_forwarder_http(self.get_forward_url)(context, context.service_request)
        writes.bump(stream_key(context.account_id, context.region, kwargs.get("stream_name"), kwargs.get("stream_arn")))
        return response

    @patch(KinesisProvider.put_record)
    def put_record(fn: Any, self: KinesisProvider, context: Any, **kwargs: Any) -> Any:
        return forward_and_signal(fn, self, context, kwargs)

    @patch(KinesisProvider.put_records)
    def put_records(fn: Any, self: KinesisProvider, context: Any, **kwargs: Any) -> Any:
        return forward_and_signal(fn, self, context, kwargs)

    readers: dict[tuple[str, str], tuple[str, Any]] = {}  # (account, region) -> (kinesis-mock's URL, client)
    readers_lock = threading.Lock()

    def reader(provider: KinesisProvider, account_id: str, region: str) -> Any:
        """A plain botocore client of kinesis-mock itself, for the subscriptions' GetRecords: a read
        through LocalStack's gateway costs its process several times more (parse, dispatch,
        forward, serialize, parse again), and under a steady write load that slows the writers.
        Kept per URL too: a kinesis-mock stopped when idle (eventlab_localstack.kinesis_idle) comes
        back on another port."""
        url = provider.get_forward_url(account_id, region)
        with readers_lock:
            known = readers.get((account_id, region))
            if known is not None and known[0] == url:
                return known[1]
            if known is not None:
                known[1].close()
            client = botocore.session.Session().create_client(
                "kinesis", region_name=region, endpoint_url=url,
                aws_access_key_id=account_id, aws_secret_access_key="test",
                config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=64),
            )
            readers[(account_id, region)] = (url, client)
            return client

    @patch(KinesisProvider.subscribe_to_shard)
    def subscribe_to_shard(
        fn: Any,
        self: KinesisProvider,
        context: Any,
        consumer_arn: str,
        shard_id: str,
        starting_position: dict[str, Any],
        stream_id: str | None = None,
        **kwargs: Any,
    ) -> SubscribeToShardOutput:
        kinesis = connect_to(aws_access_key_id=context.account_id, region_name=context.region).kinesis
        direct = reader(self, context.account_id, context.region)
        stream_name = kinesis_provider.find_stream_for_consumer(consumer_arn)
        key = stream_key(context.account_id, context.region, stream_name, None)
        iterator_type = starting_position["Type"]
        iterator_args: dict[str, Any] = {}
        last_sequence = starting_position.get("SequenceNumber") or "0"
        if iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            iterator_args["StartingSequenceNumber"] = last_sequence
        elif iterator_type == "AT_TIMESTAMP":
            iterator_args["Timestamp"] = starting_position.get("Timestamp") or 1459799926.480
        seen = writes.count(key)
        first_iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard_id, ShardIteratorType=iterator_type, **iterator_args
        )["ShardIterator"]

        def event(records: list[dict[str, Any]], sequence: str) -> SubscribeToShardEventStream:
            return SubscribeToShardEventStream(
                SubscribeToShardEvent=SubscribeToShardEvent(
                    Records=records, ContinuationSequenceNumber=str(sequence), MillisBehindLatest=0, ChildShards=None
                )
            )

        def events() -> Any:
            nonlocal seen, last_sequence
            iterator = first_iterator
            ends = time.monotonic() + SUBSCRIPTION_S
            last_sent: float | None = None
            last_read = 0.0
            while iterator and time.monotonic() < ends:
                if (gap := MIN_READ_GAP_S - (time.monotonic() - last_read)) > 0:
                    time.sleep(gap)
                seen = writes.count(key)
                last_read = time.monotonic()
                try:
                    result = direct.get_records(ShardIterator=iterator)
                except Exception as error:
                    if "ResourceNotFoundException" in str(error):
                        LOG.debug("Kinesis stream %s was deleted; closing the subscription to %s", stream_name, shard_id)
                        return
                    raise
                iterator = result.get("NextShardIterator")
                records = result.get("Records", [])
                if records:
                    last_sequence = records[-1].get("SequenceNumber", last_sequence)
                if records or last_sent is None:
                    yield event(records, last_sequence)
                    last_sent = time.monotonic()
                    continue
                quiet_for = time.monotonic() - last_sent
                if quiet_for >= KEEPALIVE_S:
                    yield event([], last_sequence)
                    last_sent = time.monotonic()
                    continue
                writes.wait(key, seen, min(FALLBACK_READ_S, KEEPALIVE_S - quiet_for, ends - time.monotonic()))

        return SubscribeToShardOutput(EventStream=events())
