"""Delivery by eventlab's Custom Event Bus server, to targets on a real MiniStack.

One MiniStack (127.0.0.1, a free port) and one server (in this process, fast retries) serve the
whole module; each test makes its own bus, subscribers, queues and the rest, and removes them.
Run from an environment whose botocore knows ``eventbridgev2`` and that has MiniStack::

    PYTHONPATH=lib .venv-dev/bin/python -m pytest tests/integration/test_eventbridgev2_delivery.py -p no:eventlab
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")

from botocore.config import Config  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from eventlab.eventbridgev2 import (  # noqa: E402
    EmbeddedEventBridgeV2,
    EventBridgeV2Server,
    ServerError,
)
from eventlab.eventbridgev2.model import ModelUnavailableError, load_service_model  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/eventlab-delivery"
CREDENTIALS = {"region_name": REGION, "aws_access_key_id": "test", "aws_secret_access_key": "test"}
HELD = {"MaxRetryAttempts": 185, "MaxEventAgeInSeconds": 86400}

try:
    load_service_model()
except ModelUnavailableError as _unavailable:
    pytest.skip(str(_unavailable), allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read())


@pytest.fixture(scope="session")
def ministack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MiniStack on 127.0.0.1 for the session, stopped (with its children) at the end."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    executable = shutil.which("ministack", path=path)
    if executable is None:
        pytest.skip("MiniStack is not installed in this environment (pip install ministack)")
    folder = tmp_path_factory.mktemp("ministack")
    port = _free_port()
    env = {**os.environ, "BIND_HOST": "127.0.0.1", "GATEWAY_PORT": str(port), "TMPDIR": str(folder)}
    with (folder / "ministack.log").open("wb") as log:
        process = subprocess.Popen([executable], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get_json(f"{endpoint}/_ministack/health")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("MiniStack did not start:\n" + (folder / "ministack.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield endpoint
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _server(state_dir: Path, backend: str) -> EventBridgeV2Server:
    return EventBridgeV2Server(state_dir=state_dir, backend_endpoint=backend, region=REGION,
                               provisioning_delay=0.05, retry_base_delay=0.05, retry_max_delay=0.3)


@pytest.fixture(scope="session")
def server(ministack: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventBridgeV2Server]:
    with _server(tmp_path_factory.mktemp("eventbridgev2"), ministack) as running:
        yield running


def _eventbridgev2(endpoint: str) -> Any:
    return boto3.client("eventbridgev2", endpoint_url=endpoint, config=Config(retries={"max_attempts": 2}), **CREDENTIALS)


@pytest.fixture(scope="session")
def aws(ministack: str) -> dict[str, Any]:
    return {name: boto3.client(name, endpoint_url=ministack, **CREDENTIALS)
            for name in ("sqs", "sns", "lambda", "kinesis", "logs")}


class World:
    """Everything one test creates, on the backend and on the bus server; removed afterwards."""

    def __init__(self, aws: dict[str, Any], server: EventBridgeV2Server) -> None:
        self.aws, self.server = aws, server
        self.events = _eventbridgev2(server.endpoint_url)
        self.tag = uuid.uuid4().hex[:8]
        self.queues: list[str] = []
        self.topics: list[str] = []
        self.streams: list[str] = []
        self.functions: list[str] = []
        self.buses: list[tuple[Any, str]] = []
        self.subscribers: list[tuple[Any, str]] = []

    def name(self, base: str) -> str:
        return f"el-{self.tag}-{base}"

    def queue(self, base: str, fifo: bool = False) -> tuple[str, str]:
        name = self.name(base) + (".fifo" if fifo else "")
        attributes = {"FifoQueue": "true"} if fifo else {}
        url = self.aws["sqs"].create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.queues.append(url)
        return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"

    def bus(self, client: Any = None) -> str:
        client = client or self.events
        arn = client.create_event_bus(Name=self.name(f"bus{len(self.buses)}"))["EventBusArn"]
        self.buses.append((client, arn))
        deadline = time.monotonic() + 10
        while client.describe_event_bus(EventBusArn=arn)["State"] != "ACTIVE" and time.monotonic() < deadline:
            time.sleep(0.02)
        return arn

    def subscriber(self, bus: str, target: str, client: Any = None, **kwargs: Any) -> str:
        client = client or self.events
        invoke = {"TargetArn": target, "RoleArn": ROLE, **kwargs.pop("Invoke", {})}
        arn = client.create_subscriber(Name=self.name(f"sub{len(self.subscribers)}"), EventBusArn=bus,
                                       InvokeConfiguration=invoke, **kwargs)["SubscriberArn"]
        self.subscribers.append((client, arn))
        return arn

    def cleanup(self) -> None:
        for client, arn in self.subscribers:
            _quietly(client.delete_subscriber, SubscriberArn=arn)
        for client, arn in self.buses:
            _quietly(client.delete_event_bus, EventBusArn=arn)
        for url in self.queues:
            _quietly(self.aws["sqs"].delete_queue, QueueUrl=url)
        for arn in self.topics:
            _quietly(self.aws["sns"].delete_topic, TopicArn=arn)
        for name in self.streams:
            _quietly(self.aws["kinesis"].delete_stream, StreamName=name)
        for name in self.functions:
            _quietly(self.aws["lambda"].delete_function, FunctionName=name)


def _quietly(call: Callable[..., Any], **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except (ClientError, BotoCoreError):
        pass


@pytest.fixture
def world(aws: dict[str, Any], server: EventBridgeV2Server) -> Iterator[World]:
    created = World(aws, server)
    try:
        yield created
    finally:
        created.cleanup()


def drain(sqs: Any, url: str, count: int, timeout: float = 20.0) -> list[str]:
    """Receive (and delete) messages until ``count`` have arrived or ``timeout`` passes."""
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < count and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def stats(server: EventBridgeV2Server, subscriber: str) -> dict[str, int]:
    assert server.engine is not None
    return server.engine.snapshot().get(subscriber, {})


def until(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def put(client: Any, bus: str, *details: dict[str, Any], group: str | None = None, **entry: Any) -> list[str]:
    system = {"EventGroupId": group} if group else {}
    response = client.put_events(EventBusArn=bus, Entries=[
        {"Source": "com.example.shop", "DetailType": "OrderPlaced", "Detail": json.dumps(detail),
         "SystemMetadata": system, **entry} for detail in details])
    assert response["FailedEntryCount"] == 0, response
    return [e["EventId"] for e in response["Entries"]]


# -- targets -----------------------------------------------------------------------------------
def test_sqs_receives_the_envelope_of_matching_events(world: World) -> None:
    url, arn = world.queue("orders")
    bus = world.bus()
    world.subscriber(bus, arn, FilterConfiguration={"Filters": [
        {"Scope": "DATA", "Pattern": json.dumps({"detail": {"total": [{"numeric": [">", 500]}]}})},
        {"Scope": "SYSTEM_METADATA", "Pattern": json.dumps({"aws:Source": ["com.example.shop"]})}]})
    ids = put(world.events, bus, {"total": 100}, {"total": 900}, {"total": 600},
              Resources=["arn:aws:s3:::receipts"], Time=datetime(2026, 9, 1, 12, tzinfo=UTC))
    bodies = [json.loads(b) for b in drain(world.aws["sqs"], url, 2)]
    assert sorted(b["detail"]["total"] for b in bodies) == [600, 900]
    first = next(b for b in bodies if b["detail"]["total"] == 900)
    assert first == {"version": "0", "id": ids[1], "detail-type": "OrderPlaced", "source": "com.example.shop",
                     "account": ACCOUNT, "time": "2026-09-01T12:00:00Z", "region": REGION,
                     "resources": ["arn:aws:s3:::receipts"], "detail": {"total": 900}}
    assert drain(world.aws["sqs"], url, 1, timeout=1.5) == []  # the 100 never comes


def test_put_raw_events_json_octet_stream_and_metadata_filters(world: World) -> None:
    url, arn = world.queue("raw")
    meta_url, meta_arn = world.queue("meta")
    bus = world.bus()
    world.subscriber(bus, arn)
    world.subscriber(bus, meta_arn, Transformer={"Type": "WITH_METADATA"},
                     FilterConfiguration={"Filters": [{"Scope": "METADATA", "Pattern": '{"tenant": ["acme"]}'}]})
    world.events.put_raw_events(EventBusArn=bus, Entries=[
        {"Data": b'{"orderId": "1",  "spacing": "kept"}', "Metadata": {"tenant": "acme"},
         "SystemMetadata": {"ContentType": "application/json"}},
        {"Data": b"\x00\x01binary", "Metadata": {"tenant": "other"},
         "SystemMetadata": {"ContentType": "application/octet-stream"}}])
    bodies = drain(world.aws["sqs"], url, 2)
    assert '{"orderId": "1",  "spacing": "kept"}' in bodies  # RAW JSON: exactly as published
    assert base64.b64encode(b"\x00\x01binary").decode() in bodies  # opaque bytes: base64 text
    [enveloped] = [json.loads(b) for b in drain(world.aws["sqs"], meta_url, 1)]
    assert enveloped["Data"] == {"orderId": "1", "spacing": "kept"}
    assert enveloped["Metadata"] == {"tenant": "acme"}
    assert enveloped["SystemMetadata"]["ContentType"] == "application/json"
    assert enveloped["SystemMetadata"]["aws:DeliveryType"] == "LIVE"
    assert "aws:Source" not in enveloped["SystemMetadata"]


def test_sns_target(world: World) -> None:
    url, queue_arn = world.queue("sns-inbox")
    topic = world.aws["sns"].create_topic(Name=world.name("topic"))["TopicArn"]
    world.topics.append(topic)
    world.aws["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    bus = world.bus()
    world.subscriber(bus, topic, Transformer={"Type": "JSONATA", "JsonataConfiguration": {
        "Expression": '{% {"order": $events.Data.detail.id, "type": $events.Data.`detail-type`} %}'}})
    put(world.events, bus, {"id": "o-1"})
    assert [json.loads(b) for b in drain(world.aws["sqs"], url, 1)] == [{"order": "o-1", "type": "OrderPlaced"}]


def test_kinesis_target(world: World) -> None:
    stream = world.name("stream")
    kinesis = world.aws["kinesis"]
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    world.streams.append(stream)
    until(lambda: kinesis.describe_stream(StreamName=stream)["StreamDescription"]["StreamStatus"] == "ACTIVE")
    bus = world.bus()
    world.subscriber(bus, f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}",
                     Invoke={"KinesisParameters": {"PartitionKey": "{% $events.Data.detail.customer %}"}})
    ids = put(world.events, bus, {"customer": "c1"}, {"customer": "c2"})
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records: list[dict[str, Any]] = []

    def read() -> bool:
        nonlocal iterator
        response = kinesis.get_records(ShardIterator=iterator)
        iterator = response["NextShardIterator"]
        records.extend(response["Records"])
        return len(records) >= 2

    assert until(read)
    assert sorted(r["PartitionKey"] for r in records) == ["c1", "c2"]
    assert {json.loads(r["Data"])["id"] for r in records} == set(ids)


_HANDLER = """
import json
def handler(event, context):
    print("RECEIVED " + json.dumps(event))
    return {}
"""


def _function(world: World, base: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", _HANDLER)
    name = world.name(base)
    world.aws["lambda"].create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="handler.handler",
                                        Code={"ZipFile": buffer.getvalue()}, Timeout=30)
    world.functions.append(name)
    until(lambda: world.aws["lambda"].get_function(FunctionName=name)["Configuration"].get("State") == "Active")
    return name


def _received(world: World, function: str, count: int) -> list[Any]:
    def lines() -> list[Any]:
        try:
            events = world.aws["logs"].filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
        except ClientError:
            return []
        found = [json.loads(e["message"].split("RECEIVED ", 1)[1]) for e in events if "RECEIVED " in e["message"]]
        return found if len(found) >= count else []
    return until(lines) or []


def test_lambda_gets_an_array_per_batch_or_one_object(world: World) -> None:
    batched, single = _function(world, "batched"), _function(world, "single")
    bus = world.bus()
    world.subscriber(bus, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{batched}",
                     Invoke={"LambdaParameters": {"InvocationType": "REQUEST_RESPONSE"}})
    world.subscriber(bus, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{single}",
                     BatchConfiguration={"MaxBatchSize": 1})
    ids = put(world.events, bus, {"n": 1})
    [payload] = _received(world, batched, 1)
    assert isinstance(payload, list) and [e["id"] for e in payload] == ids
    [payload] = _received(world, single, 1)
    assert isinstance(payload, dict) and payload["id"] == ids[0]


def test_another_custom_event_bus_as_target(world: World) -> None:
    url, arn = world.queue("downstream")
    upstream, downstream = world.bus(), world.bus()
    world.subscriber(upstream, downstream, Invoke={"EventBusV2Parameters": {
        "Metadata": {"forwardedBy": "upstream", "order": "{% $events.Data.detail.id %}"},
        "SystemMetadata": {"EventGroupId": "{% $events.SystemMetadata.EventGroupId %}"}}})
    world.subscriber(downstream, arn, Transformer={"Type": "WITH_METADATA"})
    [event_id] = put(world.events, upstream, {"id": "o-9"}, group="customer-7")
    [forwarded] = [json.loads(b) for b in drain(world.aws["sqs"], url, 1)]
    assert forwarded["Data"]["id"] == event_id and forwarded["Data"]["detail"] == {"id": "o-9"}
    assert forwarded["Metadata"] == {"forwardedBy": "upstream", "order": "o-9"}
    system = forwarded["SystemMetadata"]
    assert system["EventGroupId"] == "customer-7"
    assert system["aws:Source"] == "com.example.shop"
    assert system["aws:EventId"] != event_id  # a new event on the downstream bus


# -- ordering ----------------------------------------------------------------------------------
def test_fifo_holds_only_the_failing_events_group(world: World) -> None:
    url, arn = world.queue("ordered", fifo=True)
    bus = world.bus()
    # The first event of group a has no "key", so its MessageGroupId resolves to nothing and the
    # FIFO queue refuses it, on every retry, until the subscriber is fixed.
    subscriber = world.subscriber(bus, arn, Type="FIFO", RetryPolicy=HELD, Invoke={"SqsParameters": {
        "MessageGroupId": "{% $events.Data.detail.key %}",
        "MessageDeduplicationId": "{% $events.SystemMetadata.`aws:EventId` %}"}})
    for n in range(3):
        put(world.events, bus, {"n": n} if n == 0 else {"n": n, "key": "a"}, group="a")
        put(world.events, bus, {"n": n, "key": "b"}, group="b")
    b_side = [json.loads(body)["detail"]["n"] for body in drain(world.aws["sqs"], url, 3)]
    assert b_side == [0, 1, 2], "group b must flow, in order, while group a is held"
    assert until(lambda: stats(world.server, subscriber).get("failed_attempts", 0) >= 3)
    assert drain(world.aws["sqs"], url, 1, timeout=1.5) == [], "group a's later events must wait for its first"
    world.events.update_subscriber(SubscriberArn=subscriber, InvokeConfiguration={"RoleArn": ROLE, "SqsParameters": {
        "MessageGroupId": "{% $events.SystemMetadata.EventGroupId %}",
        "MessageDeduplicationId": "{% $events.SystemMetadata.`aws:EventId` %}"}})
    a_side = [json.loads(body)["detail"]["n"] for body in drain(world.aws["sqs"], url, 3)]
    assert a_side == [0, 1, 2]
    assert stats(world.server, subscriber)["max_in_flight"] <= 2  # one event per group at a time


def test_unordered_delivers_in_parallel_and_holds_nothing(world: World) -> None:
    url, arn = world.queue("unordered")
    bus = world.bus()
    # One event has a DelaySeconds that is not a number: its delivery fails and is retried,
    # and nothing waits for it.
    subscriber = world.subscriber(bus, arn, RetryPolicy=HELD, BatchConfiguration={"MaxBatchSize": 1},
                                  Invoke={"SqsParameters": {"DelaySeconds": "{% $events.Data.detail.delay %}"}})
    put(world.events, bus, *[{"n": n, "delay": "soon" if n == 0 else "0"} for n in range(12)], group="same")
    received = {json.loads(body)["detail"]["n"] for body in drain(world.aws["sqs"], url, 11)}
    assert received == set(range(1, 12))
    counters = stats(world.server, subscriber)
    assert counters["max_in_flight"] > 1
    assert until(lambda: stats(world.server, subscriber)["failed_attempts"] >= 2)


# -- retries and dead letters ------------------------------------------------------------------
def test_retries_then_the_on_failure_queue(world: World) -> None:
    dlq_url, dlq_arn = world.queue("dlq")
    bus = world.bus()
    missing = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{world.name('no-such-queue')}"
    subscriber = world.subscriber(bus, missing, RetryPolicy={"MaxRetryAttempts": 2},
                                  OnFailureConfiguration={"Arn": dlq_arn})
    ids = world.events.put_events(EventBusArn=bus, Entries=[
        {"Source": "shop", "DetailType": "OrderPlaced", "Detail": json.dumps({"n": n}),
         "SystemMetadata": {"EventGroupId": "g1", "DeduplicationId": f"order-{n}"}} for n in range(2)])["Entries"]
    [record] = [json.loads(body) for body in drain(world.aws["sqs"], dlq_url, 1)]
    assert {k: record[k] for k in ("version", "busArn", "subscriberArn", "targetArn", "exhaustedRetryCondition",
                                   "retryAttempts")} == {
        "version": "1.0", "busArn": bus, "subscriberArn": subscriber, "targetArn": missing,
        "exhaustedRetryCondition": "MaximumRetryAttempts", "retryAttempts": 2}
    assert record["errorCode"] == "CUSTOMER_VALIDATION"
    assert "Queue" in record["errorMessage"]
    assert [m["eventId"] for m in record["failedMessages"]] == [e["EventId"] for e in ids]
    assert [m["deduplicationId"] for m in record["failedMessages"]] == ["order-0", "order-1"]
    assert record["failedMessages"][0]["eventGroupId"] == "g1"
    datetime.strptime(record["failedMessages"][0]["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    counters = stats(world.server, subscriber)
    assert (counters["attempts"], counters["dead_lettered"], counters["delivered"]) == (6, 2, 0)


def test_without_an_on_failure_queue_the_event_is_dropped(world: World) -> None:
    bus = world.bus()
    subscriber = world.subscriber(bus, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{world.name('gone')}",
                                  RetryPolicy={"MaxRetryAttempts": 0})
    put(world.events, bus, {"n": 1})
    assert until(lambda: stats(world.server, subscriber).get("dropped") == 1)
    assert stats(world.server, subscriber)["attempts"] == 1


def test_a_fifo_on_failure_queue_gets_the_record(world: World) -> None:
    dlq_url, dlq_arn = world.queue("dlq", fifo=True)
    bus = world.bus()
    world.subscriber(bus, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{world.name('gone')}.fifo", Type="FIFO",
                     RetryPolicy={"MaxRetryAttempts": 0}, OnFailureConfiguration={"Arn": dlq_arn})
    put(world.events, bus, {"n": 1}, group="g7")
    [record] = [json.loads(body) for body in drain(world.aws["sqs"], dlq_url, 1)]
    assert record["failedMessages"][0]["eventGroupId"] == "g7"


# -- starting positions, pause and resume, restart ---------------------------------------------
def _details(bodies: list[str]) -> list[tuple[int, str]]:
    return [(json.loads(b)["Data"]["detail"]["n"], json.loads(b)["SystemMetadata"]["aws:DeliveryType"]) for b in bodies]


def test_late_subscribers_read_retained_events_then_live_ones(world: World) -> None:
    bus = world.bus()
    put(world.events, bus, *[{"n": n} for n in range(3)], group="g")
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    put(world.events, bus, *[{"n": n} for n in range(3, 5)], group="g")
    queues = {name: world.queue(name, fifo=True) for name in ("horizon", "timestamp", "latest", "window")}
    group = {"SqsParameters": {"MessageGroupId": "g", "MessageDeduplicationId": "{% $events.SystemMetadata.`aws:EventId` %}"}}
    common = {"Type": "FIFO", "Transformer": {"Type": "WITH_METADATA"}, "Invoke": group}
    world.subscriber(bus, queues["horizon"][1], StartingPosition="POINT_IN_TIME",
                     PointInTimeConfiguration={"PointType": "HORIZON"}, **common)
    world.subscriber(bus, queues["timestamp"][1], StartingPosition="POINT_IN_TIME",
                     PointInTimeConfiguration={"PointType": "TIMESTAMP", "StartingPoint": middle}, **common)
    world.subscriber(bus, queues["latest"][1], **common)
    world.subscriber(bus, queues["window"][1], StartingPosition="POINT_IN_TIME",
                     PointInTimeConfiguration={"PointType": "HORIZON", "EndPoint": middle}, **common)
    assert _details(drain(world.aws["sqs"], queues["horizon"][0], 5)) == [(n, "REPLAY") for n in range(5)]
    assert _details(drain(world.aws["sqs"], queues["timestamp"][0], 2)) == [(3, "REPLAY"), (4, "REPLAY")]
    put(world.events, bus, {"n": 5}, {"n": 6}, group="g")
    live = [(5, "LIVE"), (6, "LIVE")]
    assert _details(drain(world.aws["sqs"], queues["horizon"][0], 2)) == live
    assert _details(drain(world.aws["sqs"], queues["timestamp"][0], 2)) == live
    assert _details(drain(world.aws["sqs"], queues["latest"][0], 2)) == live
    assert _details(drain(world.aws["sqs"], queues["window"][0], 4, timeout=3)) == [(n, "REPLAY") for n in range(3)]


def test_pause_and_resume_lose_nothing(world: World) -> None:
    url, arn = world.queue("paused", fifo=True)
    bus = world.bus()
    subscriber = world.subscriber(bus, arn, Type="FIFO", Invoke={"SqsParameters": {
        "MessageGroupId": "g", "MessageDeduplicationId": "{% $events.SystemMetadata.`aws:EventId` %}"}})

    def numbers(count: int, timeout: float = 20.0) -> list[int]:
        return [json.loads(b)["detail"]["n"] for b in drain(world.aws["sqs"], url, count, timeout)]

    put(world.events, bus, {"n": 1}, {"n": 2})
    assert numbers(2) == [1, 2]
    world.events.update_subscriber(SubscriberArn=subscriber, State="STOPPED")
    put(world.events, bus, {"n": 3}, {"n": 4})
    assert numbers(1, timeout=1.5) == []  # paused: the backlog waits
    world.events.update_subscriber(SubscriberArn=subscriber, State="RUNNING")  # LAST_PROCESSED
    assert numbers(2) == [3, 4]
    world.events.update_subscriber(SubscriberArn=subscriber, State="STOPPED")
    put(world.events, bus, {"n": 5})
    world.events.update_subscriber(SubscriberArn=subscriber, State="RUNNING", ResumePosition="LATEST")
    put(world.events, bus, {"n": 6})
    assert numbers(1) == [6]  # resuming at LATEST skipped 5; FIFO order shows it is not still coming


def test_a_restart_loses_nothing(world: World, ministack: str, tmp_path: Path) -> None:
    url, arn = world.queue("restart", fifo=True)
    late_url, late_arn = world.queue("restart-late")
    state = tmp_path / "state"
    first = _server(state, ministack).start()
    try:
        client = _eventbridgev2(first.endpoint_url)
        bus = world.bus(client)
        # Deliveries fail (no "key") and are retried until the subscriber is fixed after the restart.
        subscriber = world.subscriber(bus, arn, client=client, Type="FIFO", RetryPolicy=HELD, Invoke={"SqsParameters": {
            "MessageGroupId": "{% $events.Data.detail.key %}",
            "MessageDeduplicationId": "{% $events.SystemMetadata.`aws:EventId` %}"}})
        paused = world.subscriber(bus, late_arn, client=client, State="STOPPED")
        put(client, bus, {"n": 1}, {"n": 2}, {"n": 3}, group="g")
        dedup = client.put_events(EventBusArn=bus, Entries=[{"Source": "shop", "DetailType": "Once", "Detail": "{}",
                                                             "SystemMetadata": {"DeduplicationId": "once"}}])
        assert until(lambda: stats(first, subscriber).get("failed_attempts", 0) >= 1)
    finally:
        first.stop()
    second = _server(state, ministack).start()
    try:
        client = _eventbridgev2(second.endpoint_url)
        world.buses = [(client, a) for _, a in world.buses]
        world.subscribers = [(client, a) for _, a in world.subscribers]
        assert client.describe_subscriber(SubscriberArn=subscriber)["Type"] == "FIFO"
        again = client.put_events(EventBusArn=bus, Entries=[{"Source": "shop", "DetailType": "Once", "Detail": "{}",
                                                             "SystemMetadata": {"DeduplicationId": "once"}}])
        assert again["Entries"][0]["SuccessCode"] == "DEDUPLICATED"
        assert again["Entries"][0]["EventId"] == dedup["Entries"][0]["EventId"]
        client.update_subscriber(SubscriberArn=subscriber, InvokeConfiguration={"RoleArn": ROLE, "SqsParameters": {
            "MessageGroupId": "{% $events.SystemMetadata.EventGroupId %}",
            "MessageDeduplicationId": "{% $events.SystemMetadata.`aws:EventId` %}"}})
        assert [json.loads(b)["detail"]["n"] for b in drain(world.aws["sqs"], url, 3)] == [1, 2, 3]
        client.update_subscriber(SubscriberArn=paused, State="RUNNING")
        assert sorted(json.loads(b)["detail"].get("n", 0) for b in drain(world.aws["sqs"], late_url, 4)) == [0, 1, 2, 3]
        replay_url, replay_arn = world.queue("restart-replay")
        world.subscriber(bus, replay_arn, client=client, StartingPosition="POINT_IN_TIME",
                         PointInTimeConfiguration={"PointType": "HORIZON"})
        assert len(drain(world.aws["sqs"], replay_url, 4)) == 4  # retained events survived
    finally:
        world.cleanup()
        world.subscribers, world.buses = [], []
        second.stop()


# -- the server as its own process --------------------------------------------------------------
def test_the_embedded_process_serves_and_stops(world: World, ministack: str, tmp_path: Path) -> None:
    url, arn = world.queue("embedded")
    with EmbeddedEventBridgeV2(backend_endpoint=ministack, state_dir=tmp_path / "eventbridgev2",
                               region=REGION) as embedded:
        assert _get_json(embedded.endpoint_url + "/_eventlab/health")["backend_endpoint"] == ministack
        client = _eventbridgev2(embedded.endpoint_url)
        bus = world.bus(client)
        world.subscriber(bus, arn, client=client)
        put(client, bus, {"n": 1})
        assert len(drain(world.aws["sqs"], url, 1)) == 1
        world.cleanup()
        world.subscribers, world.buses = [], []
        pid = embedded._process.pid  # type: ignore[union-attr]
    assert not embedded.running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert (tmp_path / "eventbridgev2" / "eventbridgev2.sqlite3").is_file()


def test_the_embedded_process_errors_name_the_problem(ministack: str, tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="loopback"):
        EmbeddedEventBridgeV2(backend_endpoint=ministack, host="0.0.0.0", state_dir=tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerError, match=f"port {port} on 127.0.0.1 is in use"):
            EmbeddedEventBridgeV2(backend_endpoint=ministack, port=port, state_dir=tmp_path / "a").start()
    broken = tmp_path / "b"
    broken.mkdir()
    (broken / "eventbridgev2.sqlite3").write_text("not a database")
    with pytest.raises(ServerError, match="not a usable SQLite database"):
        EmbeddedEventBridgeV2(backend_endpoint=ministack, state_dir=broken).start()
