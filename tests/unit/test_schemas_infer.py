"""Schema inference from events: names, types, required fields, nesting, formats, merging."""

from __future__ import annotations

import copy

import pytest
from schema_samples import ORDER, envelope

from eventlab.schemas import DRAFT4, OPENAPI3, infer_schemas, schema_name
from eventlab.schemas.document import detail_shape, to_draft4
from eventlab.schemas.infer import canonical, infer_shape, merge_shapes, pascal_case


@pytest.mark.parametrize(
    ("text", "name"),
    [("Order Placed", "OrderPlaced"), ("EC2 Instance State-change Notification", "EC2InstanceStateChangeNotification"),
     ("shipping_address", "ShippingAddress"), ("orderPlaced", "OrderPlaced"), ("3ds check", "N3dsCheck")],
)
def test_names_follow_eventbridge_discovered_schemas(text: str, name: str) -> None:
    assert pascal_case(text) == name
    assert schema_name("aws.ec2", "EC2 Instance State-change Notification") == "aws.ec2@EC2InstanceStateChangeNotification"
    with pytest.raises(ValueError, match="no letters or digits"):
        pascal_case("--")


def test_scalar_types_and_obvious_formats() -> None:
    assert infer_shape(True) == {"type": "boolean"}
    assert infer_shape(3) == {"type": "integer"}
    assert infer_shape(3.5) == {"type": "number"}
    assert infer_shape(None) == {"type": "null"}
    assert infer_shape("2026-11-26T23:00:00.123+01:00") == {"type": "string", "format": "date-time"}
    assert infer_shape("ada@example.com") == {"type": "string", "format": "email"}
    assert infer_shape("10.0.0.1") == {"type": "string", "format": "ipv4"}
    assert infer_shape("2026-11-26") == {"type": "string"}


def test_every_key_of_one_event_is_required_and_nested_objects_are_described() -> None:
    shape = infer_shape(ORDER)
    assert shape["required"] == sorted(ORDER)
    assert shape["properties"]["customer"]["required"] == ["email", "id"]
    assert shape["properties"]["lines"] == {
        "type": "array",
        "items": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                  "required": ["qty", "sku"]},
    }


def test_merging_keeps_only_fields_every_event_had_as_required() -> None:
    other = copy.deepcopy(ORDER)
    del other["gift"]
    other["coupon"] = "WELCOME"
    other["total"] = 3
    other["customer"] = {"id": "c-2"}
    other["lines"] = []
    merged = merge_shapes(infer_shape(ORDER), infer_shape(other))
    assert set(merged["required"]) == set(ORDER) - {"gift"}
    assert {"gift", "coupon"} <= set(merged["properties"])
    assert merged["properties"]["total"] == {"type": "number"}  # integer and number: number
    assert merged["properties"]["customer"]["required"] == ["id"]
    assert merged["properties"]["lines"]["items"]["required"] == ["qty", "sku"]  # [] adds nothing


def test_mixed_and_null_types_are_joined() -> None:
    merged = merge_shapes(infer_shape({"note": None, "ref": 1}), infer_shape({"note": "hi", "ref": "r-1"}))
    assert merged["properties"]["note"] == {"type": ["null", "string"]}
    assert merged["properties"]["ref"] == {"type": ["integer", "string"]}
    assert merge_shapes(infer_shape("2026-11-26T23:00:00Z"), infer_shape("soon")) == {"type": "string"}


def test_one_schema_per_source_and_detail_type() -> None:
    found = infer_schemas([
        envelope(ORDER), envelope({**ORDER, "orderId": "o-2"}),
        envelope({"orderId": "o-1", "carrier": "DHL"}, detail_type="Order Shipped"),
        envelope({"amount": 1}, source="shop.payments", detail_type="PaymentTaken"),
    ])
    assert sorted(found) == ["shop.orders@OrderPlaced", "shop.orders@OrderShipped", "shop.payments@PaymentTaken"]
    assert found["shop.orders@OrderPlaced"].events == 2
    with pytest.raises(ValueError, match="no detail-type"):
        infer_schemas([{"source": "x", "detail": {}}])


@pytest.mark.parametrize("schema_type", [DRAFT4, OPENAPI3])
def test_rendered_like_eventbridge_discovered_schemas(schema_type: str) -> None:
    inferred = infer_schemas([envelope(ORDER)])["shop.orders@OrderPlaced"]
    doc = inferred.render(schema_type)
    if schema_type == OPENAPI3:
        assert doc["openapi"] == "3.0.0"
        schemas = doc["components"]["schemas"]
        assert set(schemas) == {"AWSEvent", "OrderPlaced", "Customer", "LinesItem"}
        event = schemas["AWSEvent"]
        assert event["properties"]["detail"] == {"$ref": "#/components/schemas/OrderPlaced"}
    else:
        assert doc["$schema"] == "http://json-schema.org/draft-04/schema#"
        assert set(doc["definitions"]) == {"OrderPlaced", "Customer", "LinesItem"}
        event = doc
        assert event["properties"]["detail"] == {"$ref": "#/definitions/OrderPlaced"}
    assert event["x-amazon-events-source"] == "shop.orders"
    assert event["x-amazon-events-detail-type"] == "Order Placed"
    assert event["properties"]["time"] == {"type": "string", "format": "date-time"}
    assert "detail" in event["required"]
    # Either type reads back to the same detail shape.
    assert detail_shape(to_draft4(doc, schema_type)) == infer_shape(ORDER)


def test_nullable_fields_survive_both_types() -> None:
    inferred = infer_schemas([envelope({"note": None, "customer": None}), envelope({"note": "x", "customer": {"id": "c"}})])
    for schema_type in (DRAFT4, OPENAPI3):
        shape = detail_shape(to_draft4(inferred["shop.orders@OrderPlaced"].render(schema_type)))
        assert shape["properties"]["note"]["type"] == ["null", "string"]
        assert shape["properties"]["customer"]["type"] == ["null", "object"]


def test_canonical_text_ignores_key_order_and_spacing() -> None:
    assert canonical('{"b": 1, "a": [1, 2]}') == canonical({"a": [1, 2], "b": 1})
