"""Kinesis Data Streams: provisioned or on-demand streams, waited for until usable."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventlab.run import Run, resource_kind
from eventlab.target import Target
from eventlab.waiting import until

# Limits from the Kinesis API reference and quota page; the topology validator reads them here.
MAX_NAME = 128
NAME_PATTERN = r"[a-zA-Z0-9_.-]+"
SHARDS = (1, 500)  # per stream; 500 is the default shard quota of the largest regions
RETENTION_HOURS = (24, 8_760)
MAX_CONSUMERS = 20  # enhanced fan-out consumers per stream
MAX_CONSUMER_NAME = 128
CONSUMER_NAME_PATTERN = r"[a-zA-Z0-9_.-]+"


@dataclass(frozen=True)
class Stream:
    name: str
    arn: str


def create_stream(
    run: Run,
    base: str,
    *,
    shard_count: int | None = 1,
    on_demand: bool = False,
    encrypted: bool = True,
    retention_hours: int = 24,
) -> Stream:
    """Create a stream and wait until it is ACTIVE (encrypted with the AWS-managed key by
    default); deletion waits until it is gone. On the emulator without Node.js this raises
    :class:`eventlab.runtime.KinesisBackendError`, which names the cause and the fix."""
    if on_demand == (shard_count is not None):
        raise ValueError(f"stream {base!r}: give shard_count, or on_demand=True with shard_count=None.")
    name = run.name(base, max_length=MAX_NAME)
    client = run.target.client("kinesis")
    mode = {"StreamMode": "ON_DEMAND" if on_demand else "PROVISIONED"}
    kwargs = {"StreamName": name, "StreamModeDetails": mode, "Tags": run.tags}
    if shard_count is not None:
        kwargs["ShardCount"] = shard_count
    client.create_stream(**kwargs)

    def delete() -> None:
        _delete_stream(run.target, name)
        client.get_waiter("stream_not_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )

    # Tracked before the wait: a stream that never turns ACTIVE is still deleted.
    run.track(STREAM, name, name, delete)
    wait_active(run, name)
    if encrypted:
        client.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
        wait_active(run, name)
    if retention_hours != 24:
        client.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=retention_hours)
        wait_active(run, name)
    arn = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    # The first stream starts kinesis-mock, a new listening process: check it is on loopback.
    run.target.check_emulator()
    return Stream(name=name, arn=arn)


def wait_active(run: Run, name: str) -> None:
    """Wait until a stream is ACTIVE (after creation, encryption, resharding)."""
    run.target.client("kinesis").get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 180}
    )


def register_stream_consumer(run: Run, stream: Stream, consumer_name: str) -> str:
    """Register an enhanced fan-out consumer and wait until it is ACTIVE; returns its ARN.

    Consumers go with their stream (deleted with EnforceConsumerDeletion), but are also
    deregistered on their own so that a run can drop one early.
    """
    client = run.target.client("kinesis")
    arn = client.register_stream_consumer(StreamARN=stream.arn, ConsumerName=consumer_name)["Consumer"]["ConsumerARN"]
    run.track(CONSUMER, consumer_name, arn, lambda: client.deregister_stream_consumer(ConsumerARN=arn))

    def active() -> bool:
        return client.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE"

    if not until(active, timeout=60, interval=0.5):
        raise TimeoutError(f"EFO consumer {consumer_name} on {stream.name} did not become ACTIVE within 60 s")
    return str(arn)


def deregister_stream_consumer(run: Run, consumer_arn: str) -> None:
    """Drop an enhanced fan-out consumer early (and from the run's ledger)."""
    run.target.client("kinesis").deregister_stream_consumer(ConsumerARN=consumer_arn)
    run.forget(consumer_arn)


def update_shard_count(run: Run, stream: Stream, shards: int) -> list[dict[str, Any]]:
    """Reshard with uniform scaling and wait until ACTIVE; returns the shards (open and closed)."""
    client = run.target.client("kinesis")
    client.update_shard_count(StreamName=stream.name, TargetShardCount=shards, ScalingType="UNIFORM_SCALING")
    wait_active(run, stream.name)
    return list_shards(client, stream.name)


# -- records: put and read ------------------------------------------------------------------------
HASH_SPACE = 2**128
PUT_RECORDS_MAX = 500  # records per PutRecords call


def hash_key(partition_key: str) -> int:
    """Where a partition key lands in the 128-bit hash key space: its MD5, as an integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


def is_open(shard: Mapping[str, Any]) -> bool:
    """A shard is open (still written to) until a reshard gives it an ending sequence number."""
    return "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {})


def list_shards(client: Any, stream_name: str, *, open_only: bool = False) -> list[dict[str, Any]]:
    """Every shard of a stream (or only the open ones), all pages of ListShards."""
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamName": stream_name}
    while True:
        reply = client.list_shards(**kwargs)
        shards.extend(reply["Shards"])
        if not reply.get("NextToken"):
            return [s for s in shards if is_open(s)] if open_only else shards
        kwargs = {"NextToken": reply["NextToken"]}


def put_records(client: Any, stream_name: str, records: Sequence[tuple[bytes, str]]) -> None:
    """Put ``(data, partition key)`` records, 500 per call; raises if Kinesis refuses any."""
    for start in range(0, len(records), PUT_RECORDS_MAX):
        batch = records[start : start + PUT_RECORDS_MAX]
        reply = client.put_records(StreamName=stream_name, Records=[{"Data": d, "PartitionKey": k} for d, k in batch])
        if reply.get("FailedRecordCount"):
            raise RuntimeError(f"stream {stream_name}: Kinesis refused {reply['FailedRecordCount']} of {len(batch)} records")


@dataclass(frozen=True)
class Record:
    """One record read from a shard."""

    shard: str
    sequence: str
    partition_key: str
    data: bytes = field(repr=False)
    arrival: datetime | None = None


def read_shard(
    client: Any,
    stream_name: str,
    shard_id: str,
    iterator_type: str = "TRIM_HORIZON",
    *,
    sequence_number: str | None = None,
    timestamp: datetime | None = None,
    limit: int = 1000,
    max_empty: int = 2,
) -> list[Record]:
    """Everything in one shard from a starting position, until caught up or the shard's end.

    ``iterator_type``: ``TRIM_HORIZON``, ``AT_SEQUENCE_NUMBER`` / ``AFTER_SEQUENCE_NUMBER``
    (with ``sequence_number``), ``AT_TIMESTAMP`` (with ``timestamp``) or ``LATEST``. Stops after
    ``max_empty`` empty reads that are not behind the tip, or when a closed shard has no next
    iterator.
    """
    kwargs: dict[str, Any] = {"StreamName": stream_name, "ShardId": shard_id, "ShardIteratorType": iterator_type}
    if sequence_number is not None:
        kwargs["StartingSequenceNumber"] = sequence_number
    if timestamp is not None:
        kwargs["Timestamp"] = timestamp
    iterator = client.get_shard_iterator(**kwargs)["ShardIterator"]
    records: list[Record] = []
    empty = 0
    while iterator:
        reply = client.get_records(ShardIterator=iterator, Limit=limit)
        batch = reply.get("Records", [])
        records.extend(
            Record(shard_id, r["SequenceNumber"], r["PartitionKey"], r["Data"], r.get("ApproximateArrivalTimestamp"))
            for r in batch
        )
        iterator = reply.get("NextShardIterator")
        if batch:
            empty = 0
            continue
        empty += 1
        if empty >= max_empty and not reply.get("MillisBehindLatest"):
            break
        time.sleep(0.2)
    return records


# -- what a run leaves behind ------------------------------------------------------------------
def _find_streams(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("kinesis").get_paginator("list_streams").paginate():
        yield from (name for name in page.get("StreamNames", []) if name.startswith(prefix))


def _delete_stream(target: Target, name: str) -> None:
    """A stream with its enhanced fan-out consumers (deleted in the background, as AWS does)."""
    target.client("kinesis").delete_stream(StreamName=name, EnforceConsumerDeletion=True)


STREAM = resource_kind("kinesis:stream", _find_streams, _delete_stream)
CONSUMER = resource_kind("kinesis:consumer")  # named by the caller, deleted with its stream
