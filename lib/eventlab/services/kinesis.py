"""Kinesis Data Streams: provisioned or on-demand streams, waited for until usable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from eventlab.run import Run, resource_kind
from eventlab.target import Target

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
    for _ in range(120):
        status = client.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]["ConsumerStatus"]
        if status == "ACTIVE":
            return str(arn)
        time.sleep(0.5)
    raise TimeoutError(f"EFO consumer {consumer_name} on {stream.name} did not become ACTIVE")


def update_shard_count(run: Run, stream: Stream, shards: int) -> list[dict]:
    """Reshard with uniform scaling and wait until ACTIVE; returns the shards (open and closed)."""
    client = run.target.client("kinesis")
    client.update_shard_count(StreamName=stream.name, TargetShardCount=shards, ScalingType="UNIFORM_SCALING")
    wait_active(run, stream.name)
    return list(client.list_shards(StreamName=stream.name)["Shards"])


# -- what a run leaves behind ------------------------------------------------------------------
def _find_streams(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("kinesis").get_paginator("list_streams").paginate():
        yield from (name for name in page.get("StreamNames", []) if name.startswith(prefix))


def _delete_stream(target: Target, name: str) -> None:
    """A stream with its enhanced fan-out consumers (deleted in the background, as AWS does)."""
    target.client("kinesis").delete_stream(StreamName=name, EnforceConsumerDeletion=True)


STREAM = resource_kind("kinesis:stream", _find_streams, _delete_stream)
CONSUMER = resource_kind("kinesis:consumer")  # named by the caller, deleted with its stream
