"""Validation, compatibility and code bindings, offline: the contract a producer must keep."""

from __future__ import annotations

import copy
import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from schema_samples import ORDER, envelope

from eventlab.schemas import (
    DRAFT4,
    OPENAPI3,
    SchemaValidationError,
    compare,
    infer_schemas,
    problems,
    python_bindings,
    validate,
)
from eventlab.schemas.compat import breaking


def registered(schema_type: str = DRAFT4, *events: dict[str, Any]) -> dict[str, Any]:
    seen = list(events) or [envelope(ORDER)]
    return infer_schemas(seen)["shop.orders@OrderPlaced"].render(schema_type)


def import_source(source: str, path: Path, name: str) -> ModuleType:
    """Write generated source to a file and import it, as a user of the bindings would."""
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("schema_type", [DRAFT4, OPENAPI3])
def test_a_matching_event_passes_and_a_broken_one_names_each_field(schema_type: str) -> None:
    schema = registered(schema_type)
    validate(envelope(ORDER), schema)

    bad = envelope(copy.deepcopy(ORDER))
    del bad["detail"]["customer"]["id"]
    bad["detail"]["quantity"] = "two"
    bad["detail"]["placedAt"] = "yesterday"
    bad["detail"]["lines"][0]["qty"] = 1.5
    del bad["source"]
    with pytest.raises(SchemaValidationError) as caught:
        validate(bad, schema, schema="shop.orders@OrderPlaced")
    found = {p.field: p.message for p in caught.value.problems}
    assert found == {
        "source": "required field is missing",
        "detail.customer.id": "required field is missing",
        "detail.quantity": "expected integer, got str 'two'",
        "detail.placedAt": "'yesterday' is not a valid date-time",
        "detail.lines[0].qty": "expected integer, got float 1.5",
    }
    assert "shop.orders@OrderPlaced" in str(caught.value) and "detail.customer.id" in str(caught.value)


def test_detail_only_validation_takes_a_bare_detail_or_an_envelope() -> None:
    schema = registered()
    broken = {**ORDER, "total": "12.50"}
    assert [str(p) for p in problems(broken, schema, detail_only=True)] == ["total: expected number, got str '12.50'"]
    # An envelope with detail_only: the envelope is not checked, field names keep their "detail." path.
    assert [p.field for p in problems({**envelope(broken), "id": 7}, schema, detail_only=True)] == ["detail.total"]


def test_new_optional_field_is_compatible_and_still_validates() -> None:
    v1 = registered()
    evolved = {**ORDER, "coupon": "WELCOME"}
    validate(envelope(evolved), v1)  # old consumers tolerate the new field
    v2 = registered(DRAFT4, envelope(ORDER), envelope(evolved))
    changes = compare(v1, v2)
    assert [(c.path, c.kind, c.breaking) for c in changes] == [("detail.coupon", "added-optional", False)]


def test_removed_required_field_and_changed_type_are_breaking() -> None:
    v1 = registered()
    changed = {k: v for k, v in ORDER.items() if k != "gift"}
    changed["quantity"] = "2"
    changed["customer"] = {"id": 5, "email": "ada@example.com"}
    v2 = registered(DRAFT4, envelope(changed))
    found = {(c.path, c.kind) for c in breaking(compare(v1, v2))}
    assert found == {
        ("detail.gift", "removed-required"),
        ("detail.quantity", "type-changed"),
        ("detail.customer.id", "type-changed"),
    }


def test_required_to_optional_nullable_and_new_required_are_breaking() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a", "b"], "type": "object"}
    new = {"properties": {"a": {"type": ["null", "string"]}, "b": {"type": "string"}, "c": {"type": "integer"}},
           "required": ["a", "c"], "type": "object"}
    kinds = {(c.path, c.kind, c.breaking) for c in compare(old, new)}
    assert kinds == {("a", "became-nullable", True), ("b", "became-optional", True), ("c", "added-required", True)}
    assert compare(old, old) == []


def test_openapi_and_draft4_versions_of_one_schema_are_equivalent() -> None:
    assert compare(registered(DRAFT4), registered(OPENAPI3)) == []


@pytest.mark.parametrize("schema_type", [DRAFT4, OPENAPI3])
def test_generated_bindings_import_and_round_trip(tmp_path: Path, schema_type: str) -> None:
    events = [envelope(ORDER), envelope({**ORDER, "note": None, "customer": {"id": "c-2"}, "lines": []}),
              envelope({**ORDER, "note": "call first"})]
    source = python_bindings(registered(schema_type, *events))
    module = import_source(source, tmp_path / f"order_placed_{schema_type.lower()}.py", f"order_placed_{schema_type.lower()}")

    event = module.AWSEvent.from_event(events[0])
    assert event.detail.customer.email == "ada@example.com"
    assert event.detail.lines[0].qty == 1
    assert event.detail.placed_at == datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
    assert event.detail_type == "Order Placed"
    assert type(event.detail.customer).__name__ == "Customer"
    assert event.to_dict() == events[0]
    second = module.from_event(events[1])
    assert second.detail.customer.email is None and second.detail.lines == []
    assert second.to_dict() == {**events[1], "detail": {k: v for k, v in events[1]["detail"].items() if k != "note"}}
    hints = module.OrderPlaced.__annotations__
    assert hints["customer"] == "Customer" and hints["lines"] == "list[LinesItem]" and hints["total"] == "float"
    assert hints["placed_at"] == "datetime" and hints["note"] == "str | None"


def test_bindings_for_a_detail_only_schema(tmp_path: Path) -> None:
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "title": "payment taken", "type": "object",
              "properties": {"amount": {"type": "number"}, "class": {"type": "string"}}, "required": ["amount"]}
    module = import_source(python_bindings(schema), tmp_path / "payment.py", "payment_bindings")
    payment = module.from_event(envelope({"amount": 3, "class": "card"}))
    assert payment == module.PaymentTaken(amount=3.0, class_="card")
