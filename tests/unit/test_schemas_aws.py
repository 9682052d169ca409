"""The AWS code path (EventBridge Schemas API) without the network: botocore's Stubber.

Every call the registry makes must be one the stub expects, in order; a call it does not
expect fails the test instead of reaching AWS.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from eventlab import leaks
from eventlab.run import Run
from eventlab.schemas import (
    EventBridgeSchemaRegistry,
    SchemaNotFoundError,
    SchemaRegistryError,
    create_registry,
)
from eventlab.schemas.infer import infer_schemas
from eventlab.target import Target

ACCOUNT = "123456789012"
WHEN = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


@pytest.fixture
def aws() -> Target:
    """An AWS target with made-up credentials; only stubbed clients are used."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1")
    return Target.aws(session=session, announce=False)


@pytest.fixture
def stub(aws: Target) -> Iterator[Stubber]:
    with Stubber(aws.client("schemas")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def order_schema(*details: dict[str, Any]) -> dict[str, Any]:
    events = [{"source": "shop.orders", "detail-type": "Order Placed", "detail": d} for d in details]
    return infer_schemas(events)["shop.orders@OrderPlaced"].render()


def schema_reply(name: str, version: str, content: str | None = None) -> dict[str, Any]:
    reply = {
        "SchemaArn": f"arn:aws:schemas:eu-west-1:{ACCOUNT}:schema/reg/{name}",
        "SchemaName": name,
        "SchemaVersion": version,
        "Type": "JSONSchemaDraft4",
        "VersionCreatedDate": WHEN,
        "LastModified": WHEN,
    }
    if content is not None:
        reply["Content"] = content
    return reply


def test_registry_is_created_tagged_versioned_and_deleted_through_the_api(aws: Target, stub: Stubber) -> None:
    run = Run(aws, run_id="stubbed1")
    name = "el-stubbed1-shop"
    schema = "shop.orders@OrderPlaced"
    v1 = order_schema({"orderId": "o-1", "total": 1.5})
    v2 = order_schema({"orderId": "o-1", "total": 1.5}, {"orderId": "o-2", "total": 2, "coupon": "X"})

    stub.add_response("create_registry",
                      {"RegistryArn": f"arn:aws:schemas:eu-west-1:{ACCOUNT}:registry/{name}", "RegistryName": name},
                      {"RegistryName": name, "Tags": run.tags, "Description": "shop events"})
    registry = create_registry(run, "shop", description="shop events")
    assert isinstance(registry, EventBridgeSchemaRegistry) and registry.name == name

    # First put: DescribeSchema says not found, so CreateSchema.
    stub.add_client_error("describe_schema", "NotFoundException", http_status_code=404,
                          expected_params={"RegistryName": name, "SchemaName": schema})
    stub.add_response("create_schema", schema_reply(schema, "1"),
                      {"RegistryName": name, "SchemaName": schema, "Type": "JSONSchemaDraft4", "Content": ANY})
    first = registry.put_schema(schema, v1)
    assert first.created and first.version.version == "1" and first.changes == []

    # Same content again: DescribeSchema only, no new version.
    stub.add_response("describe_schema", schema_reply(schema, "1", json.dumps(v1)))
    again = registry.put_schema(schema, v1)
    assert not again.created and again.version.version == "1"

    # Changed content: UpdateSchema, and the compatibility of the new version is reported.
    stub.add_response("describe_schema", schema_reply(schema, "1", json.dumps(v1)))
    stub.add_response("update_schema", schema_reply(schema, "2"),
                      {"RegistryName": name, "SchemaName": schema, "Type": "JSONSchemaDraft4", "Content": ANY})
    second = registry.put_schema(schema, v2)
    assert second.created and second.version.version == "2" and second.previous == "1"
    assert [(c.path, c.kind) for c in second.changes] == [("detail.coupon", "added-optional")]
    assert second.compatible

    stub.add_response("list_schema_versions", {
        "SchemaVersions": [{"SchemaName": schema, "SchemaVersion": "2", "Type": "JSONSchemaDraft4"}], "NextToken": "t"})
    stub.add_response("list_schema_versions", {
        "SchemaVersions": [{"SchemaName": schema, "SchemaVersion": "1", "Type": "JSONSchemaDraft4"}]},
        {"RegistryName": name, "SchemaName": schema, "NextToken": "t"})
    assert registry.list_schema_versions(schema) == ["1", "2"]

    stub.add_response("describe_schema", schema_reply(schema, "1", json.dumps(v1)),
                      {"RegistryName": name, "SchemaName": schema, "SchemaVersion": "1"})
    registry.validate({"source": "shop.orders", "detail-type": "Order Placed", "detail": {"orderId": "o", "total": 2}},
                      schema, "1", detail_only=True)

    stub.add_client_error("describe_schema", "NotFoundException", http_status_code=404)
    with pytest.raises(SchemaNotFoundError, match="version 9 of schema"):
        registry.describe_schema(schema, "9")

    # Teardown: schemas first, then the registry.
    stub.add_response("list_schemas", {"Schemas": [{"SchemaName": schema}]}, {"RegistryName": name})
    stub.add_response("delete_schema", {}, {"RegistryName": name, "SchemaName": schema})
    stub.add_response("delete_registry", {}, {"RegistryName": name})
    report = run.destroy()
    assert report.ok and [r.kind for r in report.deleted] == ["schemas:registry"]


def test_a_schema_created_meanwhile_by_another_writer_gets_a_new_version(aws: Target, stub: Stubber) -> None:
    registry = EventBridgeSchemaRegistry(aws, "reg")
    stub.add_client_error("describe_schema", "NotFoundException", http_status_code=404)
    stub.add_client_error("create_schema", "ConflictException", http_status_code=409)
    stub.add_response("update_schema", schema_reply("s@X", "2"))
    assert registry.put_schema("s@X", order_schema({"a": 1})).version.version == "2"


def test_aws_code_binding_waits_and_unpacks_the_source(aws: Target, stub: Stubber) -> None:
    registry = EventBridgeSchemaRegistry(aws, "reg")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("schema/shop_orders/orderplaced/OrderPlaced.py", "class OrderPlaced: ...\n")
    params = {"RegistryName": "reg", "SchemaName": "s@X", "Language": "Python36", "SchemaVersion": "2"}
    stub.add_response("put_code_binding", {"Status": "CREATE_IN_PROGRESS", "SchemaVersion": "2"}, params)
    stub.add_response("describe_code_binding", {"Status": "CREATE_COMPLETE", "SchemaVersion": "2"}, params)
    stub.add_response("get_code_binding_source", {"Body": archive.getvalue()}, params)
    files = registry.aws_code_binding("s@X", "2", poll=0)
    assert files == {"schema/shop_orders/orderplaced/OrderPlaced.py": "class OrderPlaced: ...\n"}


def test_leak_check_lists_and_deletes_registries_on_aws(aws: Target, stub: Stubber) -> None:
    stub.add_response("list_registries", {"Registries": [{"RegistryName": "el-abcdefgh-shop"}]},
                      {"RegistryNamePrefix": "el-abcdefgh", "Scope": "LOCAL"})
    assert list(leaks.CHECKS["schemas:registry"](aws, "el-abcdefgh")) == ["el-abcdefgh-shop"]
    stub.add_response("list_schemas", {"Schemas": []}, {"RegistryName": "el-abcdefgh-shop"})
    stub.add_response("delete_registry", {}, {"RegistryName": "el-abcdefgh-shop"})
    leaks.DELETERS["schemas:registry"](aws, "el-abcdefgh-shop")


def test_emulated_targets_skip_the_schemas_api() -> None:
    class Emulated:
        is_emulated = True
        region = "us-east-1"

        def client(self, service: str) -> object:
            raise AssertionError(f"no {service} call expected on the emulator")

    assert list(leaks.CHECKS["schemas:registry"](Emulated(), "el-abcdefgh")) == []  # type: ignore[arg-type]
    with pytest.raises(SchemaRegistryError, match="no EventBridge Schemas API"):
        create_registry(Run(Emulated()), "shop", backend="eventbridge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="use 's3' or 'eventbridge'"):
        create_registry(Run(Emulated()), "shop", backend="glue")  # type: ignore[arg-type]
