"""The eventbridgev2 API through boto3, against eventlab's server in this process.

Every operation round-trips through botocore's own rpc-v2-cbor serializer and parser, and bad
input gets the error the model (and AWS's guide) names. No backend is needed: nothing here waits
for a delivery. A second client with ``parameter_validation=False`` sends what botocore itself
would refuse, to see the server's own answer.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")

from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from eventlab.eventbridgev2 import cbor  # noqa: E402
from eventlab.eventbridgev2.model import ModelUnavailableError, load_service_model  # noqa: E402
from eventlab.eventbridgev2.server import EventBridgeV2Server, ServerError  # noqa: E402

ACCOUNT = "000000000000"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/eventlab-delivery"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-dlq"

try:
    load_service_model()
except ModelUnavailableError as _unavailable:
    pytest.skip(str(_unavailable), allow_module_level=True)


class Clock:
    """Wall time plus an offset the tests move forward (deduplication's 5-minute window)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: Clock) -> Iterator[EventBridgeV2Server]:
    with EventBridgeV2Server(
        state_dir=tmp_path_factory.mktemp("eventbridgev2"), backend_endpoint="http://127.0.0.1:9",
        region=REGION, clock=clock, provisioning_delay=0.05,
    ) as running:
        yield running


def _client(server: EventBridgeV2Server, **config: Any) -> Any:
    return boto3.client("eventbridgev2", endpoint_url=server.endpoint_url, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}, **config))


@pytest.fixture(scope="module")
def client(server: EventBridgeV2Server) -> Any:
    return _client(server)


@pytest.fixture(scope="module")
def raw(server: EventBridgeV2Server) -> Any:
    """A client that does not validate parameters, so the server's own checks answer."""
    return _client(server, parameter_validation=False)


class Resources:
    """What a test creates; deleted afterwards, subscribers first."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.buses: list[str] = []
        self.subscribers: list[str] = []

    def bus(self, name: str | None = None, wait: bool = True, **kwargs: Any) -> str:
        arn = self.client.create_event_bus(Name=name or f"t-{uuid.uuid4().hex[:10]}", **kwargs)["EventBusArn"]
        self.buses.append(arn)
        if wait:
            wait_state(self.client, arn, "ACTIVE")
        return arn

    def subscriber(self, bus: str, **kwargs: Any) -> str:
        kwargs.setdefault("InvokeConfiguration", {"TargetArn": QUEUE, "RoleArn": ROLE})
        arn = self.client.create_subscriber(Name=kwargs.pop("Name", f"s-{uuid.uuid4().hex[:10]}"),
                                            EventBusArn=bus, **kwargs)["SubscriberArn"]
        self.subscribers.append(arn)
        return arn

    def cleanup(self) -> None:
        for arn in self.subscribers:
            try:
                self.client.delete_subscriber(SubscriberArn=arn)
            except ClientError:
                pass
        for arn in self.buses:
            try:
                wait_state(self.client, arn, "ACTIVE", "UPDATE_FAILED")
                self.client.delete_event_bus(EventBusArn=arn)
            except ClientError:
                pass
        for arn in self.buses:
            wait_gone(self.client, arn)


def wait_state(client: Any, arn: str, *states: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        bus = client.describe_event_bus(EventBusArn=arn)
        if bus["State"] in states or time.monotonic() > deadline:
            return bus
        time.sleep(0.02)


def wait_gone(client: Any, arn: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.describe_event_bus(EventBusArn=arn)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return
            raise
        time.sleep(0.02)
    raise AssertionError(f"{arn} was not deleted")


@pytest.fixture
def made(client: Any) -> Iterator[Resources]:
    resources = Resources(client)
    try:
        yield resources
    finally:
        resources.cleanup()
    assert client.list_event_buses()["EventBuses"] == [], "a test left an event bus behind"


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return {**caught.value.response["Error"], "Status": caught.value.response["ResponseMetadata"]["HTTPStatusCode"]}


# -- the protocol ------------------------------------------------------------------------------
def test_boto3_sends_to_the_endpoint_url_and_the_model_path(server: EventBridgeV2Server, client: Any) -> None:
    seen: list[str] = []
    client.meta.events.register("before-send.eventbridgev2.*", lambda request, **_: seen.append(request.url))
    try:
        client.list_event_buses()
    finally:
        client.meta.events.unregister("before-send.eventbridgev2.*")
    assert seen == [f"{server.endpoint_url}/service/AWSEventsV2/operation/ListEventBuses"]


def _post(server: EventBridgeV2Server, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.endpoint_url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, cbor.decode(response.read())
    except urllib.error.HTTPError as error:
        return error.code, cbor.decode(error.read())


def test_protocol_errors(server: EventBridgeV2Server) -> None:
    cbor_headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
    status, body = _post(server, "/service/AWSEventsV2/operation/NoSuchThing", b"\xa0", cbor_headers)
    assert (status, body["__type"]) == (404, "UnknownOperationException")
    status, body = _post(server, "/service/AWSEventsV2/operation/ListEventBuses", b"\xa0", {"Content-Type": "application/cbor"})
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body = _post(server, "/service/AWSEventsV2/operation/ListEventBuses", b"\xff\x00", cbor_headers)
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body = _post(server, "/service/AWSEventsV2/operation/ListEventBuses", b"\xa0", cbor_headers)
    assert status == 200 and body == {"EventBuses": []}


def test_a_request_signed_for_another_region_is_refused_as_aws_does(server: EventBridgeV2Server) -> None:
    """An AWS endpoint serves one region: a request whose SigV4 credential scope names another is
    refused with HTTP 403 InvalidSignatureException before anything is done."""
    elsewhere = boto3.client("eventbridgev2", endpoint_url=server.endpoint_url, region_name="eu-west-1",
                             aws_access_key_id="test", aws_secret_access_key="test",
                             config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as caught:
        elsewhere.create_event_bus(Name=f"elsewhere-{uuid.uuid4().hex[:8]}")
    error = caught.value.response
    assert error["Error"]["Code"] == "InvalidSignatureException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Message"].startswith("Credential should be scoped to a valid region.")
    assert f"serves {REGION}" in error["Error"]["Message"] and "'eu-west-1'" in error["Error"]["Message"]
    assert not any(b["Name"].startswith("elsewhere-") for b in _client(server).list_event_buses()["EventBuses"])


def test_health(server: EventBridgeV2Server) -> None:
    with urllib.request.urlopen(server.endpoint_url + "/_eventlab/health", timeout=5) as response:
        document = json.loads(response.read())
    assert document["status"] == "running"
    assert document["apiVersion"] == "2025-05-15"


def test_only_loopback(tmp_path) -> None:
    with pytest.raises(ServerError, match="loopback"):
        EventBridgeV2Server(state_dir=tmp_path, backend_endpoint="http://127.0.0.1:9", host="0.0.0.0")


# -- event buses -------------------------------------------------------------------------------
def test_event_bus_lifecycle(client: Any, made: Resources) -> None:
    name = f"orders-{uuid.uuid4().hex[:8]}"
    created = client.create_event_bus(
        Name=name, Description="order events", StorageConfiguration={"RetentionPeriodInDays": 30},
        EncryptionConfiguration={"KmsKeyIdentifier": "alias/orders"}, Tags={"team": "orders"},
    )
    arn = created["EventBusArn"]
    made.buses.append(arn)
    assert created["State"] == "CREATING"
    assert arn.startswith(f"arn:aws:events:{REGION}:{ACCOUNT}:event-busv2/{name}/")
    assert len(arn.rsplit("/", 1)[1]) == 25
    client.get_waiter("event_bus_active").wait(EventBusArn=arn, WaiterConfig={"Delay": 1})
    bus = client.describe_event_bus(EventBusArn=arn)
    assert bus["State"] == "ACTIVE"
    assert bus["Description"] == "order events"
    assert bus["EncryptionConfiguration"] == {"KmsKeyIdentifier": "alias/orders"}
    storage = bus["StorageConfiguration"]
    assert storage["RetentionPeriodInDays"] == 30
    assert storage["RetentionWindowStartTime"] == bus["CreationTime"]  # a young bus: its creation
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "orders"}

    updated = client.update_event_bus(EventBusArn=arn, StorageConfiguration={"RetentionPeriodInDays": 90})
    assert updated["State"] == "UPDATING"
    assert error_of(client.update_event_bus, EventBusArn=arn)["Code"] in ("InvalidStateException",)
    assert wait_state(client, arn, "ACTIVE")["StorageConfiguration"]["RetentionPeriodInDays"] == 90
    assert client.describe_event_bus(EventBusArn=arn)["Description"] == "order events"  # omitted: unchanged

    client.delete_event_bus(EventBusArn=arn)
    assert client.describe_event_bus(EventBusArn=arn)["State"] == "DELETING"
    client.get_waiter("event_bus_deleted").wait(EventBusArn=arn, WaiterConfig={"Delay": 1})
    made.buses.remove(arn)


def test_default_retention_and_window(client: Any, made: Resources) -> None:
    arn = made.bus()
    assert client.describe_event_bus(EventBusArn=arn)["StorageConfiguration"]["RetentionPeriodInDays"] == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"Name": "orders", "StorageConfiguration": {"RetentionPeriodInDays": 0}},
         "Value '0' at 'storageConfiguration.retentionPeriodInDays' failed to satisfy constraint: "
         "Member must have value greater than or equal to 1"),
        ({"Name": "orders", "StorageConfiguration": {"RetentionPeriodInDays": 366}},
         "Value '366' at 'storageConfiguration.retentionPeriodInDays' failed to satisfy constraint: "
         "Member must have value less than or equal to 365"),
        ({"Name": "-orders"}, "Value '-orders' at 'name' failed to satisfy constraint: Member must satisfy "
         "regular expression pattern: [A-Za-z0-9][\\.\\-_A-Za-z0-9]*"),
        ({"Name": "x" * 257}, "Member must have length less than or equal to 256"),
        ({}, "Value null at 'name' failed to satisfy constraint: Member must not be null"),
    ],
)
def test_create_event_bus_bad_input(raw: Any, kwargs: dict[str, Any], message: str) -> None:
    error = error_of(raw.create_event_bus, **kwargs)
    assert (error["Code"], error["Status"]) == ("InvalidInputException", 400)
    assert error["Message"].startswith("1 validation error detected: ")
    assert message in error["Message"]


def test_several_validation_errors_are_reported_together(raw: Any) -> None:
    error = error_of(raw.create_event_bus, Name="!", StorageConfiguration={"RetentionPeriodInDays": 999})
    assert error["Message"].startswith("2 validation errors detected: ")


def test_bus_names_are_unique_and_the_quota_holds(client: Any, made: Resources) -> None:
    name = f"dup-{uuid.uuid4().hex[:8]}"
    made.bus(name)
    assert error_of(client.create_event_bus, Name=name)["Code"] == "ResourceAlreadyExistsException"
    for _ in range(4):
        made.bus(wait=False)
    error = error_of(client.create_event_bus, Name="one-too-many")
    assert (error["Code"], error["Status"]) == ("LimitExceededException", 400)


def test_client_token_makes_create_idempotent(client: Any, made: Resources) -> None:
    name = f"idem-{uuid.uuid4().hex[:8]}"
    first = client.create_event_bus(Name=name, ClientToken="token-1")
    made.buses.append(first["EventBusArn"])
    again = client.create_event_bus(Name=name, ClientToken="token-1")
    assert again["EventBusArn"] == first["EventBusArn"]
    error = error_of(client.create_event_bus, Name=name, Description="changed", ClientToken="token-1")
    assert (error["Code"], error["Status"]) == ("IdempotentParameterMismatchException", 409)
    wait_state(client, first["EventBusArn"], "ACTIVE")


def test_missing_and_malformed_bus_arns(client: Any, raw: Any) -> None:
    missing = f"arn:aws:events:{REGION}:{ACCOUNT}:event-busv2/nope/{'a' * 25}"
    error = error_of(client.describe_event_bus, EventBusArn=missing)
    assert (error["Code"], error["Status"]) == ("ResourceNotFoundException", 404)
    error = error_of(raw.describe_event_bus, EventBusArn="arn:aws:events:us-east-1:000000000000:event-bus/classic")
    assert error["Code"] == "InvalidInputException"
    assert "failed to satisfy constraint: Member must satisfy regular expression pattern" in error["Message"]


def test_list_event_buses_pages(client: Any, made: Resources) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    arns = {made.bus(f"{prefix}-{i}", wait=False) for i in range(3)}
    first = client.list_event_buses(NamePrefix=prefix, MaxResults=2)
    assert len(first["EventBuses"]) == 2 and "NextToken" in first
    second = client.list_event_buses(NamePrefix=prefix, MaxResults=2, NextToken=first["NextToken"])
    assert "NextToken" not in second
    assert {b["EventBusArn"] for b in first["EventBuses"] + second["EventBuses"]} == arns
    assert all(b["EventBusAccountId"] == ACCOUNT for b in first["EventBuses"])
    paged = client.get_paginator("list_event_buses").paginate(NamePrefix=prefix, PaginationConfig={"PageSize": 1})
    assert sum(len(page["EventBuses"]) for page in paged) == 3
    assert client.list_event_buses(EventBusAccountId="111122223333")["EventBuses"] == []
    assert error_of(client.list_event_buses, NextToken="not-a-token")["Code"] == "InvalidInputException"
    for arn in arns:
        wait_state(client, arn, "ACTIVE")


def test_a_creating_bus_takes_no_events(server: EventBridgeV2Server, client: Any, made: Resources) -> None:
    assert server.service is not None
    server.service.provisioning_delay = 30
    try:
        arn = made.bus(wait=False)
        error = error_of(client.put_events, EventBusArn=arn, Entries=[{"Source": "a", "DetailType": "b"}])
        assert (error["Code"], error["Status"]) == ("InvalidStateException", 409)
        assert error_of(client.create_subscriber, Name="s", EventBusArn=arn,
                        InvokeConfiguration={"TargetArn": QUEUE, "RoleArn": ROLE})["Code"] == "InvalidStateException"
        assert error_of(client.delete_event_bus, EventBusArn=arn)["Code"] == "InvalidStateException"
    finally:
        server.service.provisioning_delay = 0.05
        server.store.execute("UPDATE buses SET ready_at = 0")  # type: ignore[union-attr]


def test_a_bus_with_subscribers_cannot_be_deleted(client: Any, made: Resources) -> None:
    bus = made.bus()
    subscriber = made.subscriber(bus)
    error = error_of(client.delete_event_bus, EventBusArn=bus)
    assert (error["Code"], error["Status"]) == ("ResourceInUseException", 409)
    assert "subscriber" in error["Message"]
    client.revoke_resource(Arn=subscriber)  # revoked subscribers do not block the delete
    client.delete_event_bus(EventBusArn=bus)
    wait_gone(client, bus)
    assert error_of(client.describe_subscriber, SubscriberArn=subscriber)["Code"] == "ResourceNotFoundException"


# -- subscribers -------------------------------------------------------------------------------
def test_subscriber_lifecycle(client: Any, made: Resources) -> None:
    bus = made.bus()
    pattern = json.dumps({"detail": {"amount": [{"numeric": [">", 500]}]}})
    created = client.create_subscriber(
        Name="large-orders", EventBusArn=bus, Description="orders over 500", Type="FIFO",
        InvokeConfiguration={"TargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders.fifo", "RoleArn": ROLE,
                             "SqsParameters": {"MessageGroupId": "{% $events.SystemMetadata.EventGroupId %}"}},
        FilterConfiguration={"Filters": [{"Scope": "DATA", "Pattern": pattern},
                                         {"Scope": "SYSTEM_METADATA", "Pattern": '{"aws:Source": ["shop"]}'}]},
        Transformer={"Type": "WITH_METADATA"},
        RetryPolicy={"MaxRetryAttempts": 2},
        OnFailureConfiguration={"Arn": DLQ},
        Tags={"team": "orders"},
    )
    arn = created["SubscriberArn"]
    made.subscribers.append(arn)
    assert arn.startswith(f"arn:aws:events:{REGION}:{ACCOUNT}:subscriber/large-orders/")
    assert (created["Type"], created["StartingPosition"], created["State"]) == ("FIFO", "LATEST", "RUNNING")
    described = client.describe_subscriber(SubscriberArn=arn)
    assert described["FilterConfiguration"]["Language"] == "EVENT_BRIDGE_PATTERN"
    assert described["FilterConfiguration"]["Filters"][0]["Pattern"] == pattern
    assert described["RetryPolicy"] == {"MaxRetryAttempts": 2, "MaxEventAgeInSeconds": 300, "RetryStrategy": "ALL"}
    assert described["BatchConfiguration"] == {"MaxBatchSize": 10, "MaxBatchWindowInSeconds": 0}
    assert described["LogConfiguration"] == {"Level": "OFF", "IncludePayload": "ON_ERROR_ONLY"}
    assert described["OnFailureConfiguration"] == {"Arn": DLQ}
    assert "Revoked" not in described
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "orders"}

    listed = client.list_subscribers(EventBusArn=bus)["Subscribers"]
    assert [(s["SubscriberArn"], s["TargetArn"], s["Type"]) for s in listed] == [
        (arn, f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders.fifo", "FIFO")]

    updated = client.update_subscriber(SubscriberArn=arn, State="STOPPED", FilterConfiguration={},
                                       RetryPolicy={"MaxEventAgeInSeconds": 60})
    assert updated["State"] == "STOPPED"
    described = client.describe_subscriber(SubscriberArn=arn)
    assert "FilterConfiguration" not in described  # {} cleared it
    assert described["RetryPolicy"]["MaxRetryAttempts"] == 5  # a supplied block replaces the whole block
    assert described["Transformer"] == {"Type": "WITH_METADATA"}  # omitted: unchanged
    client.update_subscriber(SubscriberArn=arn, State="RUNNING", ResumePosition="LAST_PROCESSED",
                             InvokeConfiguration={"RoleArn": ROLE})
    described = client.describe_subscriber(SubscriberArn=arn)
    assert described["State"] == "RUNNING"
    assert described["InvokeConfiguration"]["TargetArn"].endswith("orders.fifo")  # the target stays

    client.delete_subscriber(SubscriberArn=arn)
    made.subscribers.remove(arn)
    assert error_of(client.describe_subscriber, SubscriberArn=arn)["Code"] == "ResourceNotFoundException"


def test_list_subscribers_pages_and_scopes(client: Any, made: Resources) -> None:
    bus, other = made.bus(), made.bus()
    names = [made.subscriber(bus, Name=f"sub-{i}") for i in range(3)]
    made.subscriber(other, Name="elsewhere")
    first = client.list_subscribers(EventBusArn=bus, MaxResults=2)
    second = client.list_subscribers(EventBusArn=bus, MaxResults=2, NextToken=first["NextToken"])
    assert {s["SubscriberArn"] for s in first["Subscribers"] + second["Subscribers"]} == set(names)
    assert len(client.list_subscribers(NamePrefix="sub-")["Subscribers"]) == 3
    assert len(client.list_subscribers()["Subscribers"]) == 4
    missing = f"arn:aws:events:{REGION}:{ACCOUNT}:event-busv2/nope/{'a' * 25}"
    assert error_of(client.list_subscribers, EventBusArn=missing)["Code"] == "ResourceNotFoundException"


def test_subscriber_names_are_unique_per_bus(client: Any, made: Resources) -> None:
    bus = made.bus()
    made.subscriber(bus, Name="same")
    error = error_of(client.create_subscriber, Name="same", EventBusArn=bus,
                     InvokeConfiguration={"TargetArn": QUEUE, "RoleArn": ROLE})
    assert (error["Code"], error["Status"]) == ("ResourceAlreadyExistsException", 409)


_FILTER = {"Filters": [{"Scope": "DATA", "Pattern": '{"a": ["b"]}'}]}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"InvokeConfiguration": {"TargetArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t", "RoleArn": ROLE}},
         "InvokeConfiguration.TargetArn: TargetArn is not a supported subscriber target"),
        ({"InvokeConfiguration": {"TargetArn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream:s", "RoleArn": ROLE}},
         "InvokeConfiguration.TargetArn: TargetArn resource must be of the form stream/{name}"),
        ({"InvokeConfiguration": {"TargetArn": QUEUE, "RoleArn": ROLE, "SnsParameters": {"Subject": "x"}}},
         f"SnsParameters is not supported for target {QUEUE}. Expected SqsParameters"),
        ({"InvokeConfiguration": {"TargetArn": f"arn:aws:sqs:{REGION}:111122223333:q", "RoleArn": ROLE}},
         f"Target resource account (111122223333) must match the subscriber account ({ACCOUNT})"),
        ({"InvokeConfiguration": {"TargetArn": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q", "RoleArn": ROLE}},
         f"TargetArn must be in region {REGION}"),
        ({"FilterConfiguration": {}}, "Filters is required and must contain at least one Filter"),
        ({"FilterConfiguration": {"Filters": [{"Scope": "DATA", "Pattern": '{"a": ["b"]}'},
                                              {"Scope": "DATA", "Pattern": '{"c": ["d"]}'}]}},
         "at most one filter per scope"),
        ({"FilterConfiguration": {"Filters": [{"Scope": "DATA", "Pattern": "{not json"}]}}, "not valid JSON"),
        ({"FilterConfiguration": {"Filters": [{"Scope": "DATA", "Pattern": '{"a": []}'}]}}, "an empty array matches nothing"),
        ({"FilterConfiguration": {"Filters": [{"Scope": "DATA", "Pattern": '{"a": [{"wildcard": "x*"}]}'}]}},
         "subscriber filters do not support wildcard matching"),
        ({"FilterConfiguration": {"Filters": [{"Scope": "METADATA", "Pattern": '{"tenant": [{"prefix": "a"}]}'}]}},
         "a METADATA filter matches exact values only"),
        ({"Transformer": {"Type": "JSONATA"}}, "Transformer.JsonataConfiguration is required"),
        ({"Transformer": {"Type": "JSONATA", "JsonataConfiguration": {"Expression": "{% $events.( %}"}}},
         "the JSONata expression does not parse"),
        ({"StartingPosition": "LATEST", "PointInTimeConfiguration": {"PointType": "HORIZON"}},
         "PointInTimeConfiguration is only applicable when StartingPosition is POINT_IN_TIME"),
        ({"StartingPosition": "POINT_IN_TIME"}, "PointInTimeConfiguration is required"),
        ({"StartingPosition": "POINT_IN_TIME", "PointInTimeConfiguration": {"PointType": "TIMESTAMP"}},
         "StartingPoint is required when PointType is TIMESTAMP"),
        ({"StartingPosition": "POINT_IN_TIME", "PointInTimeConfiguration": {
            "PointType": "TIMESTAMP", "StartingPoint": datetime(2020, 1, 1, tzinfo=UTC)}},
         "must fall inside the retention window"),
        ({"StartingPosition": "POINT_IN_TIME", "PointInTimeConfiguration": {
            "PointType": "TIMESTAMP", "StartingPoint": datetime.now(UTC) + timedelta(hours=1)}},
         "must fall inside the retention window"),
        ({"InvokeConfiguration": {"TargetArn": QUEUE, "RoleArn": ROLE, "SqsParameters": {
            "MessageAttributes": {"a": {"DataType": "Binary", "BinaryValue": "{% $events.Data %}"}}}}},
         "BinaryValue must be a literal"),
    ],
)
def test_create_subscriber_bad_input(client: Any, made: Resources, kwargs: dict[str, Any], message: str) -> None:
    bus = made.bus()
    kwargs.setdefault("InvokeConfiguration", {"TargetArn": QUEUE, "RoleArn": ROLE})
    error = error_of(client.create_subscriber, Name="bad", EventBusArn=bus, **kwargs)
    assert (error["Code"], error["Status"]) == ("InvalidInputException", 400), error
    assert message in error["Message"]
    assert client.list_subscribers(EventBusArn=bus)["Subscribers"] == []  # nothing half-built


def test_create_subscriber_model_errors(raw: Any, made: Resources) -> None:
    bus = made.bus()
    error = error_of(raw.create_subscriber, Name="bad", EventBusArn=bus, Type="LIFO",
                     InvokeConfiguration={"TargetArn": QUEUE, "RoleArn": ROLE})
    assert "Value 'LIFO' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [FIFO, UNORDERED]" in error["Message"]
    error = error_of(raw.create_subscriber, Name="bad", EventBusArn=bus,
                     InvokeConfiguration={"TargetArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f", "RoleArn": ROLE,
                                          "LambdaParameters": {"InvocationType": "Event"}})
    # LambdaParameters is sensitive, so AWS leaves the value out of the message.
    assert ("Value at 'invokeConfiguration.lambdaParameters.invocationType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [EVENT, REQUEST_RESPONSE]") in error["Message"]
    error = error_of(raw.create_subscriber, Name="bad", EventBusArn=bus, RetryPolicy={"MaxRetryAttempts": 186},
                     InvokeConfiguration={"TargetArn": QUEUE, "RoleArn": ROLE})
    assert "at 'retryPolicy.maxRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 185" in error["Message"]
    error = error_of(raw.create_subscriber, Name="bad", EventBusArn=bus, InvokeConfiguration={"TargetArn": QUEUE})
    assert "Value null at 'invokeConfiguration.roleArn' failed to satisfy constraint: Member must not be null" in error["Message"]


def test_own_bus_and_unemulated_targets(client: Any, made: Resources) -> None:
    bus = made.bus()
    error = error_of(client.create_subscriber, Name="loop", EventBusArn=bus,
                     InvokeConfiguration={"TargetArn": bus, "RoleArn": ROLE})
    assert "must not reference the subscriber's own event bus" in error["Message"]
    error = error_of(client.create_subscriber, Name="sfn", EventBusArn=bus,
                     InvokeConfiguration={"TargetArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m", "RoleArn": ROLE})
    assert (error["Code"], error["Status"]) == ("NotImplementedException", 501)
    assert "Step Functions" in error["Message"]


def test_point_in_time_subscribers(client: Any, made: Resources) -> None:
    bus = made.bus()
    horizon = made.subscriber(bus, StartingPosition="POINT_IN_TIME", PointInTimeConfiguration={"PointType": "HORIZON"})
    assert client.describe_subscriber(SubscriberArn=horizon)["PointInTimeConfiguration"] == {"PointType": "HORIZON"}
    start = client.describe_event_bus(EventBusArn=bus)["CreationTime"] + timedelta(milliseconds=1)
    time.sleep(0.01)
    at = made.subscriber(bus, StartingPosition="POINT_IN_TIME",
                         PointInTimeConfiguration={"PointType": "TIMESTAMP", "StartingPoint": start})
    point = client.describe_subscriber(SubscriberArn=at)["PointInTimeConfiguration"]
    assert point["PointType"] == "TIMESTAMP"
    assert abs(point["StartingPoint"].timestamp() - start.timestamp()) < 0.001


def test_revoked_subscribers_only_delete(client: Any, made: Resources) -> None:
    bus = made.bus()
    arn = made.subscriber(bus)
    assert client.revoke_resource(Arn=arn)["Arn"] == arn
    assert client.describe_subscriber(SubscriberArn=arn)["Revoked"] is True
    assert client.list_subscribers(EventBusArn=bus)["Subscribers"][0]["Revoked"] is True
    error = error_of(client.update_subscriber, SubscriberArn=arn, State="STOPPED")
    assert (error["Code"], error["Status"]) == ("InvalidStateException", 409)
    client.delete_subscriber(SubscriberArn=arn)


# -- tags and resource policies ----------------------------------------------------------------
def test_tags(client: Any, made: Resources) -> None:
    bus = made.bus()
    client.tag_resource(ResourceArn=bus, Tags={"a": "1", "b": "2"})
    client.untag_resource(ResourceArn=bus, TagKeys=["a"])
    assert client.list_tags_for_resource(ResourceArn=bus)["Tags"] == {"b": "2"}
    missing = f"arn:aws:events:{REGION}:{ACCOUNT}:subscriber/nope/{'a' * 25}"
    assert error_of(client.tag_resource, ResourceArn=missing, Tags={"a": "1"})["Code"] == "ResourceNotFoundException"


def test_resource_policies(client: Any, made: Resources) -> None:
    bus = made.bus()
    grant = {"Version": "2012-10-17", "Statement": [{
        "Sid": "consumer", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": ["events:CreateSubscriber"], "Resource": bus}]}
    written = client.put_resource_policy(ResourceArn=bus, PolicyDocument=json.dumps(grant), ExpectedRevisionId="NO_POLICY")
    assert written["PolicyName"] == "default"
    read = client.get_resource_policy(ResourceArn=bus)
    assert json.loads(read["PolicyDocument"]) == grant and read["RevisionId"] == written["RevisionId"]
    assert client.list_resource_policies(ResourceArn=bus)["PolicySummaries"] == [
        {"PolicyName": "default", "RevisionId": written["RevisionId"]}]
    conflict = error_of(client.put_resource_policy, ResourceArn=bus, PolicyDocument=json.dumps(grant), ExpectedRevisionId="NO_POLICY")
    assert (conflict["Code"], conflict["Status"]) == ("ConflictException", 409)
    public = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
                                                      "Resource": bus, "Condition": {"StringEquals": {"events:source": "x"}}}]}
    assert error_of(client.put_resource_policy, ResourceArn=bus, PolicyDocument=json.dumps(public))["Code"] == "PublicPolicyException"
    limited = {**public, "Statement": [{**public["Statement"][0], "Condition": {"StringEquals": {"aws:PrincipalAccount": "444455556666"}}}]}
    client.put_resource_policy(ResourceArn=bus, PolicyDocument=json.dumps(limited))
    assert error_of(client.put_resource_policy, ResourceArn=bus, PolicyDocument="{}", PolicyName="AWS_RAM")["Code"] == "AccessDeniedException"
    assert error_of(client.get_resource_policy, ResourceArn=bus, PolicyName="other")["Code"] == "InvalidInputException"
    assert error_of(client.get_resource_policy, ResourceArn=bus, PolicyName="AWS_RAM")["Code"] == "ResourceNotFoundException"
    too_long = json.dumps({**grant, "Padding": "x" * 21000})
    assert error_of(client.put_resource_policy, ResourceArn=bus, PolicyDocument=too_long)["Code"] == "PolicyLengthExceededException"
    assert error_of(client.delete_resource_policy, ResourceArn=bus, ExpectedRevisionId="stale")["Code"] == "ConflictException"
    assert "RevisionId" in client.delete_resource_policy(ResourceArn=bus)
    assert "RevisionId" not in client.delete_resource_policy(ResourceArn=bus)  # absent: idempotent success
    assert error_of(client.get_resource_policy, ResourceArn=bus)["Code"] == "ResourceNotFoundException"


def test_event_sources_are_not_emulated(client: Any, made: Resources) -> None:
    bus = made.bus()
    assert client.list_event_sources(EventBusArn=bus)["EventSources"] == []
    source = f"arn:aws:events:{REGION}:{ACCOUNT}:event-sourcev2/aws.service/s3/{'a' * 25}"
    assert error_of(client.describe_event_source, EventSourceArn=source)["Code"] == "ResourceNotFoundException"
    error = error_of(client.create_event_source, Name="s3", EventBusArn=bus,
                     Configuration={"AwsServiceEventsConfiguration": {"AwsService": "aws.s3"}})
    assert (error["Code"], error["Status"]) == ("NotImplementedException", 501)


def test_what_botocore_1_44_added_is_handled(client: Any, made: Resources) -> None:
    """botocore 1.44's model adds webhook event sources (RotateWebhookCredentials) and MSK
    targets: neither is emulated, so each gets the answer of an account without one."""
    operations = load_service_model().operation_names
    if "RotateWebhookCredentials" not in operations:
        pytest.skip("this botocore's eventbridgev2 model predates webhook event sources (1.44)")
    bus = made.bus()
    webhook = f"arn:aws:events:{REGION}:{ACCOUNT}:event-sourcev2/webhook/github/{'b' * 25}"
    error = error_of(client.rotate_webhook_credentials, EventSourceArn=webhook)
    assert (error["Code"], error["Status"]) == ("ResourceNotFoundException", 404)
    error = error_of(client.create_subscriber, Name="msk", EventBusArn=bus, InvokeConfiguration={
        "TargetArn": f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/orders/{'c' * 36}", "RoleArn": ROLE,
        "MskParameters": {"TopicName": "orders", "Connectivity": "PUBLIC"}})
    assert (error["Code"], error["Status"]) == ("NotImplementedException", 501)
    assert "Amazon MSK" in error["Message"]
    error = error_of(client.create_subscriber, Name="msk-on-sqs", EventBusArn=bus, InvokeConfiguration={
        "TargetArn": QUEUE, "RoleArn": ROLE, "MskParameters": {"TopicName": "orders", "Connectivity": "PUBLIC"}})
    assert "MskParameters is not supported for target" in error["Message"]


# -- publishing --------------------------------------------------------------------------------
def test_put_events_entries(client: Any, made: Resources) -> None:
    bus = made.bus()
    response = client.put_events(EventBusArn=bus, Entries=[
        {"Source": "shop", "DetailType": "OrderPlaced", "Detail": '{"id": 1}', "Resources": ["arn:x"],
         "Time": datetime(2026, 9, 1, tzinfo=UTC), "SystemMetadata": {"EventGroupId": "order-1"}},
        {"Source": "aws.s3", "DetailType": "Object Created", "Detail": "{}"},
        {"Source": "shop", "DetailType": "OrderPlaced", "Detail": "not json"},
        {"Source": "shop", "DetailType": "OrderPlaced", "Detail": "[1, 2]"},
        {"Source": "shop", "DetailType": "NoDetail"},
    ])
    entries = response["Entries"]
    assert response["FailedEntryCount"] == 3
    assert entries[0]["SuccessCode"] == "PUBLISHED" and entries[0]["EventId"] and entries[0]["SequenceNumber"]
    assert entries[1]["ErrorCode"] == "InvalidArgument" and "aws." in entries[1]["ErrorMessage"]
    assert entries[2]["ErrorCode"] == entries[3]["ErrorCode"] == "MalformedDetail"
    assert entries[4]["SuccessCode"] == "PUBLISHED"
    assert int(entries[4]["SequenceNumber"]) > int(entries[0]["SequenceNumber"])


def test_put_events_limits(raw: Any, made: Resources) -> None:
    bus = made.bus()
    error = error_of(raw.put_events, EventBusArn=bus, Entries=[{"Source": "s", "DetailType": "d"}] * 101)
    assert "Member must have length less than or equal to 100" in error["Message"]
    error = error_of(raw.put_events, EventBusArn=bus, Entries=[])
    assert "Member must have length greater than or equal to 1" in error["Message"]


def test_put_raw_events_content_types(client: Any, raw: Any, made: Resources) -> None:
    bus = made.bus()

    def one(content_type: str, data: bytes = b'{"a": 1}', **kwargs: Any) -> dict[str, Any]:
        return client.put_raw_events(EventBusArn=bus, Entries=[
            {"Data": data, "SystemMetadata": {"ContentType": content_type}}], **kwargs)["Entries"][0]

    assert one("application/json")["SuccessCode"] == "PUBLISHED"
    assert one("application/octet-stream", b"\x00\x01")["SuccessCode"] == "PUBLISHED"
    supported = ("Supported types: application/json, application/avro, application/protobuf, "
                 "application/octet-stream.")
    assert one("application/xml")["ErrorMessage"] == f"Unsupported contentType: application/xml. {supported}"
    assert one("application/eventbridge+json")["ErrorMessage"] == (
        f"Unsupported contentType: application/eventbridge+json. {supported}")
    assert one("application/avro", b"\x02")["ErrorMessage"] == "SchemaRegistryConfiguration is required for open-format events"
    assert "not valid JSON" in one("application/json", b"{oops")["ErrorMessage"]
    error = error_of(client.put_raw_events, EventBusArn=bus,
                     SchemaRegistryConfiguration={"RegistryUri": f"arn:aws:glue:{REGION}:{ACCOUNT}:registry/orders"},
                     Entries=[{"Data": b"\x02", "SystemMetadata": {"ContentType": "application/protobuf"}}])
    assert (error["Code"], error["Status"]) == ("SchemaRegistryUnavailableException", 400)
    error = error_of(raw.put_raw_events, EventBusArn=bus, Entries=[
        {"Data": b"{}", "SystemMetadata": {"ContentType": "text/plain"}}])
    assert "Member must satisfy regular expression pattern: application/.*" in error["Message"]
    error = error_of(raw.put_raw_events, EventBusArn=bus, Entries=[
        {"Data": b"{}", "Metadata": {"a/b": "c"}, "SystemMetadata": {"ContentType": "application/json"}}])
    assert "Map keys must satisfy constraint" in error["Message"]


def test_deduplication_by_id_within_five_minutes(client: Any, clock: Clock, made: Resources) -> None:
    bus, other = made.bus(), made.bus()

    def publish(target: str, dedup: str) -> dict[str, Any]:
        return client.put_events(EventBusArn=target, Entries=[{
            "Source": "shop", "DetailType": "OrderPlaced", "Detail": '{"n": 1}',
            "SystemMetadata": {"DeduplicationId": dedup}}])["Entries"][0]

    first = publish(bus, "order-1")
    assert first["SuccessCode"] == "PUBLISHED"
    clock.advance(299)
    again = publish(bus, "order-1")
    assert (again["SuccessCode"], again["EventId"]) == ("DEDUPLICATED", first["EventId"])
    assert publish(other, "order-1")["SuccessCode"] == "PUBLISHED"  # scoped to the bus
    assert publish(bus, "order-2")["SuccessCode"] == "PUBLISHED"
    clock.advance(2)  # 301 s after the first publish: the window has closed
    later = publish(bus, "order-1")
    assert later["SuccessCode"] == "PUBLISHED" and later["EventId"] != first["EventId"]


def test_deduplication_by_content(client: Any, clock: Clock, made: Resources) -> None:
    bus = made.bus()
    content = {"Source": "shop", "DetailType": "OrderPlaced", "Detail": '{"n": 7}'}
    dedup = {"DeduplicationType": "CONTENT_BASED"}
    entries = client.put_events(EventBusArn=bus, DeduplicationConfiguration=dedup,
                                Entries=[content, content, {**content, "Detail": '{"n": 8}'}])["Entries"]
    assert [e["SuccessCode"] for e in entries] == ["PUBLISHED", "DEDUPLICATED", "PUBLISHED"]
    assert entries[1]["EventId"] == entries[0]["EventId"]
    # without CONTENT_BASED (and no DeduplicationId) nothing is deduplicated
    plain = client.put_events(EventBusArn=bus, Entries=[content])["Entries"][0]
    assert plain["SuccessCode"] == "PUBLISHED"
    raw_entry = {"Data": b'{"n": 7}', "SystemMetadata": {"ContentType": "application/json"}}
    raw_entries = client.put_raw_events(EventBusArn=bus, DeduplicationConfiguration=dedup,
                                        Entries=[raw_entry, raw_entry])["Entries"]
    assert [e["SuccessCode"] for e in raw_entries] == ["PUBLISHED", "DEDUPLICATED"]
    clock.advance(301)
    assert client.put_events(EventBusArn=bus, DeduplicationConfiguration=dedup,
                             Entries=[content])["Entries"][0]["SuccessCode"] == "PUBLISHED"


def test_every_operation_is_served(server: EventBridgeV2Server) -> None:
    model = load_service_model()
    assert server.service is not None
    missing = [name for name in model.operation_names if not hasattr(server.service, name)]
    assert missing == []
