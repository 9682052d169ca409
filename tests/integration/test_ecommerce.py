"""The e-commerce pipeline end to end: every order is followed through every service.

Also shows that duplicates do no harm: an order placed twice takes its stock, is charged,
shipped and confirmed once (counted only after both deliveries were handled); and the saga's
compensation: a declined payment gives back the stock its order took.
"""

from __future__ import annotations

import json

import pytest

from eventlab.measure.consumers import HttpReceiver
from eventlab.measure.probes import ReceiptLog
from eventlab.patterns import ecommerce
from eventlab.patterns.ecommerce import Item, Order
from eventlab.run import Run
from eventlab.waiting import until

pytestmark = pytest.mark.integration

FAST = {"visibility_timeout": 30, "function_timeout": 10, "buffer_seconds": 1, "window_seconds": 60}


def _wait(condition, timeout: float = 90):  # type: ignore[no-untyped-def]
    return until(condition, timeout=timeout, interval=1)


def test_orders_flow_through_every_service(run: Run) -> None:
    with HttpReceiver(ReceiptLog(run.run_id)) as analytics:
        shop = ecommerce.deploy(
            run,
            analytics_url=analytics.url,
            analytics_bodies=lambda: analytics.bodies,
            stock={"SKU-A": 20, "SKU-B": 6},
            variables=FAST,
        )
        analytics.wait_confirmed(shop.handles.topics["order-paid"].arn, timeout=30)
        _roles_are_least_privilege(run, shop)

        # Order ids unique to the run: SES and SMS records are shared by everything on the emulator.
        o1, o2, o3 = (f"{run.run_id}-{n}" for n in (1, 2, 3))
        paid = Order(o1, "c-1", [Item("SKU-A", 2)], total=40.0, email="ann@example.com", phone="+15550001")
        low = Order(o2, "c-2", [Item("SKU-B", 4)], total=80.0, email="bob@example.com", phone="+15550002")
        declined = Order(o3, "c-3", [Item("SKU-A", 1)], total=20.0, email="cy@example.com", card="4000000000000002")
        for order in (paid, low, declined, paid):  # o-1 is delivered twice
            shop.place_order(order)

        clicks = ecommerce.clickstream(["c-1", "c-2", "c-3"], ["SKU-A", "SKU-B", "SKU-C"], views=20, start_ts=1_800_000_000)
        fraud = ecommerce.card_testing("c-9", 3, ts=1_800_000_000)
        shop.click(clicks + fraud)

        for order in (paid, low):
            trace = shop.wait_for(order.orderId, paid=True)
            assert trace.complete(paid=True), f"{order.orderId} did not reach every service: {trace}"
        trace = shop.wait_for(declined.orderId, paid=False)
        assert trace.complete(paid=False) and not trace.shipped and trace.emailed == 0, trace
        assert trace.released == ["SKU-A"], trace

        # Duplicates did no harm: each side effect happened once, counted after both were handled.
        handled = shop.wait_handled(o1, times=2)
        assert all(len(d) >= 2 and d.count(True) == 1 for d in handled.values()), handled
        first = shop.trace(o1)
        assert (first.emailed, first.texted, first.analytics) == (1, 1, 1), first
        assert shop.stock("SKU-A") == 20 - 2, "o-1 took its stock once; o-3's 1 was given back when its payment failed"
        released = shop.queue_messages("stock-released")
        assert [(m["orderId"], m["sku"]) for m in released] == [(o3, "SKU-A")], released
        assert [m["qty"] for m in released] == [0 if shop.cancelled(o3) else 1], "gave back what it took, or cancelled it"
        assert shop.stock("SKU-B") == 2
        assert _wait(lambda: len(shop.queue_messages("restock")) >= 1)
        assert [m["sku"] for m in shop.queue_messages("restock")] == ["SKU-B"], "InventoryLow for SKU-B only"
        assert [m["reason"] for m in shop.queue_messages("payment-failed")] == ["card_declined"]
        audited = [r["detail"]["orderId"] for r in shop.audit_records()]
        assert sorted(audited) == [o1, o1, o2, o3], "the audit stream keeps every event, duplicates included"

        # The clickstream: trending products, the fraud rule, and the archive in S3.
        assert _wait(lambda: shop.views_counted() == len(clicks))
        (window,) = shop.trending().values()
        assert window[0][0] == "SKU-A", f"the most viewed product trends first: {window}"
        assert _wait(lambda: len(shop.queue_messages("fraud-review")) >= 1)
        assert [m["customerId"] for m in shop.queue_messages("fraud-review")] == ["c-9"]
        def archived() -> set[str]:
            return {json.dumps(r, sort_keys=True) for r in shop.lake_records()}

        sent = {json.dumps(c, sort_keys=True) for c in clicks + fraud}
        assert _wait(lambda: archived() >= sent), "Firehose archived every click in S3"


def _roles_are_least_privilege(run: Run, shop: ecommerce.Shop) -> None:
    """Every function's role names exact resources; the one grant without an ARN is SMS (phone
    numbers have none), and it excludes every SNS ARN, so no topic is covered."""
    iam = run.target.client("iam")
    for name, function in shop.handles.functions.items():
        role = function.role.name
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == [], f"{name}: no managed policies"
        for policy_name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
            for statement in document["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in a for a in actions), f"{name}: wildcard action in {statement}"
                if "NotResource" in statement:
                    assert (name, actions, statement["NotResource"]) == ("sms-sender", ["sns:Publish"], ["arn:aws:sns:*:*:*"]), statement
                    continue
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                assert "*" not in resources, f"{name}: wildcard resource in {statement}"
                assert all(r.startswith("arn:aws:") and r.count("*") <= 1 for r in resources), statement
                assert all(run.prefix in r or ":identity/" in r for r in resources), f"{name} reaches beyond its run: {statement}"


def test_a_message_sqs_delivers_again_is_rejected_by_the_idempotency_store(run: Run) -> None:
    seen = ecommerce.redelivered_duplicate(run, visibility_timeout=3)
    receives = sorted((d.get("receive"), d.get("acted")) for d in seen.deliveries)
    assert receives == [("1", True), ("2", False)], f"SQS delivered the message again and the store skipped it: {seen}"
    assert seen.rejected_redelivery
    assert seen.record is not None and seen.record.status == "COMPLETED", seen.record
    assert seen.shipments == 1
