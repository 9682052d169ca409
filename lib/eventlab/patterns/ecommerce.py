"""The article's e-commerce order-fulfilment pipeline, whole, as a ready-made pattern.

The topology is ``data/topologies/ecommerce.yaml`` (read it for the picture); the handlers
are ``eventlab/handlers/ecommerce``. This module deploys it, plays the producers (the
OrderService and the clickstream), and follows each order through every service to its end
state, so a notebook or a test can show that the whole choreography worked, including the
saga's compensation: a declined payment gives back the stock its order took.

    shop = ecommerce.deploy(run, analytics_url=receiver.url, stock={"SKU-1": 20})
    shop.place_order(Order("o-1", "c-1", [Item("SKU-1", 2)], total=40.0, email="a@example.com"))
    shop.wait_for("o-1", paid=True)   # waits until every expected end state is reached
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eventlab.idempotency import IdempotencyRecord, IdempotencyStore
from eventlab.locations import topology_file
from eventlab.run import Run
from eventlab.services import events, firehose, kinesis, recorded, s3, ses, sqs
from eventlab.topology import Handles, Topology, apply
from eventlab.waiting import until

log = logging.getLogger(__name__)

ORDER_SOURCE = "shop.orders"


def topology_path() -> Path:
    return topology_file("ecommerce")


@dataclass(frozen=True)
class Item:
    sku: str
    qty: int


@dataclass(frozen=True)
class Order:
    """What OrderService puts on the bus as the detail of OrderPlaced."""

    orderId: str
    customerId: str
    items: list[Item]
    total: float
    email: str
    phone: str = ""
    card: str = "4242424242424242"
    currency: str = "EUR"

    def detail(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OrderTrace:
    """Where one order went: one entry per service it should have reached."""

    order_id: str
    audited: bool = False
    stock_taken: list[str] = field(default_factory=list)
    payment: str = "pending"  # paid | failed | pending
    shipped: bool = False
    emailed: int = 0
    texted: int = 0
    analytics: int = 0
    released: list[str] = field(default_factory=list)  # SKUs a StockReleased event gave back

    def complete(self, *, paid: bool) -> bool:
        """True when every end state expected of a paid (or declined) order is reached: a
        declined order's saga ends when every SKU it took was released."""
        if not self.audited or not self.stock_taken:
            return False
        if not paid:
            return self.payment == "failed" and sorted(self.released) == sorted(self.stock_taken)
        return self.payment == "paid" and self.shipped and self.emailed >= 1 and self.texted >= 1 and self.analytics >= 1


@dataclass
class Shop:
    """A deployed pipeline: handles, producers and observers."""

    run: Run
    handles: Handles
    sender: str
    analytics_bodies: Callable[[], list[dict[str, Any]]]
    orders: dict[str, Order] = field(default_factory=dict)
    _drained: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def claims(self) -> IdempotencyStore:
        """The store the handlers claim their side effects in (read here to trace orders)."""
        return IdempotencyStore(self.run.target, self.handles.buckets["state"].name, namespace="claims")

    def _done(self, key: str) -> bool:
        record = self.claims.get(key)
        return record is not None and record.status == "COMPLETED"

    # -- producers ---------------------------------------------------------------------------
    def place_order(self, order: Order) -> str:
        """OrderService: put OrderPlaced on the bus; returns the event id."""
        self.orders[order.orderId] = order
        (event_id,) = events.put_events(
            self.run,
            [{
                "EventBusName": self.handles.buses["shop"].name,
                "Source": ORDER_SOURCE,
                "DetailType": "OrderPlaced",
                "Detail": json.dumps(order.detail()),
            }],
        )
        return event_id

    def click(self, clicks: Sequence[Mapping[str, Any]]) -> None:
        """The web front end: stream click events (partitioned by customer, so each customer's
        clicks stay in order on one shard)."""
        records = [(json.dumps(c).encode(), str(c["customerId"])) for c in clicks]
        kinesis.put_records(self.run.target.client("kinesis"), self.handles.streams["clicks"].name, records)

    # -- observers ---------------------------------------------------------------------------
    def stock(self, sku: str) -> int:
        body = self._get(f"stock/{sku}.json")
        return int(json.loads(body)["level"]) if body else 0

    def queue_messages(self, name: str) -> list[dict[str, Any]]:
        """Everything that arrived on a queue so far (drained and kept here)."""
        kept = self._drained.setdefault(name, [])
        kept.extend(json.loads(m["Body"]) for m in sqs.receive_all(self.run, self.handles.queues[name], wait_s=0))
        return kept

    def audit_records(self) -> list[dict[str, Any]]:
        """Every OrderPlaced event on the audit stream, from the start."""
        client = self.run.target.client("kinesis")
        stream = self.handles.streams["audit"].name
        return [
            json.loads(record.data)
            for shard in kinesis.list_shards(client, stream)
            for record in kinesis.read_shard(client, stream, shard["ShardId"])
        ]

    def order_keys(self, order_id: str) -> list[str]:
        """The idempotency keys of an order's first side effects: its payment and each item's
        stock (the handlers' ``once`` keys)."""
        items = self.orders[order_id].items if order_id in self.orders else []
        return [f"payment/{order_id}", *(f"inventory/{order_id}/{i.sku}" for i in items)]

    def delivery_records(self, key: str) -> list[dict[str, Any]]:
        """Each delivery of one side effect as the handler wrote it down after handling it:
        ``acted`` (False for a duplicate it skipped) and, from SQS, its ``receive`` count."""
        return [json.loads(self._get(k) or "{}") for k in self._keys(f"deliveries/{key}/")]

    def deliveries(self, key: str) -> list[bool]:
        """How each delivery of one side effect was handled: True for a delivery that acted,
        False for a duplicate it skipped."""
        return [bool(r.get("acted")) for r in self.delivery_records(key)]

    def wait_handled(self, order_id: str, *, times: int, timeout: float = 90) -> dict[str, list[bool]]:
        """Wait until every first side effect of the order was delivered and handled at least
        ``times`` times (a duplicate is evidence only once it has been handled); returns each
        key's deliveries. Read side effects after this, never before."""
        seen: dict[str, list[bool]] = {}

        def handled() -> bool:
            seen.update({key: self.deliveries(key) for key in self.order_keys(order_id)})
            return all(len(d) >= times for d in seen.values())

        until(handled, timeout=timeout, interval=1)
        return seen

    def trace(self, order_id: str) -> OrderTrace:
        """Look in every service for what happened to one order."""
        trace = OrderTrace(order_id)
        trace.audited = any(r.get("detail", {}).get("orderId") == order_id for r in self.audit_records())
        payment, *stock = self.order_keys(order_id)
        trace.stock_taken = [key.rsplit("/", 1)[1] for key in stock if self._done(key)]
        if self._done(payment):
            paid = any(b.get("orderId") == order_id for b in self.analytics_bodies())
            failed = any(m.get("orderId") == order_id for m in self.queue_messages("payment-failed"))
            trace.payment = "paid" if paid or self._get(f"shipments/{order_id}.json") else ("failed" if failed else "pending")
        trace.shipped = self._get(f"shipments/{order_id}.json") is not None
        trace.released = [m["sku"] for m in self.queue_messages("stock-released") if m.get("orderId") == order_id]
        subject = f"Order {order_id} confirmed"
        if self.run.target.is_emulated:
            trace.emailed = sum(1 for m in recorded.sent_emails(self.run.target) if m.subject == subject)
            trace.texted = sum(1 for m in recorded.sent_sms(self.run.target) if order_id in m.message)
        trace.analytics = sum(1 for b in self.analytics_bodies() if b.get("orderId") == order_id)
        return trace

    def wait_for(self, order_id: str, *, paid: bool, timeout: float = 90) -> OrderTrace:
        """Poll :meth:`trace` until the order reached every end state expected of it."""
        traces: list[OrderTrace] = []

        def reached() -> bool:
            traces.append(self.trace(order_id))
            return traces[-1].complete(paid=paid)

        until(reached, timeout=timeout, interval=1)
        return traces[-1]

    def cancelled(self, order_id: str) -> list[str]:
        """The SKUs of an order whose reservation never took stock because its release overtook
        it (the release claimed the reservation's key with the result ``cancelled``, the handlers'
        ``inventory.CANCELLED``)."""
        _, *stock = self.order_keys(order_id)
        return [key.rsplit("/", 1)[1] for key in stock
                if (record := self.claims.get(key)) is not None and record.result == "cancelled"]

    def saga(self, order_id: str) -> list[dict[str, Any]]:
        """The events of one order's saga, each where it can be seen: OrderPlaced on the audit
        stream, PaymentFailed and StockReleased on the queues their rules feed."""
        seen = [{"event": "OrderPlaced", "seen on": "audit stream", "detail": r["detail"]}
                for r in self.audit_records() if r.get("detail", {}).get("orderId") == order_id]
        for event, queue in (("PaymentFailed", "payment-failed"), ("StockReleased", "stock-released")):
            seen += [{"event": event, "seen on": f"{queue} queue", "detail": m}
                     for m in self.queue_messages(queue) if m.get("orderId") == order_id]
        return seen

    def views_counted(self) -> int:
        """Product views the analysis has counted so far, all windows together."""
        return sum(n for window in self.trending().values() for _, n in window)

    def trending(self) -> dict[int, list[tuple[str, int]]]:
        """Product views per tumbling window, most viewed first (summed over the analysis's
        per-batch partial counts)."""
        windows: dict[int, Counter[str]] = {}
        for key in self._keys("analytics/views/"):
            window = int(key.split("/")[2])
            windows.setdefault(window, Counter()).update(json.loads(self._get(key) or "{}"))
        return {w: counts.most_common() for w, counts in sorted(windows.items())}

    def lake_records(self) -> list[dict[str, Any]]:
        """The clickstream as Firehose delivered it to S3."""
        lake = self.handles.delivery_streams["clicks-to-lake"]
        return [json.loads(line) for obj in firehose.delivered_objects(self.run, lake) for line in obj.lines]

    # -- S3 state ----------------------------------------------------------------------------
    def _keys(self, prefix: str) -> list[str]:
        return s3.list_objects(self.run, self.handles.buckets["state"], prefix)

    def _get(self, key: str) -> str | None:
        return s3.get_text(self.run, self.handles.buckets["state"].name, key)


def deploy(
    run: Run,
    *,
    analytics_url: str | None = None,
    analytics_bodies: Callable[[], list[dict[str, Any]]] = list,
    stock: Mapping[str, int] | None = None,
    sender: str = "orders@example.com",
    variables: Mapping[str, Any] | None = None,
) -> Shop:
    """Build the pipeline for ``run``, verify the sender, and seed the stock levels.

    ``analytics_url`` is the third-party analytics tool's HTTP endpoint (on the emulator, an
    :class:`eventlab.measure.consumers.HttpReceiver`, whose ``bodies`` pass as
    ``analytics_bodies``; by default the topology's, where nothing listens). ``variables``
    override the topology's (shorter timeouts in tests).
    """
    chosen = {"sender": sender, **({"analytics_url": analytics_url} if analytics_url else {}), **(variables or {})}
    topology = Topology.from_yaml(topology_path(), chosen)
    ses.verify_email_identity(run, sender)
    built = apply(topology, run)
    state = built.buckets["state"].name
    client = run.target.client("s3")
    for sku, level in (stock or {}).items():
        client.put_object(Bucket=state, Key=f"stock/{sku}.json", Body=json.dumps({"level": level}).encode())
    log.info("e-commerce pipeline deployed for run %s", run.run_id)
    return Shop(run=run, handles=built, sender=sender, analytics_bodies=analytics_bodies)


@dataclass(frozen=True)
class Redelivery:
    """One message that SQS delivered again after its side effect ran, and what the idempotency
    store made of each delivery."""

    key: str
    deliveries: list[dict[str, Any]]  # as the handler wrote each down (acted?, SQS receive count), by receive
    record: IdempotencyRecord | None  # the store's record of the key, read back after both
    shipments: int  # shipment objects written for the order (the side effect)

    @property
    def rejected_redelivery(self) -> bool:
        """True when a delivery SQS received again (receive count 2 or more) found the key done
        and skipped it, while exactly one delivery acted."""
        again = [d for d in self.deliveries if int(d.get("receive") or 0) >= 2]
        acted = [d for d in self.deliveries if d.get("acted")]
        return bool(again) and not any(d.get("acted") for d in again) and len(acted) == 1


def redelivered_duplicate(run: Run, *, visibility_timeout: int = 3, timeout: float = 60) -> Redelivery:
    """ShippingService behind its own queue, crashing once after its side effect: Lambda reports
    the record failed, SQS delivers it again once the visibility timeout lapses (at least once,
    on the real path: queue, event source mapping, function), and the idempotency store turns
    the redelivery into a skipped duplicate. Waits for both deliveries to have been handled.

    ``visibility_timeout`` is short (AWS advises six times the function timeout) so that the
    redelivery comes within seconds; the function timeout is kept at or below it.
    """
    topology = Topology.from_dict({
        "name": "redelivery",
        "buckets": [{"name": "state"}],
        "queues": [{"name": "shipping", "visibility_timeout": visibility_timeout}],
        "functions": [{
            "name": "shipping", "code": "eventlab:ecommerce", "handler": "shipping.handler",
            "timeout": min(visibility_timeout, 3), "allow": ["bucket:state"],
            "environment": {"CRASH_AFTER_EFFECT_ON_FIRST_RECEIVE": "1"},
            "event_sources": [{"source": "queue:shipping", "batch_size": 1}],
        }],
    })
    built = apply(topology, run)
    shop = Shop(run=run, handles=built, sender="", analytics_bodies=list)
    order_id = f"o-{run.run_id}-redelivered"
    key = f"ship/{order_id}"
    run.target.client("sqs").send_message(QueueUrl=built.queues["shipping"].url, MessageBody=json.dumps({"orderId": order_id}))
    until(lambda: len(shop.delivery_records(key)) >= 2, timeout=timeout, interval=1)
    return Redelivery(
        key=key,
        deliveries=sorted(shop.delivery_records(key), key=lambda d: int(d.get("receive") or 0)),
        record=shop.claims.get(key),
        shipments=len(shop._keys(f"shipments/{order_id}.json")),
    )


def clickstream(customers: Iterable[str], skus: Sequence[str], *, views: int, start_ts: int, seed: int = 7) -> list[dict[str, Any]]:
    """A reproducible clickstream: ``views`` product views per customer, skewed toward the first
    SKUs (so there is something trending), with timestamps in one window from ``start_ts``."""
    import random

    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(skus))]
    clicks = []
    for customer in customers:
        for n in range(views):
            sku = rng.choices(skus, weights)[0]
            clicks.append({"type": "view", "customerId": customer, "sku": sku, "ts": start_ts + n % 30})
    return clicks


def card_testing(customer: str, cards: int, *, ts: int) -> list[dict[str, Any]]:
    """A fraudster's pattern: payment attempts with ``cards`` different cards in one window."""
    return [
        {"type": "payment_attempt", "customerId": customer, "card": f"4000{n:012d}", "ts": ts + n}
        for n in range(cards)
    ]
