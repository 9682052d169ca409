"""InventoryService: take ordered items out of stock, announce InventoryLow below a threshold, and
give a declined order's stock back (the saga's compensating step).

Input: SQS records whose bodies are whole EventBridge events: ``OrderPlaced`` (detail
{"orderId", "items": [{"sku", "qty"}]}) reserves the items; ``PaymentFailed`` (detail
{"orderId", "reason", "items"}) releases them and announces ``StockReleased``. Stock lives in
S3 objects ``stock/<sku>.json`` ({"level": n}), updated with optimistic concurrency (IfMatch on
the ETag), so two concurrent orders never lose an update. Each (order, sku) is reserved once
and released once, however often either event is delivered.

The two events race (payment and inventory react to the same OrderPlaced), so a release may
arrive before its reservation. The release then claims the reservation's idempotency key
itself, marked ``cancelled``: the late reservation finds it done and takes nothing, and there
is nothing to give back.
"""

from __future__ import annotations

import json
import os
from typing import Any

from botocore.exceptions import ClientError
from common import client, once, put_event, sqs_batch, state_bucket, store

LOW_STOCK = int(os.environ.get("LOW_STOCK_THRESHOLD", "5"))
CANCELLED = "cancelled"  # the result a release leaves on a reservation that never ran


def take(sku: str, qty: int) -> int:
    """Change a SKU's level by ``-qty`` atomically (a negative ``qty`` gives stock back); returns
    the new level."""
    s3 = client("s3")
    key = f"stock/{sku}.json"
    for _ in range(20):
        current = s3.get_object(Bucket=state_bucket(), Key=key)
        level = json.loads(current["Body"].read())["level"] - qty
        try:
            s3.put_object(Bucket=state_bucket(), Key=key, Body=json.dumps({"level": level}).encode(), IfMatch=current["ETag"])
            return level
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
    raise RuntimeError(f"stock of {sku} changed under us 20 times in a row")


def reservation_key(order_id: str, sku: str) -> str:
    return f"inventory/{order_id}/{sku}"


def reserve(order: dict[str, Any]) -> None:
    for item in order["items"]:
        def apply(item: dict[str, Any] = item) -> None:
            level = take(item["sku"], int(item["qty"]))
            if level < LOW_STOCK:
                put_event("InventoryLow", {"sku": item["sku"], "level": level, "orderId": order["orderId"]})

        once(reservation_key(order["orderId"], item["sku"]), apply)


def release(failed: dict[str, Any]) -> None:
    """Compensate a declined order: give back what its reservation took, once per item."""
    order_id = failed["orderId"]
    for item in failed.get("items", []):
        def give_back(item: dict[str, Any] = item) -> None:
            sku, qty, reserved = item["sku"], int(item["qty"]), reservation_key(order_id, item["sku"])
            if store().claim(reserved):  # not reserved yet: cancel it, so it never takes the stock
                store().complete(reserved, CANCELLED)
                put_event("StockReleased", {"orderId": order_id, "sku": sku, "qty": 0, "cancelled": True})
                return
            record = store().get(reserved)
            if record is None or record.status != "COMPLETED":
                raise RuntimeError(f"reservation {reserved} still in progress: release it on redelivery")
            level = take(sku, -qty)
            put_event("StockReleased", {"orderId": order_id, "sku": sku, "qty": qty, "level": level})

        once(f"release/{order_id}/{item['sku']}", give_back)


def process(event: dict[str, Any]) -> None:
    kind = event.get("detail-type")
    if kind == "OrderPlaced":
        reserve(event["detail"])
    elif kind == "PaymentFailed":
        release(event["detail"])
    else:
        raise ValueError(f"InventoryService does not handle {kind!r} events")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sqs_batch(event, process)
