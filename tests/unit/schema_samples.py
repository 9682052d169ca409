"""Sample events shared by the offline schema tests."""

from __future__ import annotations

from typing import Any

ORDER: dict[str, Any] = {
    "orderId": "o-1",
    "total": 12.5,
    "quantity": 2,
    "placedAt": "2026-11-26T23:00:00Z",
    "customer": {"id": "c-1", "email": "ada@example.com"},
    "lines": [{"sku": "A-1", "qty": 1}],
    "gift": False,
}


def envelope(detail: dict[str, Any], *, source: str = "shop.orders", detail_type: str = "Order Placed",
             event_id: str = "1") -> dict[str, Any]:
    """An EventBridge event around ``detail``, as a bus delivers it."""
    return {
        "version": "0", "id": event_id, "detail-type": detail_type, "source": source,
        "account": "000000000000", "time": "2026-11-26T23:00:00Z", "region": "us-east-1",
        "resources": [], "detail": detail,
    }
