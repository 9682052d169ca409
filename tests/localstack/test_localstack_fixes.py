"""The parts of eventlab's LocalStack fixes that need no LocalStack: choosing them, replay
windows, Firehose buffers and keys, the write signal of enhanced fan-out."""

from __future__ import annotations

import ast
import gzip
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eventlab_localstack import fixes
from eventlab_localstack.fixes import firehose_buffering as fh
from eventlab_localstack.fixes import replay
from eventlab_localstack.fixes.subscribe_to_shard import Writes, stream_key

PACKAGE = Path(fixes.__file__).resolve().parents[1]


def test_the_plugin_imports_nothing_from_eventlab() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "eventlab" or n.startswith("eventlab.") for n in names), f"{path} imports {names}"


def test_every_fix_module_says_what_it_fixes() -> None:
    for module in fixes.FIXES.values():
        doc = (PACKAGE / "fixes" / f"{module}.py").read_text()
        assert "The bug" in doc and "cause" in doc and "What AWS does" in doc, module


@pytest.mark.parametrize(("value", "expected"), [
    (None, list(fixes.FIXES)), ("all", list(fixes.FIXES)), ("none", []), ("0", []),
    ("replay, firehose-buffering", ["replay", "firehose-buffering"]),
])
def test_the_setting_chooses_the_fixes(value: str | None, expected: list[str]) -> None:
    assert fixes.chosen(value) == expected


def test_an_unknown_fix_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown fix.*'replays'.*input-template"):
        fixes.chosen("replays")


# -- replay --------------------------------------------------------------------------------------
def at(minute: int, second: int = 0) -> str:
    return f"2026-12-01T10:{minute:02d}:{second:02d}Z"


def test_a_replay_window_is_inclusive_and_ordered_by_minute() -> None:
    archived = [{"id": "late", "time": at(3, 10)}, {"id": "early", "time": at(1, 50)}, {"id": "early-2", "time": at(1, 5)},
                {"id": "outside", "time": at(5)}, {"id": "edge", "time": at(1)}]
    start, end = datetime(2026, 12, 1, 10, 1, 0, 400_000, tzinfo=UTC), datetime(2026, 12, 1, 10, 3, 10, tzinfo=UTC)
    # minute 10:01 first (archive order within it), then 10:03; 10:05 is past the end
    assert [e["id"] for e in replay.in_window(archived, start, end)] == ["early", "early-2", "edge", "late"]


def test_a_replayed_entry_keeps_the_event_and_names_the_replay() -> None:
    event = {"source": "shop", "detail-type": "Order", "detail": {"n": 1}, "time": at(2), "resources": ["arn:x"]}
    entry = replay.replay_entry(event, "bus", "nightly")
    assert entry["Time"] == datetime(2026, 12, 1, 10, 2, tzinfo=UTC) and entry["ReplayName"] == "nightly"
    assert (entry["Source"], entry["DetailType"], entry["Detail"], entry["Resources"]) == ("shop", "Order", '{"n": 1}', ["arn:x"])


# -- Firehose ------------------------------------------------------------------------------------
WHEN = datetime(2026, 12, 1, 9, 5, 7, tzinfo=UTC)


def test_object_keys_follow_the_aws_layout() -> None:
    plain = fh.object_key({"Prefix": "lake/"}, "clicks", "1", WHEN, "u")
    assert plain == "lake/2026/12/01/09/clicks-1-2026-12-01-09-05-07-u"
    assert fh.object_key({"Prefix": "lake/", "CompressionFormat": "GZIP"}, "clicks", "3", WHEN, "u").endswith("clicks-3-2026-12-01-09-05-07-u.gz")
    assert fh.object_key({"Prefix": "p/!{timestamp:yyyy}/"}, "s", "1", WHEN, "u") == "p/!{timestamp:yyyy}/s-1-2026-12-01-09-05-07-u"
    assert fh.object_key({"CompressionFormat": "GZIP", "FileExtension": ".json.gz"}, "s", "1", WHEN, "u").endswith("-u.json.gz")


def test_hints_default_to_aws_defaults() -> None:
    assert fh.hints({}) == (5 * fh.MIB, 300.0)
    assert fh.hints({"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}) == (fh.MIB, 0.0)


class Bucket:
    """Collects what the buffers write."""

    def __init__(self) -> None:
        self.objects: list[tuple[str, bytes]] = []
        self.written = threading.Event()

    def write(self, stream: str, description: dict[str, Any], key: str, body: bytes) -> None:
        self.objects.append((key, body))
        self.written.set()


def buffers() -> tuple[fh.Buffers, Bucket]:
    bucket = Bucket()
    return fh.Buffers(bucket.write, lambda stream, description: "1"), bucket


def test_a_full_buffer_is_written_at_once_and_in_order() -> None:
    store, bucket = buffers()
    description = {"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}, "CompressionFormat": "GZIP"}
    store.add("s", description, b"a" * (fh.MIB // 2))
    assert bucket.objects == []
    store.add("s", description, b"b" * (fh.MIB // 2))
    [(key, body)] = bucket.objects
    assert key.endswith(".gz") and gzip.decompress(body) == b"a" * (fh.MIB // 2) + b"b" * (fh.MIB // 2)
    assert store.drop("s") == 0, "nothing left buffered, no timer left running"


def test_the_interval_writes_what_arrived_since_the_first_record() -> None:
    store, bucket = buffers()
    description = {"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0.3}}
    store.add("s", description, b"1")
    store.add("s", description, b"2")
    assert bucket.objects == []
    assert bucket.written.wait(5)
    assert [body for _, body in bucket.objects] == [b"12"]


def test_zero_interval_writes_each_call() -> None:
    store, bucket = buffers()
    description = {"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}
    store.add("s", description, b"x")
    store.add("s", description, b"y")
    assert [body for _, body in bucket.objects] == [b"x", b"y"]


def test_a_deleted_stream_drops_its_buffer_and_its_timer() -> None:
    store, bucket = buffers()
    store.add("s", {"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0.2}}, b"lost")
    assert store.drop("s") == 4
    time.sleep(0.4)
    assert bucket.objects == []


# -- enhanced fan-out ------------------------------------------------------------------------------
def test_a_write_wakes_a_waiting_subscription_at_once() -> None:
    writes, key = Writes(), stream_key("000000000000", "us-east-1", None, "arn:aws:kinesis:us-east-1:000000000000:stream/s")
    assert key == ("000000000000", "us-east-1", "s")
    seen = writes.count(key)
    threading.Timer(0.05, writes.bump, args=(key,)).start()
    started = time.monotonic()
    assert writes.wait(key, seen, timeout=5) and time.monotonic() - started < 4
    assert not writes.wait(key, writes.count(key), timeout=0.05), "no write, the wait times out"
