"""Firehose to S3 cases: buffering by size and by interval, GZIP, object keys (notebook 04)."""

from __future__ import annotations

import gzip
import re
import time

from eventlab.fidelity.model import Case, doc
from eventlab.run import Run
from eventlab.services import firehose, s3
from eventlab.services.firehose import Compression, DeliveryStream

BUFFERING = "https://docs.aws.amazon.com/firehose/latest/dev/buffering-hints.html"
BUFFERING_HINTS = "https://docs.aws.amazon.com/goto/WebAPI/firehose-2015-08-04/BufferingHints"
OBJECT_NAME = "https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html"
PREFIXES = "https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html"
DELIVERY = "https://docs.aws.amazon.com/firehose/latest/dev/basic-deliver.html"

GZIP_MAGIC = b"\x1f\x8b"
MIB = 1024 * 1024


def _delivery(run: Run, *, seconds: int, mb: int = 1, compression: Compression = "UNCOMPRESSED") -> DeliveryStream:
    bucket = s3.create_bucket(run, "fh")
    return firehose.create_delivery_stream_to_s3(run, "fh", bucket, buffer_seconds=seconds, buffer_mb=mb, compression=compression)


def _put(run: Run, stream: DeliveryStream, records: list[bytes]) -> None:
    reply = run.target.client("firehose").put_record_batch(DeliveryStreamName=stream.name, Records=[{"Data": r} for r in records])
    if reply.get("FailedPutCount"):
        raise RuntimeError(f"{stream.name}: {reply['FailedPutCount']} record(s) refused")


def _objects(run: Run, stream: DeliveryStream) -> list[tuple[str, bytes]]:
    client = run.target.client("s3")
    keys = sorted(s3.list_objects(run, stream.bucket, stream.prefix))
    return [(key, client.get_object(Bucket=stream.bucket.name, Key=key)["Body"].read()) for key in keys]


def _wait_objects(run: Run, stream: DeliveryStream, timeout: float, *, settle: float = 0.0) -> list[tuple[str, bytes]]:
    """The objects once there are some (then ``settle`` seconds more), or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (found := _objects(run, stream)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if found and settle:
        time.sleep(settle)
        found = _objects(run, stream)
    return found


def _text(body: bytes) -> str:
    return (gzip.decompress(body) if body[:2] == GZIP_MAGIC else body).decode()


def interval_flush(run: Run) -> str:
    """Three calls within a 3 s interval, far below the size: one object when the interval ends."""
    stream = _delivery(run, seconds=3)
    for call in range(3):
        _put(run, stream, [f"{call}-{n}\n".encode() for n in range(5)])
    objects = _wait_objects(run, stream, 20, settle=1.0)
    records = sum(len(_text(body).splitlines()) for _, body in objects)
    return f"{len(objects)} object(s) holding {records} records"


def size_flush(run: Run) -> str:
    """600 KiB, then 600 KiB more, with a 15-minute interval: nothing until the buffer holds 1 MiB."""
    stream = _delivery(run, seconds=900, mb=1)
    chunk = b"x" * (600 * 1024)
    _put(run, stream, [chunk])
    early = _wait_objects(run, stream, 2.0)
    _put(run, stream, [chunk])
    late = _wait_objects(run, stream, 15.0)
    if early:
        return f"delivered below 1 MiB ({len(early)} object(s) of {sum(len(b) for _, b in early) // 1024} KiB)"
    return "held below 1 MiB; delivered once it reached 1 MiB" if late else "nothing delivered before the interval"


def zero_interval(run: Run) -> str:
    stream = _delivery(run, seconds=0)
    _put(run, stream, [b"now\n"])
    return "delivered within seconds" if _wait_objects(run, stream, 10) else "not delivered within 10 s"


def concatenation(run: Run) -> str:
    stream = _delivery(run, seconds=2)
    _put(run, stream, [b"a", b"b"])
    _put(run, stream, [b"c"])
    objects = _wait_objects(run, stream, 15, settle=2.5)
    texts = [_text(b) for _, b in objects]
    if len(texts) > 1:  # objects written in the same second: their keys' order is their uuids'
        texts.sort()
    return f"{len(objects)} object(s): {' | '.join(texts)!r}"


def gzip_objects(run: Run) -> str:
    stream = _delivery(run, seconds=1, compression="GZIP")
    lines = [f"{n}\n".encode() for n in range(10)]
    _put(run, stream, lines)
    objects = _wait_objects(run, stream, 15, settle=1.0)
    if not objects:
        return "nothing delivered"
    described = [
        f"key ends .gz: {'yes' if key.endswith('.gz') else 'no'}, GZIP data: {'yes' if body[:2] == GZIP_MAGIC else 'no'}, "
        f"records in order: {'yes' if _text(body).encode() == b''.join(lines) else 'no'}"
        for key, body in objects
    ]
    if len(described) > 1 and len(set(described)) == 1:
        return f"{len(described)} objects, each: {described[0]}"
    return "; ".join(described)


def key_layout(run: Run) -> str:
    stream = _delivery(run, seconds=1)
    _put(run, stream, [b"k\n"])
    objects = _wait_objects(run, stream, 15)
    if not objects:
        return "nothing delivered"
    key = objects[0][0]
    pattern = (re.escape(stream.prefix) + r"\d{4}/\d{2}/\d{2}/\d{2}/" + re.escape(stream.name)
               + r"-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}")
    if re.fullmatch(pattern, key):
        return "<prefix>YYYY/MM/dd/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>"
    return key.replace(stream.prefix, "<prefix>", 1).replace(stream.name, "<stream>")


CASES = [
    Case("firehose.buffer.interval", "firehose", "calls within the buffering interval become one object when it ends",
         "1 object(s) holding 15 records",
         doc(BUFFERING, "Firehose buffers incoming data up to a size and for an interval; the first buffer condition satisfied triggers delivery."),
         interval_flush, fixed_by="firehose-buffering"),
    Case("firehose.buffer.size", "firehose", "a buffer that reaches SizeInMBs is delivered before the interval",
         "held below 1 MiB; delivered once it reached 1 MiB",
         doc(BUFFERING_HINTS, "SizeInMBs: buffer incoming data to the specified size, in MiBs, before delivering it; with BufferingHints the first condition met triggers delivery."),
         size_flush, fixed_by="firehose-buffering"),
    Case("firehose.buffer.zero-interval", "firehose", "a buffering interval of zero delivers at once",
         "delivered within seconds",
         doc(BUFFERING, "With a zero buffering interval Firehose does not buffer data and delivers it within a few seconds."),
         zero_interval),
    Case("firehose.s3.concatenation", "firehose", "records are concatenated into the object as they came, without delimiters",
         "1 object(s): 'abc'",
         doc(DELIVERY, "For Amazon S3, Firehose concatenates the incoming records, by default without any delimiters, and delivers them as one object."),
         concatenation, fixed_by="firehose-buffering"),
    Case("firehose.s3.gzip", "firehose", "GZIP compression: compressed objects whose keys end in .gz",
         "key ends .gz: yes, GZIP data: yes, records in order: yes",
         doc(OBJECT_NAME, "With compression enabled Firehose appends the file extension of the format to the object key: .gz for GZIP."),
         gzip_objects, fixed_by="firehose-buffering"),
    Case("firehose.s3.key-layout", "firehose", "object keys: prefix, UTC hour folders, stream name and version, time, uuid",
         "<prefix>YYYY/MM/dd/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>",
         doc(PREFIXES, "Keys are <evaluated prefix><stream name>-<stream version>-<year>-<month>-<day>-<hour>-<minute>-<second>-<uuid><extension>; a prefix without a timestamp expression gets yyyy/MM/dd/HH/ appended."),
         key_layout, fixed_by="firehose-buffering"),
]
