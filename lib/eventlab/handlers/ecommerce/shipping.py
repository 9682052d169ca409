"""ShippingService: prepare a package for every paid order (a shipment record in S3).

Input: SQS records with raw SNS delivery, so each body is an OrderPaid detail.
"""

from __future__ import annotations

from typing import Any

from common import once, put_json, sqs_batch


def process(paid: dict[str, Any]) -> None:
    order_id = paid["orderId"]
    once(f"ship/{order_id}", lambda: put_json(f"shipments/{order_id}.json", {"orderId": order_id, "status": "PACKING"}))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sqs_batch(event, process)
