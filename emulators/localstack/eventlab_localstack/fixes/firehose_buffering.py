"""Firehose to S3: buffering hints, GZIP compression and AWS's object keys.

The bug: LocalStack 2026.3.0's Firehose writes every ``PutRecord``/``PutRecordBatch`` call to
S3 at once, as one uncompressed object: it ignores ``BufferingHints`` and
``CompressionFormat``. Twenty calls become twenty small plain-text objects.

The cause: ``localstack/services/firehose/provider.py``, ``_put_records_to_s3_bucket``
concatenates the call's records and ``put_object``s them straight away; nothing reads
``BufferingHints`` or ``CompressionFormat``, and ``_get_s3_object_path`` leaves the stream
version out of the key.

What AWS does (Amazon Data Firehose developer guide, "Buffering hints" and "Configure Amazon S3
object name format"; API reference, ``BufferingHints``): Firehose buffers incoming records per
destination and delivers them as one object when the buffer reaches ``SizeInMBs`` (MiB) or
when ``IntervalInSeconds`` have passed since it began to fill, whichever comes first (defaults
5 MiB and 300 s; an interval of 0 means no buffering); it concatenates the records as they
came; with ``GZIP`` the object is GZIP data and its key ends in ``.gz``; the key is
``<prefix><YYYY/MM/dd/HH/ unless the prefix has a timestamp expression><stream>-<version>-
<YYYY-MM-DD-HH-MM-SS>-<uuid><extension>`` in UTC, from the oldest record in the object.

The fix keeps one buffer per destination: a record batch is added to it; the buffer is written
when it holds ``SizeInMBs`` or more, or by a one-shot timer ``IntervalInSeconds`` after its
first record (no thread runs while nothing is buffered). Deleting the stream drops what it
still buffers. ZIP, Snappy and Hadoop-Snappy are still written uncompressed (logged).
"""

from __future__ import annotations

import base64
import gzip
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_S = 300
EXTENSIONS = {"GZIP": ".gz", "ZIP": ".zip", "Snappy": ".snappy", "HADOOP_SNAPPY": ".hsnappy"}


@dataclass
class Buffer:
    """What one destination has received and not yet written."""

    stream_name: str
    description: dict[str, Any]
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    first_arrival: datetime | None = None
    timer: threading.Timer | None = None


def hints(description: dict[str, Any]) -> tuple[int, float]:
    """The destination's buffer size in bytes and interval in seconds (AWS's defaults if unset)."""
    given = description.get("BufferingHints") or {}
    return int(given.get("SizeInMBs") or DEFAULT_SIZE_MB) * MIB, float(given.get("IntervalInSeconds", DEFAULT_INTERVAL_S))


def object_key(description: dict[str, Any], stream_name: str, version: str, when: datetime, unique: str) -> str:
    """The key Firehose gives an object of records that first arrived at ``when`` (UTC)."""
    prefix = description.get("Prefix") or ""
    if "!{timestamp:" not in prefix:
        prefix = f"{prefix}{when:%Y/%m/%d/%H}/"
    extension = description.get("FileExtension") or EXTENSIONS.get(str(description.get("CompressionFormat") or ""), "")
    return f"{prefix}{stream_name}-{version}-{when:%Y-%m-%d-%H-%M-%S}-{unique}{extension}"


def encode(data: bytes, compression: str) -> bytes:
    """The object body for ``data`` under the destination's compression format."""
    if compression == "GZIP":
        return gzip.compress(data)
    if compression not in ("", "UNCOMPRESSED"):
        LOG.warning("Firehose compression %s is not implemented here: the object is written uncompressed", compression)
    return data


class Buffers:
    """Every destination's buffer, and the writes they end in."""

    def __init__(self, write: Any, version_of: Any) -> None:
        self._write = write  # (stream_name, description, key, body) -> None
        self._version_of = version_of  # (stream_name, description) -> str
        self._lock = threading.Lock()
        self._buffers: dict[int, Buffer] = {}

    def add(self, stream_name: str, description: dict[str, Any], data: bytes) -> None:
        """Buffer a call's data; write the buffer now if it reached its size, else make sure its timer runs."""
        size_limit, interval = hints(description)
        key = id(description)
        with self._lock:
            buffer = self._buffers.setdefault(key, Buffer(stream_name, description))
            if buffer.first_arrival is None:
                buffer.first_arrival = datetime.now(UTC)
            buffer.chunks.append(data)
            buffer.size += len(data)
            due = interval <= 0 or buffer.size >= size_limit
            if due:
                taken = self._take_locked(key)
            elif buffer.timer is None:
                buffer.timer = threading.Timer(interval, self.flush, args=(key,))
                buffer.timer.daemon = True
                buffer.timer.name = f"firehose-buffer-{stream_name}"
                buffer.timer.start()
        if due and taken is not None:
            self._deliver(taken)

    def flush(self, key: int) -> None:
        """Write a buffer (its interval has passed)."""
        with self._lock:
            taken = self._take_locked(key)
        if taken is not None:
            self._deliver(taken)

    def drop(self, stream_name: str) -> int:
        """Forget every buffer of a deleted stream; returns the bytes dropped."""
        dropped = 0
        with self._lock:
            for key in [k for k, b in self._buffers.items() if b.stream_name == stream_name]:
                buffer = self._buffers.pop(key)
                if buffer.timer is not None:
                    buffer.timer.cancel()
                dropped += buffer.size
        return dropped

    def _take_locked(self, key: int) -> Buffer | None:
        buffer = self._buffers.pop(key, None)
        if buffer is not None and buffer.timer is not None:
            buffer.timer.cancel()
        return buffer if buffer is not None and buffer.chunks else None

    def _deliver(self, buffer: Buffer) -> None:
        description = buffer.description
        when = buffer.first_arrival or datetime.now(UTC)
        version = self._version_of(buffer.stream_name, description)
        key = object_key(description, buffer.stream_name, version, when, str(uuid.uuid4()))
        body = encode(b"".join(buffer.chunks), str(description.get("CompressionFormat") or ""))
        try:
            self._write(buffer.stream_name, description, key, body)
            LOG.debug("Firehose %s: wrote %d bytes as %s", buffer.stream_name, len(body), key)
        except Exception:
            LOG.exception("Firehose %s: could not write %s (%d bytes)", buffer.stream_name, key, len(body))


def apply() -> None:
    from localstack.aws.connect import connect_to
    from localstack.services.firehose.models import firehose_stores
    from localstack.services.firehose.provider import FirehoseProvider
    from localstack.utils.aws.arns import s3_bucket_name
    from localstack.utils.aws.client_types import ServicePrincipal
    from localstack.utils.patch import patch

    def write(stream_name: str, description: dict[str, Any], key: str, body: bytes) -> None:
        if role_arn := description.get("RoleARN"):
            factory = connect_to.with_assumed_role(role_arn=role_arn, service_principal=ServicePrincipal.firehose)
        else:
            factory = connect_to()
        s3 = factory.s3.request_metadata(source_arn=stream_name, service_principal=ServicePrincipal.firehose)
        s3.put_object(Bucket=s3_bucket_name(description["BucketARN"]), Key=key, Body=body)

    def version_of(stream_name: str, description: dict[str, Any]) -> str:
        for regions in list(firehose_stores.values()):
            for store in list(regions.values()):
                stream = store.delivery_streams.get(stream_name)
                if stream and any(description is d for dest in stream.get("Destinations", []) for d in dest.values()):
                    return str(stream.get("VersionId") or "1")
        return "1"

    buffers = Buffers(write, version_of)

    @patch(FirehoseProvider._put_records_to_s3_bucket)
    def _put_records_to_s3_bucket(fn: Any, self: FirehoseProvider, stream_name: str, records: list[dict], s3_destination_description: dict[str, Any]) -> None:
        data = b"".join(base64.b64decode(r.get("Data") or r.get("data")) for r in records)
        buffers.add(stream_name, s3_destination_description, data)

    @patch(FirehoseProvider.delete_delivery_stream)
    def delete_delivery_stream(fn: Any, self: FirehoseProvider, context: Any, delivery_stream_name: str, *args: Any, **kwargs: Any) -> Any:
        result = fn(self, context, delivery_stream_name, *args, **kwargs)
        dropped = buffers.drop(delivery_stream_name)
        if dropped:
            LOG.info("Firehose %s deleted with %d buffered bytes undelivered", delivery_stream_name, dropped)
        return result
