"""Kinesis Data Firehose delivery streams to S3, direct or reading a Kinesis stream."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.services import iam, s3
from eventlab.services.kinesis import Stream
from eventlab.services.s3 import Bucket
from eventlab.target import Target
from eventlab.waiting import until, until_gone

log = logging.getLogger(__name__)

# Limits from the Firehose API reference; the topology validator reads them here.
MAX_NAME = 64
NAME_PATTERN = r"[a-zA-Z0-9_.-]+"
BUFFER_SECONDS = (0, 900)
BUFFER_MB = (1, 128)
PREFIX_MAX_CHARS = 1_024
ROLE_SUFFIX = "-firehose"
PRINCIPAL = "firehose.amazonaws.com"  # assumes a delivery stream's role
GZIP_MAGIC = b"\x1f\x8b"
Compression = Literal["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"]


@dataclass(frozen=True)
class DeliveryStream:
    name: str
    arn: str
    bucket: Bucket
    prefix: str


def create_delivery_stream_to_s3(
    run: Run,
    base: str,
    bucket: Bucket,
    *,
    source: Stream | None = None,
    prefix: str = "",
    buffer_seconds: int = 60,
    buffer_mb: int = 1,
    compression: Compression = "UNCOMPRESSED",
) -> DeliveryStream:
    """A delivery stream into ``bucket``, with a role allowed only that bucket (and stream)."""
    if not BUFFER_SECONDS[0] <= buffer_seconds <= BUFFER_SECONDS[1] or not BUFFER_MB[0] <= buffer_mb <= BUFFER_MB[1]:
        raise ValueError(f"Firehose buffering: {BUFFER_SECONDS[0]}-{BUFFER_SECONDS[1]} seconds and {BUFFER_MB[0]}-{BUFFER_MB[1]} MB.")
    name = run.name(base, max_length=MAX_NAME)
    # Firehose writes the bucket's objects and reads back what it uploads in parts (AWS's list).
    statements = [*policies.may_send_to(bucket.arn), *policies.may_read_from(bucket.arn)]
    if source is not None:
        statements += policies.may_read_from(source.arn)
    role = iam.create_role(run, role_base(base), service=PRINCIPAL, policy=policies.document(*statements))
    prefix = prefix or default_prefix(name)
    kwargs: dict = {
        "DeliveryStreamName": name,
        "ExtendedS3DestinationConfiguration": {
            "RoleARN": role.arn,
            "BucketARN": bucket.arn,
            "Prefix": prefix,
            "ErrorOutputPrefix": error_prefix(name),
            "BufferingHints": {"IntervalInSeconds": buffer_seconds, "SizeInMBs": buffer_mb},
            "CompressionFormat": compression,
        },
        "Tags": run.tag_list(),
    }
    if source is not None:
        kwargs["DeliveryStreamType"] = "KinesisStreamAsSource"
        kwargs["KinesisStreamSourceConfiguration"] = {"KinesisStreamARN": source.arn, "RoleARN": role.arn}
    else:
        kwargs["DeliveryStreamType"] = "DirectPut"
        kwargs["DeliveryStreamEncryptionConfigurationInput"] = {"KeyType": "AWS_OWNED_CMK"}
    client = run.target.client("firehose")
    arn = client.create_delivery_stream(**kwargs)["DeliveryStreamARN"]

    def delete() -> None:
        _delete_delivery_stream(run.target, name)
        until_gone(lambda: client.describe_delivery_stream(DeliveryStreamName=name), client.exceptions.ResourceNotFoundException,
                   what=f"delivery stream {name}", interval=1)

    run.track(DELIVERY_STREAM, name, arn, delete)
    wait_active(run, name)
    return DeliveryStream(name=name, arn=arn, bucket=bucket, prefix=prefix)


def role_base(base: str) -> str:
    """The base name of a delivery stream's role (distinct from a function's ``-role``)."""
    return f"{base}{ROLE_SUFFIX}"


def default_prefix(name: str) -> str:
    """Where a delivery stream writes when no prefix is given: a folder named after it."""
    return f"{name}/"


def error_prefix(name: str) -> str:
    """Where a delivery stream writes the records it could not deliver."""
    return f"errors/{name}/"


def put_record_batch(run: Run, stream: DeliveryStream, records: Sequence[Mapping[str, Any]], *, batch: int = 100) -> int:
    """PutRecordBatch the records as newline-delimited JSON, ``batch`` per call; returns the calls.
    Raises when Firehose rejects any."""
    client = run.target.client("firehose")
    calls = 0
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        reply = client.put_record_batch(
            DeliveryStreamName=stream.name,
            Records=[{"Data": (json.dumps(r, separators=(",", ":")) + "\n").encode()} for r in chunk],
        )
        if reply.get("FailedPutCount"):
            raise RuntimeError(f"{stream.name}: {reply['FailedPutCount']} record(s) rejected")
        calls += 1
    return calls


@dataclass(frozen=True)
class DeliveredObject:
    """One object a delivery stream wrote: its key, size, whether it is GZIP, and its lines."""

    key: str
    size: int
    gzip: bool
    lines: tuple[str, ...] = field(repr=False)


def delivered_objects(run: Run, stream: DeliveryStream) -> list[DeliveredObject]:
    """The objects under the delivery stream's prefix, read back (GZIP recognised by its magic bytes)."""
    out = []
    for key, body in s3.read_objects(run, stream.bucket.name, stream.prefix):
        compressed = body[:2] == GZIP_MAGIC
        text = (gzip.decompress(body) if compressed else body).decode()
        out.append(DeliveredObject(key, len(body), compressed, tuple(line for line in text.splitlines() if line)))
    return out


def wait_for_delivery(run: Run, stream: DeliveryStream, records: int, *, timeout: float = 120.0) -> list[DeliveredObject]:
    """Poll S3 until the delivery stream's objects hold ``records`` lines (or ``timeout``)."""
    objects: list[DeliveredObject] = []

    def arrived() -> bool:
        objects[:] = delivered_objects(run, stream)
        return sum(len(o.lines) for o in objects) >= records

    if not until(arrived, timeout=timeout, interval=1.0):
        log.warning("%s: %d of %d records in S3 after %.0f s", stream.name, sum(len(o.lines) for o in objects), records, timeout)
    return objects


def wait_active(run: Run, name: str, timeout: float = 120) -> None:
    """Wait until a delivery stream accepts records."""
    client = run.target.client("firehose")

    def settled() -> str:
        """Its status once it is ACTIVE or has FAILED; "" while it is still being created."""
        status = str(client.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]["DeliveryStreamStatus"])
        return status if status == "ACTIVE" or status.endswith("FAILED") else ""

    status = until(settled, timeout=timeout, interval=1)
    if status != "ACTIVE":
        raise RuntimeError(f"delivery stream {name} is {status or 'still not ACTIVE'} after {timeout:.0f} s")


# -- what a run leaves behind ------------------------------------------------------------------
def _find_delivery_streams(target: Target, prefix: str) -> Iterator[str]:
    client = target.client("firehose")
    start: str | None = None
    while True:
        kwargs = {"Limit": 100, **({"ExclusiveStartDeliveryStreamName": start} if start else {})}
        reply = client.list_delivery_streams(**kwargs)
        names = reply.get("DeliveryStreamNames", [])
        yield from (name for name in names if name.startswith(prefix))
        if not reply.get("HasMoreDeliveryStreams") or not names:
            return
        start = names[-1]


def _delete_delivery_stream(target: Target, name: str) -> None:
    target.client("firehose").delete_delivery_stream(DeliveryStreamName=name, AllowForceDelete=True)


DELIVERY_STREAM = resource_kind("firehose:delivery-stream", _find_delivery_streams, _delete_delivery_stream)
