"""InventoryService: take ordered items out of stock; announce InventoryLow below a threshold.

Input: SQS records whose bodies are OrderPlaced details ({"orderId", "items": [{"sku", "qty"}]}).
Stock lives in S3 objects ``stock/<sku>.json`` ({"level": n}), updated with optimistic
concurrency (IfMatch on the ETag), so two concurrent orders never lose an update. Each
(order, sku) is applied once, however often the order is delivered.
"""

from __future__ import annotations

import json
import os
from typing import Any

from botocore.exceptions import ClientError
from common import client, once, put_event, sqs_batch, state_bucket

LOW_STOCK = int(os.environ.get("LOW_STOCK_THRESHOLD", "5"))


def take(sku: str, qty: int) -> int:
    """Decrement a SKU's level atomically; returns the new level."""
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


def process(order: dict[str, Any]) -> None:
    for item in order["items"]:
        def apply(item: dict[str, Any] = item) -> None:
            level = take(item["sku"], int(item["qty"]))
            if level < LOW_STOCK:
                put_event("InventoryLow", {"sku": item["sku"], "level": level, "orderId": order["orderId"]})

        once(f"inventory/{order['orderId']}/{item['sku']}", apply)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sqs_batch(event, process)
