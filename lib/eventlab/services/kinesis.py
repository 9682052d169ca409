"""Kinesis Data Streams: provisioned or on-demand streams, waited for until usable."""

from __future__ import annotations

from dataclasses import dataclass

from eventlab.run import Run

MAX_NAME = 128


@dataclass(frozen=True)
class Stream:
    name: str
    arn: str


def create_stream(
    run: Run, base: str, *, shard_count: int | None = 1, on_demand: bool = False
) -> Stream:
    """Create a stream and wait until it is ACTIVE; deletion waits until it is gone."""
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
        client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
        client.get_waiter("stream_not_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )

    # Tracked before the wait: a stream that never turns ACTIVE is still deleted.
    run.track("kinesis:stream", name, name, delete)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    arn = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return Stream(name=name, arn=arn)
