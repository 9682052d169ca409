"""The schema registry on the embedded LocalStack: discovery from a bus, versions, contracts.

LocalStack has no EventBridge Schemas API, so ``create_registry`` gives the S3-backed registry
here; the ``run`` fixture deletes its bucket, the bus, the rule and the queue, and fails the
test on leaks.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from eventlab.run import Run
from eventlab.schemas import (
    OPENAPI3,
    S3SchemaRegistry,
    SchemaNotFoundError,
    SchemaRegistryError,
    SchemaValidationError,
    create_registry,
    discover,
    observe_bus,
)
from eventlab.services import events

pytestmark = pytest.mark.integration

SCHEMA = "shop.orders@OrderPlaced"


def order(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "orderId": f"o-{n}",
        "total": 10.5 + n,
        "placedAt": "2026-11-26T23:00:00Z",
        "customer": {"id": f"c-{n}", "email": f"c{n}@example.com"},
        "lines": [{"sku": "A-1", "qty": n + 1}],
        **extra,
    }


def produce(run: Run, bus: events.EventBus, details: list[dict[str, Any]], detail_type: str = "Order Placed") -> None:
    events.put_events(run, [
        {"EventBusName": bus.name, "Source": "shop.orders", "DetailType": detail_type, "Detail": json.dumps(d)}
        for d in details
    ])


def test_discovery_from_a_bus_registers_versions_only_on_change(run: Run) -> None:
    registry = create_registry(run, "shop")
    assert isinstance(registry, S3SchemaRegistry)
    bus = events.create_event_bus(run, "shop")
    observer = observe_bus(run, bus)

    produce(run, bus, [order(1), order(2)])
    produce(run, bus, [{"orderId": "o-1", "carrier": "DHL"}], detail_type="Order Shipped")
    results = discover(registry, observer.receive(min_events=3))
    assert {name: r.version.version for name, r in results.items()} == {
        SCHEMA: "1", "shop.orders@OrderShipped": "1"}
    assert registry.list_schemas() == [SCHEMA, "shop.orders@OrderShipped"]
    assert registry.list_schemas("shop.orders@OrderP") == [SCHEMA]

    content = registry.describe_schema(SCHEMA).document
    assert content["x-amazon-events-source"] == "shop.orders"
    assert set(content["definitions"]) == {"OrderPlaced", "Customer", "LinesItem"}
    assert content["definitions"]["OrderPlaced"]["properties"]["placedAt"]["format"] == "date-time"

    # The same structure again: no new version.
    produce(run, bus, [order(3)])
    again = discover(registry, observer.receive(min_events=1))[SCHEMA]
    assert not again.created and registry.list_schema_versions(SCHEMA) == ["1"]

    # A new optional field: version 2, compatible, and the field is optional in it.
    produce(run, bus, [order(4, coupon="WELCOME")])
    evolved = discover(registry, observer.receive(min_events=1))[SCHEMA]
    assert evolved.created and evolved.version.version == "2" and evolved.compatible
    assert [(c.path, c.kind) for c in evolved.changes] == [("detail.coupon", "added-optional")]
    assert registry.list_schema_versions(SCHEMA) == ["1", "2"]
    assert "coupon" not in registry.describe_schema(SCHEMA, "2").document["definitions"]["OrderPlaced"]["required"]

    # Without merging, a producer that changed a type and dropped a field is a breaking version.
    produce(run, bus, [{**order(5), "orderId": 5, "total": None} | {"lines": []}])
    broken = discover(registry, observer.receive(min_events=1), merge=False)[SCHEMA]
    assert broken.version.version == "3"
    assert {(c.path, c.kind) for c in broken.breaking} >= {
        ("detail.orderId", "type-changed"), ("detail.total", "type-changed")}
    assert {(c.path, c.kind) for c in registry.compatibility(SCHEMA, "1", "2")} == {("detail.coupon", "added-optional")}

    # The registry lives in S3, not in this object: a fresh one (another process) sees it all.
    reopened = S3SchemaRegistry.open(run.target, registry.bucket)
    assert reopened.name == registry.name
    assert reopened.list_schema_versions(SCHEMA) == ["1", "2", "3"]
    with pytest.raises(SchemaNotFoundError, match="no version 7"):
        reopened.describe_schema(SCHEMA, "7")
    with pytest.raises(SchemaNotFoundError, match="not in registry"):
        reopened.describe_schema("shop.orders@Nothing")
    with pytest.raises(SchemaRegistryError, match="pass registry other that exists"):
        S3SchemaRegistry.open(run.target, registry.bucket, "other")


def test_concurrent_writers_never_share_a_version_number(run: Run) -> None:
    registry = create_registry(run, "race")
    writers = [S3SchemaRegistry(run.target, registry.name, registry.bucket) for _ in range(6)]

    def put(n: int) -> str:
        content = {"type": "object", "properties": {f"field{n}": {"type": "string"}}}
        return writers[n % len(writers)].put_schema("race@Event", content).version.version

    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(put, range(12)))
    assert sorted(versions, key=int) == [str(v) for v in range(1, 13)]
    assert registry.list_schema_versions("race@Event") == [str(v) for v in range(1, 13)]


def test_contract_breaking_producers_are_caught_and_compatible_evolution_accepted(run: Run) -> None:
    """The contract test: the registered version is what consumers were written against."""
    registry = create_registry(run, "contract")
    bus = events.create_event_bus(run, "contract")
    observer = observe_bus(run, bus)
    produce(run, bus, [order(1), order(2)])
    registered = discover(registry, observer.receive(min_events=2), schema_type=OPENAPI3)[SCHEMA].version
    assert registered.type == OPENAPI3

    missing = order(3)
    del missing["customer"]["id"]
    wrong_type = {**order(4), "total": "14.50"}
    evolved = order(5, coupon="WELCOME", giftWrap=True)
    produce(run, bus, [missing, wrong_type, evolved])
    delivered = {e["detail"]["orderId"]: e for e in observer.receive(min_events=3)}

    with pytest.raises(SchemaValidationError) as caught:
        registry.validate(delivered["o-3"], SCHEMA, registered.version)
    assert [(p.field, p.message) for p in caught.value.problems] == [("detail.customer.id", "required field is missing")]
    with pytest.raises(SchemaValidationError) as caught:
        registry.validate(delivered["o-4"], SCHEMA, registered.version)
    assert [(p.field, p.message) for p in caught.value.problems] == [("detail.total", "expected number, got str '14.50'")]

    assert registry.validate(delivered["o-5"], SCHEMA, registered.version).version == "1"
    result = discover(registry, [delivered["o-5"]], schema_type=OPENAPI3)[SCHEMA]
    assert result.created and result.compatible
    assert {c.path for c in result.changes} == {"detail.coupon", "detail.giftWrap"}


def test_code_bindings_from_the_registry_import_and_round_trip_a_delivered_event(run: Run, tmp_path: Path) -> None:
    registry = create_registry(run, "bindings")
    bus = events.create_event_bus(run, "bindings")
    observer = observe_bus(run, bus)
    produce(run, bus, [order(1), order(2, note="leave at door")])
    seen = observer.receive(min_events=2)
    discover(registry, seen)

    path = tmp_path / "order_placed_bindings.py"
    path.write_text(registry.code_bindings(SCHEMA))
    spec = importlib.util.spec_from_file_location("order_placed_bindings", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)

    for raw in seen:
        typed = module.AWSEvent.from_event(raw)
        assert typed.detail.customer.id == raw["detail"]["customer"]["id"]
        assert typed.detail.lines[0].qty == raw["detail"]["lines"][0]["qty"]
        assert typed.to_dict() == raw
    assert "version 1" in path.read_text().splitlines()[0]
