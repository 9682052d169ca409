"""SNS experiments for notebook 02: fan-out, filter policies, raw vs enveloped delivery, FIFO
topics and their deduplication, failing subscribers (delivery retries, subscription DLQs), an
HTTP subscriber, and the latency SNS adds in front of SQS.

Filter policies are checked against a plain-Python reading of each policy: for every
subscriber, the set of messages SNS delivered must equal the set the predicate selects.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eventlab.measure.consumers import HttpReceiver, SqsReceiver
from eventlab.measure.load import LoadResult, LoadSpec, run_load
from eventlab.measure.probes import ReceiptLog
from eventlab.measure.results import RunResult
from eventlab.measure.senders import SnsSender, SqsSender
from eventlab.run import Run
from eventlab.services import sns, sqs

log = logging.getLogger(__name__)

EVENT_TYPES = ("order_placed", "order_paid", "order_cancelled", "order_refunded")
STORES = ("eu-west-berlin", "eu-south-milan", "us-east-boston", "ap-tokyo")
AMOUNTS = (5, 99.99, 100, 250, 499.5, 500, 1200)
PRIORITIES = ("high", "low", None)
COUNTRIES = ("DE", "FR", "US", "JP", "IT")


# -- receiving everything in several queues ---------------------------------------------------
def receive_all_at_once(run: Run, queues: Mapping[str, tuple[sqs.Queue, int]], *, quiet_s: float = 1.0, timeout: float = 20.0) -> dict[str, list[dict[str, Any]]]:
    """:func:`eventlab.services.sqs.receive_all` on several queues at once: ``{name: (queue,
    expected)}`` to the messages each received (and then ``quiet_s`` without more)."""
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(queues)))) as pool:
        futures = {
            name: pool.submit(sqs.receive_all, run, queue, expected=expected, quiet_s=quiet_s, timeout=timeout)
            for name, (queue, expected) in queues.items()
        }
        return {name: future.result() for name, future in futures.items()}


# -- fan-out -----------------------------------------------------------------------------------
def fan_out(run: Run, *, subscribers: tuple[str, ...] = ("billing", "shipping", "analytics"), messages: int = 10) -> pd.DataFrame:
    """One topic, one queue per subscriber; ``messages`` publishes. Returns, per subscriber,
    how many messages it received and how many distinct ones."""
    topic = sns.create_topic(run, "fanout")
    queues = {name: sqs.create_queue(run, f"fan-{name}") for name in subscribers}
    for queue in queues.values():
        sns.subscribe_queue(run, topic, queue, raw_message_delivery=True)
    for i in range(messages):
        sns.publish(run, topic, json.dumps({"order": f"o-{i}"}))
    rows = []
    received = receive_all_at_once(run, {name: (q, messages) for name, q in queues.items()})
    for name, got in received.items():
        ids = [json.loads(m["Body"])["order"] for m in got]
        rows.append({"subscriber": name, "received": len(ids), "distinct": len(set(ids))})
    return pd.DataFrame(rows).set_index("subscriber")


# -- filter policies ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Order:
    """One published message: attributes and body carry the same facts."""

    id: str
    event_type: str
    store: str
    amount: float
    priority: str | None
    country: str

    def body(self) -> dict[str, Any]:
        return {"order": {"id": self.id, "type": self.event_type, "store": self.store, "amount": self.amount, "country": self.country}}

    def attributes(self) -> dict[str, dict[str, str]]:
        attrs = {
            "event_type": {"DataType": "String", "StringValue": self.event_type},
            "store": {"DataType": "String", "StringValue": self.store},
            "amount": {"DataType": "Number", "StringValue": f"{self.amount:g}"},
        }
        if self.priority is not None:
            attrs["priority"] = {"DataType": "String", "StringValue": self.priority}
        return attrs


def orders(n: int = 28) -> list[Order]:
    """A deterministic catalogue that gives every filter case members and non-members."""
    return [
        Order(
            id=f"o-{i:02d}",
            event_type=EVENT_TYPES[i % 4],
            store=STORES[(i // 4) % 4],
            amount=AMOUNTS[i % 7],
            priority=PRIORITIES[i % 3],
            country=COUNTRIES[i % 5],
        )
        for i in range(n)
    ]


@dataclass(frozen=True)
class FilterCase:
    """A subscriber's filter policy, where it applies, and what it means in plain Python."""

    name: str
    operator: str
    policy: Mapping[str, Any] | None
    matches: Callable[[Order], bool]
    scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes"


FILTER_CASES: tuple[FilterCase, ...] = (
    FilterCase("everything", "no policy", None, lambda o: True),
    FilterCase("placed-or-paid", "exact (OR within a key)", {"event_type": ["order_placed", "order_paid"]},
               lambda o: o.event_type in {"order_placed", "order_paid"}),
    FilterCase("eu-stores", "prefix", {"store": [{"prefix": "eu-"}]}, lambda o: o.store.startswith("eu-")),
    FilterCase("not-reversed", "anything-but", {"event_type": [{"anything-but": ["order_cancelled", "order_refunded"]}]},
               lambda o: o.event_type not in {"order_cancelled", "order_refunded"}),
    FilterCase("not-low-priority", "anything-but (absent key)", {"priority": [{"anything-but": ["low"]}]},
               lambda o: o.priority is not None and o.priority != "low"),
    FilterCase("mid-amount", "numeric range", {"amount": [{"numeric": [">=", 100, "<", 500]}]},
               lambda o: 100 <= o.amount < 500),
    FilterCase("has-priority", "exists", {"priority": [{"exists": True}]}, lambda o: o.priority is not None),
    FilterCase("no-priority", "exists: false", {"priority": [{"exists": False}]}, lambda o: o.priority is None),
    FilterCase("big-payments", "AND across keys", {"event_type": ["order_paid"], "amount": [{"numeric": [">", 200]}]},
               lambda o: o.event_type == "order_paid" and o.amount > 200),
    FilterCase("body-de-fr-250", "body: nested exact + numeric",
               {"order": {"country": ["DE", "FR"], "amount": [{"numeric": [">=", 250]}]}},
               lambda o: o.country in {"DE", "FR"} and o.amount >= 250, scope="MessageBody"),
)


@dataclass
class FilterReport:
    """Per subscriber: the policy, the expected and the delivered sets of order ids."""

    table: pd.DataFrame
    delivered: dict[str, list[str]] = field(default_factory=dict)
    expected: dict[str, list[str]] = field(default_factory=dict)

    @property
    def all_exact(self) -> bool:
        return bool(self.table["exact"].all())

    def matrix(self) -> pd.DataFrame:
        """Orders (rows) by subscribers (columns): 1 where SNS delivered the order."""
        ids = sorted({i for ids in self.expected.values() for i in ids} | {i for ids in self.delivered.values() for i in ids})
        return pd.DataFrame(
            {name: [int(i in set(got)) for i in ids] for name, got in self.delivered.items()}, index=ids
        )

    def plot(self) -> Figure:
        """The delivery matrix as a picture: a filled cell is an order a subscriber received."""
        matrix = self.matrix()
        fig = Figure(figsize=(7, 6), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.imshow(matrix.to_numpy(), aspect="auto", cmap="Blues", vmin=0, vmax=1.2, interpolation="nearest")
        ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right")
        ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize=7)
        ax.set_xlabel("subscriber (filter policy)")
        ax.set_ylabel("order")
        ax.set_title("which orders each subscriber received")
        return fig


def filter_policies(run: Run, *, cases: tuple[FilterCase, ...] = FILTER_CASES, catalogue: list[Order] | None = None) -> FilterReport:
    """Subscribe one queue per case (raw delivery), publish the catalogue with attributes, and
    compare each queue's delivered set with the set its predicate selects."""
    catalogue = catalogue if catalogue is not None else orders()
    topic = sns.create_topic(run, "filters")
    queues: dict[str, sqs.Queue] = {}
    for case in cases:
        queue = sqs.create_queue(run, f"flt-{case.name}")
        sns.subscribe_queue(
            run, topic, queue, raw_message_delivery=True, filter_policy=case.policy, filter_policy_scope=case.scope,
        )
        queues[case.name] = queue
    for order in catalogue:
        sns.publish(run, topic, json.dumps(order.body()), MessageAttributes=order.attributes())
    report = FilterReport(table=pd.DataFrame())
    rows = []
    wanted = {case.name: sorted(o.id for o in catalogue if case.matches(o)) for case in cases}
    received = receive_all_at_once(run, {name: (queues[name], len(ids)) for name, ids in wanted.items()})
    for case in cases:
        expected = wanted[case.name]
        got = received[case.name]
        delivered = [json.loads(m["Body"])["order"]["id"] for m in got]
        report.expected[case.name] = expected
        report.delivered[case.name] = sorted(delivered)
        rows.append({
            "subscriber": case.name,
            "operator": case.operator,
            "scope": case.scope,
            "policy": json.dumps(case.policy) if case.policy else "",
            "expected": len(expected),
            "delivered": len(delivered),
            "missing": len(set(expected) - set(delivered)),
            "unexpected": len(set(delivered) - set(expected)),
            "exact": sorted(delivered) == expected,
        })
    report.table = pd.DataFrame(rows).set_index("subscriber")
    return report


# -- raw vs enveloped --------------------------------------------------------------------------
def raw_vs_enveloped(run: Run) -> dict[str, dict[str, Any]]:
    """One message with an attribute, to a raw and to an enveloped subscriber: what each queue
    receives as body and as SQS message attributes."""
    topic = sns.create_topic(run, "envelope")
    raw_q = sqs.create_queue(run, "env-raw")
    wrapped_q = sqs.create_queue(run, "env-wrapped")
    sns.subscribe_queue(run, topic, raw_q, raw_message_delivery=True)
    sns.subscribe_queue(run, topic, wrapped_q)
    message = json.dumps({"order": "o-1", "amount": 42})
    sns.publish(run, topic, message, Subject="order update",
                MessageAttributes={"event_type": {"DataType": "String", "StringValue": "order_paid"}})
    out: dict[str, dict[str, Any]] = {"published": {"body": message}}
    for label, queue in (("raw", raw_q), ("enveloped", wrapped_q)):
        (m,) = sqs.receive_all(run, queue, expected=1, quiet_s=1.0, timeout=20)
        out[label] = {
            "body": m["Body"],
            "sqs_message_attributes": {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()},
        }
    return out


# -- FIFO topic to FIFO queues -----------------------------------------------------------------
def fifo_topic(run: Run, *, messages: int = 60, keys: int = 3, queues: int = 2, consumers: int = 2, timeout: float = 40.0) -> RunResult:
    """Probes published to a FIFO topic (group = key, dedup id = probe id), delivered to FIFO
    queues each read by ``consumers`` threads; receipt path per queue."""
    client = run.target.client("sqs")
    topic = sns.create_topic(run, "ordered", fifo=True)
    targets = [sqs.create_queue(run, f"ordered-{i}", fifo=True) for i in range(queues)]
    for queue in targets:
        sns.subscribe_queue(run, topic, queue, raw_message_delivery=True)
    receipts = ReceiptLog(run.run_id)
    receivers = [SqsReceiver(client, q.url, receipts, path=f"queue-{i}", threads=consumers) for i, q in enumerate(targets)]
    for rx in receivers:
        rx.start()
    try:
        load = run_load(SnsSender(run.target.client("sns"), topic.arn, path="sns-fifo"), run.run_id,
                        LoadSpec(mode="closed", count=messages, keys=keys))
        for i in range(queues):
            receipts.wait_for(messages, timeout, path=f"queue-{i}")
    finally:
        for rx in receivers:
            rx.stop()
    return RunResult.build("sns-fifo", run.target, load, receipts, receipt_paths=[f"queue-{i}" for i in range(queues)])


# -- latency: SNS in front of SQS (and HTTP) vs SQS alone -------------------------------------
def latency_sns_vs_sqs(
    run: Run,
    *,
    messages: int = 100,
    rate: float = 50.0,
    warmup: int = 10,
    threads: int = 4,
    http: bool = True,
    timeout: float = 40.0,
) -> tuple[RunResult, dict[str, str], list[str]]:
    """Open-loop probes sent straight to a queue (path ``sqs``), then published to a topic whose
    subscribers are a raw queue (``sns-sqs``) and, with ``http``, a local HTTP endpoint
    (``sns-http``, which confirms its subscription first). ``threads`` senders share the
    schedule, so one slow call does not hold up the next probe.

    Returns the result, the receipt-path → send-path map for
    :meth:`eventlab.measure.results.RunResult.summary_by_path`, and the topics the HTTP endpoint confirmed.
    """
    spec = LoadSpec(rate=rate, count=messages, warmup_count=warmup, threads=threads)
    spec.check()  # a bad bound (warmup >= messages) is refused before anything is built
    client = run.target.client("sqs")
    receipts = ReceiptLog(run.run_id)
    loads: list[LoadResult] = []

    direct = sqs.create_queue(run, "lat-direct")
    with SqsReceiver(client, direct.url, receipts, path="sqs"):
        loads.append(run_load(SqsSender(client, direct.url, path="sqs"), run.run_id, spec))
        receipts.wait_for(messages, timeout, path="sqs")

    topic = sns.create_topic(run, "lat")
    behind = sqs.create_queue(run, "lat-behind")
    sns.subscribe_queue(run, topic, behind, raw_message_delivery=True)
    confirmed: list[str] = []
    paths = ["sns-sqs"]
    receiver = HttpReceiver(receipts, path="sns-http") if http else None
    try:
        if receiver is not None:
            receiver.start()
            sns.subscribe(run, topic, "http", receiver.url)
            receiver.wait_confirmed(topic.arn)
            confirmed = list(receiver.confirmed)
            paths.append("sns-http")
        with SqsReceiver(client, behind.url, receipts, path="sns-sqs"):
            loads.append(run_load(SnsSender(run.target.client("sns"), topic.arn, path="sns"), run.run_id, spec))
            for path in paths:
                receipts.wait_for(messages, timeout, path=path)
    finally:
        if receiver is not None:
            receiver.stop()
    result = RunResult.build("sns-vs-sqs", run.target, loads, receipts, receipt_paths=["sqs", *paths])
    return result, {p: "sns" for p in paths}, confirmed


# -- FIFO topics: deduplication ---------------------------------------------------------------
FIFO_DEDUP = "https://docs.aws.amazon.com/sns/latest/dg/fifo-message-dedup.html"


def _fifo_topic_scenario(run: Run, base: str, name: str, publishes: list[dict[str, Any]], expected: int, *,
                         content_based: bool = False) -> dict[str, Any]:
    """Publish to a new FIFO topic with one FIFO queue behind it; count the copies the queue gets."""
    topic = sns.create_topic(run, base, fifo=True, content_based_deduplication=content_based)
    queue = sqs.create_queue(run, base, fifo=True)
    sns.subscribe_queue(run, topic, queue, raw_message_delivery=True)
    for kwargs in publishes:
        run.target.client("sns").publish(TopicArn=topic.arn, **kwargs)
    got = sqs.receive_all(run, queue, expected=None, timeout=5, quiet_s=1.0)
    return {"scenario": name, "published": len(publishes), "delivered": len(got), "aws_delivers": expected,
            "bodies": ", ".join(m["Body"] for m in got)}


def fifo_topic_deduplication(run: Run) -> pd.DataFrame:
    """Deduplication on SNS FIFO topics, fanned out to an SQS FIFO queue: a repeated publish with
    the same MessageDeduplicationId, and with ContentBasedDeduplication the same body twice; the
    queue must receive one copy of each message. ``aws_delivers`` is what AWS documents."""
    def message(body: str, dedup: str | None = None) -> dict[str, Any]:
        return {"Message": body, "MessageGroupId": "g", **({"MessageDeduplicationId": dedup} if dedup else {})}

    scenarios = [
        ("same deduplication id, two bodies", [message("first", "d1"), message("second", "d1")], 1, False),
        ("content-based: a body published twice, then another", [message("same"), message("same"), message("other")], 2, True),
    ]
    with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
        futures = [pool.submit(_fifo_topic_scenario, run, f"tdedup-{i}", name, publishes, expected, content_based=cbd)
                   for i, (name, publishes, expected, cbd) in enumerate(scenarios)]
        rows = [f.result() for f in futures]
    return pd.DataFrame(rows).set_index("scenario")


# -- failing subscribers: delivery retries and the subscription's dead-letter queue --------------
DELIVERY_RETRIES = "https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html"
SUBSCRIPTION_DLQ = "https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html"


def no_delay_retries(retries: int) -> dict[str, Any]:
    """An HTTP/S DeliveryPolicy that retries ``retries`` times at once (the immediate retry phase
    only), so a failing endpoint sees ``retries + 1`` attempts within a second or so."""
    return {"healthyRetryPolicy": {"numRetries": retries, "numNoDelayRetries": retries, "minDelayTarget": 1,
                                   "maxDelayTarget": 1, "numMinDelayRetries": 0, "numMaxDelayRetries": 0,
                                   "backoffFunction": "linear"}}


@dataclass
class FailingSubscribers:
    """One publish to a topic with a healthy queue, a queue that was deleted and an HTTP endpoint
    that answers 500, each failing subscription with its own DLQ: where the message went."""

    published: int
    healthy_received: int
    deleted_queue_dlq: int  # copies in the DLQ of the subscription whose queue was deleted
    http_attempts: int  # POSTs of the message the failing HTTP endpoint received
    http_retries: int  # the retries its DeliveryPolicy asks for
    http_dlq: int  # copies in the DLQ of the HTTP subscription
    http_confirmed: bool
    dlq_body: str = ""

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([
            {"subscriber": "healthy queue", "attempts": None, "received": self.healthy_received, "in its DLQ": None},
            {"subscriber": "deleted queue", "attempts": None, "received": 0, "in its DLQ": self.deleted_queue_dlq},
            {"subscriber": "HTTP endpoint answering 500", "attempts": self.http_attempts, "received": 0, "in its DLQ": self.http_dlq},
        ]).set_index("subscriber")


def failing_subscribers(run: Run, *, http_retries: int = 2, timeout: float = 8.0) -> FailingSubscribers:
    """Publish one message to a topic with three subscribers: a healthy queue, a queue deleted
    after subscribing (a client-side error: AWS does not retry it) and an HTTP endpoint that
    refuses every notification with 500 (a server-side error: retried by its DeliveryPolicy).
    Each failing subscription has a RedrivePolicy naming its own DLQ."""
    client = run.target.client("sqs")
    topic = sns.create_topic(run, "failing")
    healthy = sqs.create_queue(run, "fail-healthy")
    sns.subscribe_queue(run, topic, healthy, raw_message_delivery=True)
    gone_dlq, http_dlq = sqs.create_queue(run, "fail-gone-dlq"), sqs.create_queue(run, "fail-http-dlq")
    for dlq in (gone_dlq, http_dlq):
        sqs.allow_senders(run, dlq, service=sns.PRINCIPAL, source_arns=[topic.arn])
    gone = sqs.create_queue(run, "fail-gone")
    sns.subscribe_queue(run, topic, gone, raw_message_delivery=True, dead_letter_queue=gone_dlq)
    client.delete_queue(QueueUrl=gone.url)
    run.forget(gone.url)
    receipts = ReceiptLog(run.run_id)
    body = json.dumps({"order": "o-1", "event": "order_paid"})
    with HttpReceiver(receipts, path="failing-http", notification_status=500) as receiver:
        sns.subscribe(run, topic, "http", receiver.url, dead_letter_queue=http_dlq, delivery_policy=no_delay_retries(http_retries))
        confirmed = True
        try:
            receiver.wait_confirmed(topic.arn)
        except TimeoutError:
            confirmed = False
            log.warning("the failing HTTP endpoint's subscription was not confirmed")
        message_id = sns.publish(run, topic, body)
        arrived = receive_all_at_once(run, {"healthy": (healthy, 1), "gone": (gone_dlq, 1), "http": (http_dlq, 1)},
                                      quiet_s=0.0, timeout=timeout)  # a backend that drops them costs one timeout, not three
        got, in_gone_dlq, in_http_dlq = arrived["healthy"], arrived["gone"], arrived["http"]
        time.sleep(0.5)  # a late retry is an attempt too
        attempts = sum(1 for doc in receiver.bodies if doc.get("MessageId") == message_id)
    return FailingSubscribers(
        published=1, healthy_received=len(got), deleted_queue_dlq=len(in_gone_dlq), http_attempts=attempts,
        http_retries=http_retries, http_dlq=len(in_http_dlq), http_confirmed=confirmed,
        dlq_body=(in_gone_dlq or in_http_dlq or [{"Body": ""}])[0]["Body"],
    )
