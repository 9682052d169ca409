"""Payment: charge the order through a (simulated) gateway; announce OrderPaid or PaymentFailed.

Invoked by an EventBridge rule with the whole OrderPlaced event. The gateway declines cards
ending in 0002 (the usual test number for a decline) and orders above MAX_TOTAL. One charge
per order, however often the event is delivered; the payment id is derived from the order.
PaymentFailed carries the order's items, so InventoryService can give their stock back.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from common import once, put_event

MAX_TOTAL = float(os.environ.get("MAX_TOTAL", "10000"))


def charge(order: dict[str, Any]) -> tuple[bool, str]:
    """The gateway's answer: (approved, reason)."""
    if str(order.get("card", "")).endswith("0002"):
        return False, "card_declined"
    if float(order["total"]) > MAX_TOTAL:
        return False, "amount_over_limit"
    return True, "approved"


def handler(event: dict[str, Any], context: Any) -> None:
    order = event["detail"]

    def pay() -> None:
        approved, reason = charge(order)
        payment_id = "pay_" + hashlib.sha256(order["orderId"].encode()).hexdigest()[:16]
        if approved:
            paid = {key: order[key] for key in ("orderId", "customerId", "email", "phone", "total") if key in order}
            put_event("OrderPaid", {**paid, "paymentId": payment_id})
        else:
            put_event("PaymentFailed", {"orderId": order["orderId"], "reason": reason, "items": order.get("items", [])})

    once(f"payment/{order['orderId']}", pay)
