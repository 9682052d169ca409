"""Kinesis Data Streams cases: order per shard, shard iterator types, enhanced fan-out (notebook 04)."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from eventlab.experiments import streams
from eventlab.fidelity.model import Case, doc
from eventlab.run import Run
from eventlab.services import cloudwatch, kinesis

PUT_RECORD = "https://docs.aws.amazon.com/sdk-for-sap-abap/v1/api/latest/kns/operation/PUTRECORD.html"
GET_SHARD_ITERATOR = "https://docs.aws.amazon.com/powershell/latest/reference/items/Get-KINShardIterator.html"
SUBSCRIBE_TO_SHARD = "https://docs.aws.amazon.com/goto/WebAPI/kinesis-2013-12-02/SubscribeToShard"
ENHANCED_FAN_OUT = "https://docs.aws.amazon.com/streams/latest/dev/enhanced-consumers.html"
AFTER_RESHARDING = "https://docs.aws.amazon.com/streams/latest/dev/kinesis-using-sdk-java-after-resharding.html"

KEY = "k"  # one partition key: every record lands on the stream's one shard


def _stream(run: Run) -> tuple[kinesis.Stream, str]:
    """A one-shard, unencrypted stream (quick to create) and its shard id."""
    stream = kinesis.create_stream(run, "ks", shard_count=1, encrypted=False)
    shard = run.target.client("kinesis").list_shards(StreamName=stream.name)["Shards"][0]["ShardId"]
    return stream, shard


def _put(run: Run, stream: kinesis.Stream, values: range | list[int]) -> list[str]:
    """PutRecord each value (data = its number) one call at a time; returns the sequence numbers."""
    client = run.target.client("kinesis")
    return [client.put_record(StreamName=stream.name, Data=str(v).encode(), PartitionKey=KEY)["SequenceNumber"] for v in values]


def _read(run: Run, stream: kinesis.Stream, shard: str, iterator_type: str, sequence: str = "") -> list[int]:
    """Read the shard from an iterator of that type to its current end; the values, in order."""
    client = run.target.client("kinesis")
    kwargs: dict[str, Any] = {"StartingSequenceNumber": sequence} if sequence else {}
    iterator = client.get_shard_iterator(StreamName=stream.name, ShardId=shard, ShardIteratorType=iterator_type, **kwargs)["ShardIterator"]
    values: list[int] = []
    for _ in range(20):  # a few empty reads in a row mean the end
        reply = client.get_records(ShardIterator=iterator, Limit=1000)
        values += [int(r["Data"]) for r in reply["Records"]]
        iterator = reply.get("NextShardIterator")
        if not reply["Records"] and (not iterator or reply.get("MillisBehindLatest", 0) == 0):
            break
    return values


def _in_order(values: list[int], expected: list[int]) -> str:
    if values == expected:
        return f"records {expected[0]} to {expected[-1]} in order" if expected else "no records"
    return f"records {values}"


def order_per_shard(run: Run) -> str:
    stream, shard = _stream(run)
    sequences = _put(run, stream, range(10))
    rising = all(int(a) < int(b) for a, b in itertools.pairwise(sequences))
    return _in_order(_read(run, stream, shard, "TRIM_HORIZON"), list(range(10))) + ("" if rising else "; sequence numbers not rising")


def iterator_case(iterator_type: str, expected: list[int], says: str) -> Case:
    """Five records, the iterator taken at record 2 (or after them, for LATEST), five more."""

    def check(run: Run) -> str:
        stream, shard = _stream(run)
        sequences = _put(run, stream, range(5))
        client = run.target.client("kinesis")
        if iterator_type == "LATEST":
            iterator = client.get_shard_iterator(StreamName=stream.name, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
            _put(run, stream, range(5, 10))
            values = [int(r["Data"]) for r in client.get_records(ShardIterator=iterator)["Records"]]
        else:
            _put(run, stream, range(5, 10))
            values = _read(run, stream, shard, iterator_type, sequences[2] if "SEQUENCE" in iterator_type else "")
        return _in_order(values, expected)

    return Case(f"kinesis.iterator.{iterator_type.lower().replace('_', '-')}", "kinesis",
                f"GetShardIterator {iterator_type}", _in_order(expected, expected), doc(GET_SHARD_ITERATOR, says), check)


class Subscription:
    """One SubscribeToShard, its events read on a thread into a queue (with their arrival time)."""

    def __init__(self, run: Run, consumer_arn: str, shard: str, position: dict[str, Any]) -> None:
        self.client = run.target.client("kinesis")
        reply = self.client.subscribe_to_shard(ConsumerARN=consumer_arn, ShardId=shard, StartingPosition=position)
        self.stream = reply["EventStream"]
        self.records: queue.Queue[tuple[float, int]] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True, name="fidelity-efo")
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                arrived = time.monotonic()
                for record in (event.get("SubscribeToShardEvent") or {}).get("Records", []):
                    self.records.put((arrived, int(record["Data"])))
        except Exception:  # noqa: BLE001 - the stream ends when it is closed
            pass

    def take(self, count: int, timeout: float = 15.0) -> Iterator[tuple[float, int]]:
        deadline = time.monotonic() + timeout
        for _ in range(count):
            try:
                yield self.records.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return

    def close(self) -> None:
        try:
            self.stream.close()
        except Exception:  # noqa: BLE001 - closing a half-read stream may complain
            pass


def _consumer(run: Run, stream: kinesis.Stream) -> str:
    return kinesis.register_stream_consumer(run, stream, run.name("efo"))


def efo_order(run: Run) -> str:
    stream, shard = _stream(run)
    _put(run, stream, range(10))
    subscription = Subscription(run, _consumer(run, stream), shard, {"Type": "TRIM_HORIZON"})
    try:
        return _in_order([v for _, v in subscription.take(10)], list(range(10)))
    finally:
        subscription.close()


def efo_latest(run: Run) -> str:
    stream, shard = _stream(run)
    _put(run, stream, range(3))
    subscription = Subscription(run, _consumer(run, stream), shard, {"Type": "LATEST"})
    try:
        time.sleep(0.3)
        _put(run, stream, range(3, 6))
        got = [v for _, v in subscription.take(3)]
        got += [v for _, v in subscription.take(10, timeout=1.0)]
        return _in_order(got, [3, 4, 5])
    finally:
        subscription.close()


def efo_after_sequence(run: Run) -> str:
    stream, shard = _stream(run)
    sequences = _put(run, stream, range(6))
    subscription = Subscription(run, _consumer(run, stream), shard, {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": sequences[2]})
    try:
        return _in_order([v for _, v in subscription.take(3)], [3, 4, 5])
    finally:
        subscription.close()


def efo_prompt(run: Run) -> str:
    """Records written one at a time during an open subscription: each is pushed in the next
    non-empty event, alone and in order, before the next is written. Judged by the events, not
    by the clock (the push delay, a timing, is measured by ``eventlab bench``)."""
    stream, shard = _stream(run)
    subscription = Subscription(run, _consumer(run, stream), shard, {"Type": "LATEST"})
    try:
        time.sleep(0.5)  # the subscription has read the empty shard and is waiting
        pushed = []
        for value in (1, 2, 3):
            _put(run, stream, [value])
            got = [v for _, v in subscription.take(1)]
            pushed.append(got[0] if got else None)
        if pushed == [1, 2, 3] and subscription.records.empty():
            return "each record pushed in the next non-empty event, in order"
        return f"pushed {pushed}"
    finally:
        subscription.close()


def efo_resubscribe(run: Run) -> str:
    stream, shard = _stream(run)
    consumer = _consumer(run, stream)
    first = Subscription(run, consumer, shard, {"Type": "LATEST"})
    try:
        second = Subscription(run, consumer, shard, {"Type": "LATEST"})
        second.close()
        return "the second subscription is accepted"
    except ClientError as error:
        return f"rejected with {error.response.get('Error', {}).get('Code', '')}"
    finally:
        first.close()


def reshard_keeps_parent(run: Run) -> str:
    """Three records in a one-shard stream, UpdateShardCount to 2: what became of the shard."""
    stream, shard = _stream(run)
    _put(run, stream, range(3))
    shards = kinesis.update_shard_count(run, stream, 2)
    parent = next((s for s in shards if s["ShardId"] == shard), None)
    children = [s for s in shards if s.get("ParentShardId") == shard]
    if parent is None:
        return f"the parent is gone; {len(children)} of {len(shards)} shards name it"
    state = "open" if kinesis.is_open(parent) else "closed"
    kept = kinesis.read_shard(run.target.client("kinesis"), stream.name, shard)  # to a closed shard's end
    return f"the parent is {state} with {len(kept)} of its 3 records; {len(children)} children name it"


CASES = [
    Case("kinesis.order.per-shard", "kinesis", "records of one partition key come back in the order they were written",
         "records 0 to 9 in order",
         doc(PUT_RECORD, "All records with the same partition key map to the same shard; sequence numbers increase over time within a shard."),
         order_per_shard),
    iterator_case("TRIM_HORIZON", list(range(10)), "TRIM_HORIZON starts at the oldest record in the shard."),
    iterator_case("AT_SEQUENCE_NUMBER", list(range(2, 10)), "AT_SEQUENCE_NUMBER starts reading exactly at the given sequence number."),
    iterator_case("AFTER_SEQUENCE_NUMBER", list(range(3, 10)), "AFTER_SEQUENCE_NUMBER starts reading right after the given sequence number."),
    iterator_case("LATEST", list(range(5, 10)), "LATEST starts just after the most recent record, so only records written afterwards are read."),
    Case("kinesis.efo.order", "kinesis", "SubscribeToShard pushes a shard's records in order",
         "records 0 to 9 in order",
         doc(SUBSCRIBE_TO_SHARD, "Once the subscription is established, Kinesis Data Streams pushes the shard's records to the consumer over it."),
         efo_order),
    Case("kinesis.efo.latest", "kinesis", "a LATEST subscription pushes only records written after it",
         "records 3 to 5 in order",
         doc(SUBSCRIBE_TO_SHARD, "StartingPosition says where in the shard the subscription starts, with the iterator types of GetShardIterator."),
         efo_latest),
    Case("kinesis.efo.after-sequence-number", "kinesis", "an AFTER_SEQUENCE_NUMBER subscription resumes right after a checkpoint",
         "records 3 to 5 in order",
         doc(SUBSCRIBE_TO_SHARD, "StartingPosition AFTER_SEQUENCE_NUMBER with a sequence number starts right after that record."),
         efo_after_sequence),
    Case("kinesis.efo.prompt", "kinesis", "records written during a subscription are pushed as they come, one event each",
         "each record pushed in the next non-empty event, in order",
         doc(ENHANCED_FAN_OUT, "Kinesis pushes records to enhanced fan-out consumers, with a typical message propagation delay of about 70 ms (about 200 ms for a shared-throughput consumer)."),
         efo_prompt, fixed_by="subscribe-to-shard"),
    Case("kinesis.efo.resubscribe-within-5s", "kinesis", "a second SubscribeToShard within 5 seconds is refused",
         "rejected with ResourceInUseException",
         doc(SUBSCRIBE_TO_SHARD, "Calling SubscribeToShard again with the same consumer and shard within 5 seconds of a successful call gives ResourceInUseException."),
         efo_resubscribe),
    Case("kinesis.reshard.parent-kept", "kinesis", "after a reshard the parent shard is closed, still readable, and its children name it",
         "the parent is closed with 3 of its 3 records; 2 children name it",
         doc(AFTER_RESHARDING, "After a reshard the parent shards are closed: they take no new records but their data stays readable for the retention period, and each child shard names its parent."),
         reshard_keeps_parent),
]


# -- resharding lineage and limits ---------------------------------------------------------------
RESHARDING = "https://docs.aws.amazon.com/streams/latest/dev/kinesis-using-sdk-java-after-resharding.html"
SPLIT_SHARD = "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_SplitShard.html"
MERGE_SHARDS = "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_MergeShards.html"
PUT_RECORD_API = "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecord.html"
PUT_RECORDS_API = "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html"


def split_lineage(run: Run) -> str:
    stream, shard = _stream(run)
    client = run.target.client("kinesis")
    client.split_shard(StreamName=stream.name, ShardToSplit=shard, NewStartingHashKey=str(2**127))
    kinesis.wait_active(run, stream.name)
    shards = kinesis.list_shards(client, stream.name)
    children = [s for s in shards if s["ShardId"] != shard]
    parent = next((s for s in shards if s["ShardId"] == shard), None)
    parents = {s.get("ParentShardId") for s in children}
    closed = "gone from the shard list" if parent is None else "yes" if not kinesis.is_open(parent) else "no"
    return f"{len(children)} children of the parent: {'yes' if parents == {shard} else parents}; parent closed: {closed}"


def merge_lineage(run: Run) -> str:
    stream = kinesis.create_stream(run, "km", shard_count=2, encrypted=False)
    client = run.target.client("kinesis")
    first, second = sorted((s for s in kinesis.list_shards(client, stream.name)), key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
    client.merge_shards(StreamName=stream.name, ShardToMerge=first["ShardId"], AdjacentShardToMerge=second["ShardId"])
    kinesis.wait_active(run, stream.name)
    (child,) = [s for s in kinesis.list_shards(client, stream.name) if s["ShardId"] not in (first["ShardId"], second["ShardId"])]
    lineage = (child.get("ParentShardId"), child.get("AdjacentParentShardId"))
    return "ParentShardId and AdjacentParentShardId are the merged shards" if lineage == (first["ShardId"], second["ShardId"]) else f"lineage {lineage}"


def record_size(run: Run) -> str:
    stream, _ = _stream(run)
    client = run.target.client("kinesis")
    verdicts = []
    for size in (MIB, MIB + 1):
        try:
            client.put_record(StreamName=stream.name, Data=b"x" * size, PartitionKey=KEY)
            verdicts.append(f"{size} bytes accepted")
        except ClientError as error:
            verdicts.append(f"{size} bytes rejected with {error.response.get('Error', {}).get('Code', '')}")
    return "; ".join(verdicts)


def put_records_count(run: Run) -> str:
    stream, _ = _stream(run)
    client = run.target.client("kinesis")
    try:
        client.put_records(StreamName=stream.name, Records=[{"Data": b"x", "PartitionKey": KEY}] * 501)
    except ClientError as error:
        return f"rejected with {error.response.get('Error', {}).get('Code', '')}"
    return "accepted"


def shard_write_throttle(run: Run) -> str:
    stream, _ = _stream(run)
    sent, refused = streams.burst(run.target.client("kinesis"), stream.name)
    if refused:
        return "some records refused with ProvisionedThroughputExceededException"
    return f"{sent} of {sent} records accepted"


def record_size_10mib(run: Run) -> str:
    stream, _ = _stream(run)
    return streams.large_records(run.target.client("kinesis"), stream, key=KEY)


MIB = 1_048_576
LARGE_RECORDS = "https://docs.aws.amazon.com/streams/latest/dev/large-records.html"
QUOTAS = "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"
CASES += [
    Case("kinesis.limits.shard-write-throttle", "kinesis", "a shard refuses writes beyond 1,000 records/s",
         "some records refused with ProvisionedThroughputExceededException",
         doc(QUOTAS, "Each shard supports writes up to 1,000 records per second, up to a maximum data write of 1 MiB per second; "
                     "above that, PutRecords fails the records over the limit with ProvisionedThroughputExceededException."),
         shard_write_throttle),
    Case("kinesis.limits.record-size-10mib", "kinesis", "a stream raised to 10 MiB takes a 10 MiB record and refuses a larger one",
         f"{10 * MIB} bytes accepted; {10 * MIB + 1} bytes rejected with ValidationException",
         doc(LARGE_RECORDS, "Kinesis Data Streams accepts records up to 10 MiB once UpdateMaxRecordSize has raised the stream's "
                            "maximum record size (1 to 10 MiB; 1 MiB by default); the size counts the data blob and the partition key."),
         record_size_10mib),
    Case("kinesis.reshard.split-lineage", "kinesis", "SplitShard closes the parent and opens two children that name it",
         "2 children of the parent: yes; parent closed: yes",
         doc(SPLIT_SHARD, "SplitShard splits a shard into two new shards; the original shard is closed, and each child's ParentShardId is the parent."),
         split_lineage),
    Case("kinesis.reshard.merge-lineage", "kinesis", "MergeShards opens one child naming both parents",
         "ParentShardId and AdjacentParentShardId are the merged shards",
         doc(MERGE_SHARDS, "MergeShards merges two adjacent shards into one; the child records ParentShardId and AdjacentParentShardId."),
         merge_lineage),
    Case("kinesis.limits.record-size", "kinesis", "a record's data blob is at most 1 MiB by default (a stream's maximum until UpdateMaxRecordSize raises it)",
         f"{MIB} bytes accepted; {MIB + 1} bytes rejected with ValidationException",
         doc(PUT_RECORD_API, "The data blob, the payload before base64 encoding, can be up to 1 MiB."),
         record_size),
    Case("kinesis.limits.put-records-500", "kinesis", "PutRecords takes at most 500 records",
         "rejected with ValidationException",
         doc(PUT_RECORDS_API, "Each PutRecords request can support up to 500 records."),
         put_records_count),
]


# -- CloudWatch metrics Kinesis publishes itself (notebook 08) -------------------------------------
KINESIS_METRICS = "https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html"


def iterator_age_metric(run: Run) -> str:
    """Put and read a record, then ask CloudWatch whether it lists the stream's
    GetRecords.IteratorAgeMilliseconds (on AWS this waits up to ten minutes)."""
    stream, shard = _stream(run)
    _put(run, stream, [1])
    _read(run, stream, shard, "TRIM_HORIZON")
    listed = cloudwatch.wait_for_metric(run.target, "AWS/Kinesis", {"StreamName": stream.name}, "GetRecords.IteratorAgeMilliseconds")
    return "GetRecords.IteratorAgeMilliseconds listed" if listed else "no AWS/Kinesis metric for the stream"


CASES.append(
    Case("kinesis.cloudwatch.iterator-age", "kinesis", "Kinesis publishes a stream's iterator age to CloudWatch by itself",
         "GetRecords.IteratorAgeMilliseconds listed",
         doc(KINESIS_METRICS, "Kinesis Data Streams sends stream-level metrics to CloudWatch every minute, GetRecords.IteratorAgeMilliseconds among them (the age of the last record in all GetRecords calls made against a stream)."),
         iterator_age_metric),
)
