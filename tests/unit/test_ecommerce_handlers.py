"""The e-commerce handlers without AWS: an in-memory S3 with conditional writes and a recording bus.

The handlers import their siblings (``common``) and the bundled ``idempotency`` module by plain
name, as they do in Lambda; each test loads them fresh from the handler folder.
"""

from __future__ import annotations

import importlib
import json
import sys
from types import ModuleType
from typing import Any

import pytest
from test_idempotency import ConditionalS3

from eventlab import idempotency
from eventlab.handlers import handler_dir


class Bus:
    """Records what a handler puts on the bus."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.events.extend((e["DetailType"], json.loads(e["Detail"])) for e in Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(len(self.events))}]}


@pytest.fixture
def s3() -> ConditionalS3:
    return ConditionalS3()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch, s3: ConditionalS3, bus: Bus) -> Any:
    """Import an e-commerce handler module, wired to the fakes."""
    folder = str(handler_dir("ecommerce"))
    monkeypatch.syspath_prepend(folder)
    monkeypatch.setitem(sys.modules, "idempotency", idempotency)
    monkeypatch.setenv("BUCKET_STATE_NAME", "state")
    monkeypatch.setenv("BUS_SHOP_NAME", "shop")
    for name in ("common", "inventory", "payment", "shipping"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    common = importlib.import_module("common")
    common._clients.update({"s3": s3, "events": bus})

    def load(name: str) -> ModuleType:
        monkeypatch.setenv("SERVICE", name)
        return importlib.import_module(name)

    return load


def deliveries(s3: ConditionalS3, key: str) -> list[bool]:
    return sorted(json.loads(body)["acted"] for k, (body, _) in s3.objects.items() if k.startswith(f"deliveries/{key}/"))


def test_each_delivery_is_written_down_after_it_was_handled(load: Any, s3: ConditionalS3) -> None:
    common = load("common")
    effects: list[str] = []
    assert common.once("payment/o-1", lambda: effects.append("charged")) is True
    assert common.once("payment/o-1", lambda: effects.append("charged")) is False
    assert effects == ["charged"], "the duplicate did not act"
    assert deliveries(s3, "payment/o-1") == [False, True], "both deliveries are on record, one acted"


def test_a_failed_delivery_is_not_written_down_as_handled(load: Any, s3: ConditionalS3) -> None:
    common = load("common")

    def fails() -> None:
        raise RuntimeError("gateway down")

    with pytest.raises(RuntimeError):
        common.once("payment/o-2", fails)
    assert deliveries(s3, "payment/o-2") == []


def stock(s3: ConditionalS3, sku: str) -> int:
    return int(json.loads(s3.objects[f"stock/{sku}.json"][0])["level"])


def sqs_event(*events: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """An SQS batch whose bodies are whole EventBridge events, as the inventory queue receives them."""
    return {"Records": [{"messageId": f"m-{n}", "body": json.dumps({"detail-type": kind, "detail": detail})}
                        for n, (kind, detail) in enumerate(events)]}


ORDER = {"orderId": "o-3", "items": [{"sku": "SKU-C", "qty": 2}]}
DECLINED = {"orderId": "o-3", "reason": "card_declined", "items": [{"sku": "SKU-C", "qty": 2}]}


def test_a_declined_payment_gives_back_the_stock_its_order_took(load: Any, s3: ConditionalS3, bus: Bus) -> None:
    inventory = load("inventory")
    s3.objects["stock/SKU-C.json"] = (b'{"level": 50}', '"e0"')
    assert inventory.handler(sqs_event(("OrderPlaced", ORDER)), None) == {"batchItemFailures": []}
    assert stock(s3, "SKU-C") == 48
    # The release is delivered twice (at least once): it gives back once.
    assert inventory.handler(sqs_event(("PaymentFailed", DECLINED), ("PaymentFailed", DECLINED)), None) == {"batchItemFailures": []}
    assert stock(s3, "SKU-C") == 50, "back to its level before the order"
    assert bus.events == [("StockReleased", {"orderId": "o-3", "sku": "SKU-C", "qty": 2, "level": 50})]


def test_a_release_that_overtakes_its_reservation_cancels_it(load: Any, s3: ConditionalS3, bus: Bus) -> None:
    inventory = load("inventory")
    s3.objects["stock/SKU-C.json"] = (b'{"level": 50}', '"e0"')
    inventory.handler(sqs_event(("PaymentFailed", DECLINED)), None)
    inventory.handler(sqs_event(("OrderPlaced", ORDER)), None)  # the reservation arrives late
    assert stock(s3, "SKU-C") == 50, "the late reservation took nothing, so nothing was given back"
    assert bus.events == [("StockReleased", {"orderId": "o-3", "sku": "SKU-C", "qty": 0, "cancelled": True})]


def test_an_event_inventory_does_not_handle_is_a_failed_record(load: Any) -> None:
    inventory = load("inventory")
    assert inventory.handler(sqs_event(("OrderPaid", ORDER)), None) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}


def test_the_crash_injection_fails_a_record_on_its_first_receive_after_its_side_effect(
    load: Any, s3: ConditionalS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipping = load("shipping")
    monkeypatch.setenv("CRASH_AFTER_EFFECT_ON_FIRST_RECEIVE", "1")

    def delivery(receive: int) -> dict[str, Any]:
        return {"Records": [{"messageId": "m-1", "body": json.dumps({"orderId": "o-7"}),
                             "attributes": {"ApproximateReceiveCount": str(receive)}}]}

    assert shipping.handler(delivery(1), None) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert "shipments/o-7.json" in s3.objects, "the side effect ran before the crash"
    assert shipping.handler(delivery(2), None) == {"batchItemFailures": []}
    records = sorted((json.loads(b)["receive"], json.loads(b)["acted"]) for k, (b, _) in s3.objects.items()
                     if k.startswith("deliveries/ship/o-7/"))
    assert records == [("1", True), ("2", False)], "the redelivery was a skipped duplicate"
