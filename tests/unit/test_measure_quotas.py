"""Emulated quotas on a boto3 client, with a fake clock and stubbed replies (no network)."""

from __future__ import annotations

import json

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from eventlab.measure.load import RetryPolicy, send_with_retries
from eventlab.measure.probes import ProbeFactory, SendRecord
from eventlab.measure.quotas import EMULATED, KinesisQuota, QuotaEmulator, SqsFifoQuota, TokenBucket
from eventlab.measure.senders import KinesisSender

STREAM = "s"
FULL_RANGE = [(0, 2**128 - 1, "shardId-000000000000")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(service: str):
    session = boto3.Session(botocore_session=botocore.session.Session(), aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    return session.client(service, endpoint_url="http://127.0.0.1:9")


class FakeService:
    """Answers a client's calls from a list of replies, without a network; records the requests.

    Registered last on ``before-call``, so the quota's own short circuit (registered first)
    decides before it; what reaches it is what would have reached the service.
    """

    def __init__(self, client) -> None:
        self.replies: list[dict] = []
        self.requests: list[tuple[str, dict]] = []
        client.meta.events.register_last(f"before-call.{client.meta.service_model.service_id.hyphenize()}", self)

    def add(self, reply: dict) -> None:
        self.replies.append(reply)

    def __call__(self, model, params, **_):
        self.requests.append((model.name, json.loads(params["body"] or b"{}")))
        return AWSResponse("fake", 200, {}, None), {**self.replies.pop(0), "ResponseMetadata": {"HTTPStatusCode": 200}}


def test_token_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock)
    assert sum(bucket.take() for _ in range(15)) == 10
    clock.now += 0.5
    assert sum(bucket.take() for _ in range(15)) == 5
    bucket.debit(20)
    clock.now += 1.0
    assert not bucket.take()  # -15 + 10 still below one token


def test_put_record_over_quota_raises_the_aws_error_labelled_emulated() -> None:
    clock = FakeClock()
    kinesis = client("kinesis")
    quota = QuotaEmulator(kinesis=KinesisQuota(records_per_s=3), clock=clock)
    quota.set_shards(STREAM, FULL_RANGE)
    quota.install(kinesis)
    service = FakeService(kinesis)
    for _ in range(3):
        service.add({"ShardId": "shardId-000000000000", "SequenceNumber": "1"})
    for _ in range(3):
        kinesis.put_record(StreamName=STREAM, Data=b"x", PartitionKey="k")
    with pytest.raises(kinesis.exceptions.ProvisionedThroughputExceededException) as caught:
        kinesis.put_record(StreamName=STREAM, Data=b"x", PartitionKey="k")
    assert EMULATED in str(caught.value)
    assert len(service.requests) == 3 and not service.replies
    assert quota.throttled("kinesis") == 1
    quota.remove()


def test_put_records_fails_per_record_in_order_like_aws() -> None:
    clock = FakeClock()
    kinesis = client("kinesis")
    quota = QuotaEmulator(kinesis=KinesisQuota(records_per_s=2), clock=clock)
    quota.set_shards(STREAM, FULL_RANGE)
    quota.install(kinesis)
    records = [{"Data": f"{i}".encode(), "PartitionKey": "k"} for i in range(5)]
    service = FakeService(kinesis)
    service.add({"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "shardId-000000000000"}, {"SequenceNumber": "2", "ShardId": "shardId-000000000000"}]})
    reply = kinesis.put_records(StreamName=STREAM, Records=records)
    # only the two admitted records reached the service
    assert [r["Data"] for r in service.requests[0][1]["Records"]] == ["MA==", "MQ=="]
    # the next call, with no tokens left, is answered without a request: all failed
    reply_all = kinesis.put_records(StreamName=STREAM, Records=records[:1])
    assert len(service.requests) == 1
    assert reply["FailedRecordCount"] == 3
    assert [r.get("ErrorCode") for r in reply["Records"]] == [None, None] + ["ProvisionedThroughputExceededException"] * 3
    assert reply_all["FailedRecordCount"] == 1
    assert quota.throttled("kinesis", "PutRecords") == 4
    quota.remove()


def test_put_records_refusals_are_counted_per_shard() -> None:
    clock = FakeClock()
    kinesis = client("kinesis")
    quota = QuotaEmulator(kinesis=KinesisQuota(records_per_s=1), clock=clock)
    half = 2**127
    quota.set_shards(STREAM, [(0, half - 1, "shard-low"), (half, 2**128 - 1, "shard-high")])
    quota.install(kinesis)
    low, high = (str(h) for h in (1, half + 1))
    records = [{"Data": b"x", "PartitionKey": "k", "ExplicitHashKey": h} for h in (low, low, low, high, high)]
    service = FakeService(kinesis)
    service.add({"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "shard-low"}, {"SequenceNumber": "2", "ShardId": "shard-high"}]})
    kinesis.put_records(StreamName=STREAM, Records=records)
    assert quota.per_resource("kinesis") == {f"{STREAM}/shard-low": 2, f"{STREAM}/shard-high": 1}
    assert quota.per_resource("kinesis", refused=False) == {f"{STREAM}/shard-low": 1, f"{STREAM}/shard-high": 1}
    assert quota.throttled("kinesis", "PutRecords") == 3
    quota.remove()


def test_sqs_fifo_quota_limits_each_action_separately_and_skips_standard_queues() -> None:
    clock = FakeClock()
    sqs = client("sqs")
    fifo, standard = "http://127.0.0.1:9/000000000000/q.fifo", "http://127.0.0.1:9/000000000000/q"
    quota = QuotaEmulator(sqs_fifo=SqsFifoQuota(calls_per_s=2), clock=clock).install(sqs)
    service = FakeService(sqs)
    for i in range(2):
        service.add({"MessageId": "m"})
        sqs.send_message(QueueUrl=fifo, MessageBody="b", MessageGroupId="g", MessageDeduplicationId=str(i))
    with pytest.raises(ClientError) as caught:
        sqs.send_message(QueueUrl=fifo, MessageBody="b", MessageGroupId="g", MessageDeduplicationId="3")
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert EMULATED in caught.value.response["Error"]["Message"]
    service.add({"Messages": []})  # another action has its own quota
    sqs.receive_message(QueueUrl=fifo)
    for _ in range(5):
        service.add({"MessageId": "m"})
        sqs.send_message(QueueUrl=standard, MessageBody="b")
    clock.now += 1.0
    service.add({"MessageId": "m"})
    sqs.send_message(QueueUrl=fifo, MessageBody="b", MessageGroupId="g", MessageDeduplicationId="4")
    assert len(service.requests) == 2 + 1 + 5 + 1
    assert quota.throttled("sqs") == 1
    quota.remove()
    assert not quota._installed


def test_producer_retries_throttled_records_with_backoff_and_counts_them() -> None:
    clock = FakeClock()
    kinesis = client("kinesis")
    quota = QuotaEmulator(kinesis=KinesisQuota(records_per_s=2), clock=clock)
    quota.set_shards(STREAM, FULL_RANGE)
    quota.install(kinesis)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # the clock moves as the producer backs off
        sleeps.append(seconds)
        clock.now += 1.0

    policy = RetryPolicy(max_attempts=5, seed=1, sleep=sleep)
    factory = ProbeFactory("r", keys=["k"])
    probes = [factory.make(0) for _ in range(5)]
    records = [(p, SendRecord("kinesis", p.msg_id, p.key, p.seq, 0)) for p in probes]
    sender = KinesisSender(kinesis, STREAM, batch_size=5)
    service = FakeService(kinesis)
    for n in (2, 2, 1):
        service.add({"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "shardId-000000000000"}] * n})
    send_with_retries(sender, records, policy)
    recs = [r for _, r in records]
    assert all(r.ok for r in recs)
    assert [r.attempts for r in recs] == [1, 1, 2, 2, 3]
    assert sum(r.throttles for r in recs) == 3 + 1
    assert len(sleeps) == 2 and all(0 <= s <= policy.cap_s for s in sleeps)
    assert recs[-1].backoff_ns == int(sleeps[0] * 1e9) + int(sleeps[1] * 1e9)
    quota.remove()


def test_full_jitter_stays_under_the_exponential_cap() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0, seed=3)
    for retry in range(1, 10):
        values = [policy.backoff(retry) for _ in range(200)]
        assert max(values) <= min(1.0, 0.1 * 2 ** (retry - 1))
        assert min(values) >= 0


def test_get_records_limited_per_shard_by_calls_and_bytes() -> None:
    clock = FakeClock()
    kinesis = client("kinesis")
    quota = QuotaEmulator(kinesis=KinesisQuota(reads_per_s=2, read_bytes_per_s=100), clock=clock).install(kinesis)
    service = FakeService(kinesis)
    service.add({"ShardIterator": "it-0"})
    iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId="shardId-0", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for i in range(2):
        service.add({"Records": [], "NextShardIterator": f"it-{i + 1}"})
        iterator = kinesis.get_records(ShardIterator=iterator)["NextShardIterator"]
    with pytest.raises(kinesis.exceptions.ProvisionedThroughputExceededException) as caught:
        kinesis.get_records(ShardIterator=iterator)
    assert "GetRecords" in str(caught.value) and EMULATED in str(caught.value)
    clock.now += 1.0  # calls refill; the same iterator is still good
    big = [{"SequenceNumber": "1", "Data": "eA==", "PartitionKey": "k" * 150}]  # 151 bytes read
    service.add({"Records": big, "NextShardIterator": "it-3"})
    iterator = kinesis.get_records(ShardIterator=iterator)["NextShardIterator"]
    with pytest.raises(ClientError):  # the byte budget is now negative: throttled until it refills
        kinesis.get_records(ShardIterator=iterator)
    assert quota.throttled("kinesis", "GetRecords") == 2
    quota.remove()
