"""Troubleshooting experiments for notebook 08: each common problem reproduced, diagnosed and
fixed, with the facts the notebook asserts.

- messages that do not arrive: a queue policy that does not admit the topic
  (:func:`queue_policy_scenario`, diagnosed by :func:`eventlab.policies.queue_policy_admits`), an event pattern
  that does not match (:func:`event_pattern_scenario`, diagnosed field by field with
  TestEventPattern in :func:`diagnose_pattern`), a subscription filter that excludes
  (:func:`filter_scope_scenario`, :func:`diagnose_filter`);
- duplicates: a visibility timeout shorter than processing, fixed by a longer timeout or an
  idempotent consumer (:func:`duplicate_side_effects`);
- ordering: a random partition key vs the entity's id (:func:`partition_key_ordering`);
- throttling: an emulated Kinesis shard quota, without and with retries
  (:func:`kinesis_throttling`);
- messages in the DLQ: inspect, find the cause, fix, redrive (:func:`diagnose_dlq`, with
  :func:`eventlab.experiments.sqs.poison_to_dlq_and_back`).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eventlab import policies
from eventlab.idempotency import AlreadyInProgressError, IdempotencyStore, idempotent
from eventlab.measure import analysis
from eventlab.measure.consumers import SqsMessage, SqsReceiver
from eventlab.measure.load import LoadSpec, RetryPolicy, run_load
from eventlab.measure.probes import ProbeFactory, ReceiptLog
from eventlab.measure.quotas import KinesisQuota, emulate_quotas
from eventlab.measure.senders import KinesisSender, SqsSender, send_all
from eventlab.run import Run
from eventlab.services import cloudwatch, events, kinesis, logs, sns, sqs
from eventlab.waiting import until

log = logging.getLogger(__name__)


# -- 1a. a queue policy that does not admit the topic ------------------------------------------
@dataclass
class PolicyScenario:
    """A topic → queue subscription whose queue policy admits another topic, then fixed."""

    queue_arn: str
    topic_arn: str
    policy_before: dict[str, Any]
    admitted_before: bool
    reason_before: str
    arrived_before: int
    admitted_after: bool
    reason_after: str
    arrived_after: int
    enforced: bool = field(default=False)


def queue_policy_scenario(run: Run) -> PolicyScenario:
    """Subscribe a queue to a topic while the queue's policy admits only *another* topic (a
    copy-paste slip), publish, diagnose with :func:`eventlab.policies.queue_policy_admits`, fix the policy and
    publish again. ``arrived_before`` is what the target did: AWS drops the delivery, LocalStack
    2026.3.0 does not evaluate queue policies and delivers anyway."""
    topic = sns.create_topic(run, "alerts")
    other = sns.create_topic(run, "alerts-old")
    queue = sqs.create_queue(run, "alerts-q")
    sqs.allow_senders(run, queue, service=sns.PRINCIPAL, source_arns=[other.arn])
    sns.subscribe(run, topic, "sqs", queue.arn, raw_message_delivery=True)
    sns.publish(run, topic, json.dumps({"alert": "disk full", "try": 1}))
    before = sqs.receive_all(run, queue, quiet_s=1.5, timeout=10)
    policy = json.loads(sqs.get_queue_attributes(run, queue).get("Policy", "{}"))
    admitted_before, reason_before = policies.queue_policy_admits(policy, queue_arn=queue.arn, source_arn=topic.arn)
    sqs.allow_senders(run, queue, service=sns.PRINCIPAL, source_arns=[topic.arn])
    policy_after = sqs.get_queue_attributes(run, queue).get("Policy")
    admitted_after, reason_after = policies.queue_policy_admits(policy_after, queue_arn=queue.arn, source_arn=topic.arn)
    sns.publish(run, topic, json.dumps({"alert": "disk full", "try": 2}))
    after = sqs.receive_all(run, queue, expected=1, quiet_s=1.0, timeout=10)
    return PolicyScenario(
        queue_arn=queue.arn, topic_arn=topic.arn, policy_before=policy,
        admitted_before=admitted_before, reason_before=reason_before, arrived_before=len(before),
        admitted_after=admitted_after, reason_after=reason_after, arrived_after=len(after),
        enforced=not run.target.is_emulated,
    )


# -- 1b. an event pattern that does not match --------------------------------------------------
def _leaves(pattern: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in pattern.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: Any = value
    for key in reversed(path):
        out = {key: out}
    return dict(out)


def diagnose_pattern(client: Any, pattern: Mapping[str, Any], event: Mapping[str, Any]) -> pd.DataFrame:
    """Test a rule's pattern against an event with EventBridge's TestEventPattern, as a whole
    and one condition at a time: the rows that say ``False`` are the fields to look at."""
    rows = [{"field": "(whole pattern)", "condition": json.dumps(pattern), "event value": "",
             "matches": bool(client.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))["Result"])}]
    for path, condition in _leaves(pattern):
        value: Any = event
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        sub = _nest(path, condition)
        result = client.test_event_pattern(EventPattern=json.dumps(sub), Event=json.dumps(event))["Result"]
        rows.append({"field": ".".join(path), "condition": json.dumps(condition), "event value": json.dumps(value),
                     "matches": bool(result)})
    return pd.DataFrame(rows).set_index("field")


@dataclass
class PatternScenario:
    """A rule that missed an event, its diagnosis, and the fix."""

    pattern_before: dict[str, Any]
    pattern_after: dict[str, Any]
    entry_before: dict[str, Any]
    entry_after: dict[str, Any]
    arrived_before: int
    diagnosis_before: pd.DataFrame
    diagnosis_after: pd.DataFrame
    arrived_after: int


def event_pattern_scenario(run: Run) -> PatternScenario:
    """A rule for large orders misses them: it expects ``detail-type`` ``OrderPlaced`` while the
    producer writes ``Order Placed``, and compares ``total`` numerically while the producer sends
    it as a string. Diagnose with TestEventPattern, fix the rule (detail-type is the producer's
    contract) and the producer (a number is a number), and send again."""
    bus = events.create_event_bus(run, "shop")
    queue = sqs.create_queue(run, "large-orders")
    pattern_before: dict[str, Any] = {
        "source": ["shop.orders"], "detail-type": ["OrderPlaced"], "detail": {"total": [{"numeric": [">", 100]}]},
    }
    rule = events.put_rule(run, bus, "large-orders", event_pattern=pattern_before)
    sqs.allow_senders(run, queue, service=events.PRINCIPAL, source_arns=[rule.arn])
    events.put_targets(run, rule, [{"Id": "queue", "Arn": queue.arn}])
    entry_before = {"EventBusName": bus.name, "Source": "shop.orders", "DetailType": "Order Placed",
                    "Detail": json.dumps({"order": "o-1", "total": "150.00"})}
    events.put_events(run, [entry_before])
    arrived_before = len(sqs.receive_all(run, queue, quiet_s=1.5, timeout=10))
    account, region = run.target.account_id, run.target.region
    ev_client = run.target.client("events")
    diagnosis_before = diagnose_pattern(ev_client, pattern_before, events.envelope_of(entry_before, account=account, region=region))

    pattern_after = {**pattern_before, "detail-type": ["Order Placed"]}
    # put_rule on an existing name updates it; it is already in the run's ledger
    ev_client.put_rule(Name=rule.name, EventBusName=bus.name, EventPattern=json.dumps(pattern_after))
    entry_after = {**entry_before, "Detail": json.dumps({"order": "o-2", "total": 150.00})}
    diagnosis_after = diagnose_pattern(ev_client, pattern_after, events.envelope_of(entry_after, account=account, region=region))
    events.put_events(run, [entry_after])
    arrived_after = len(sqs.receive_all(run, queue, expected=1, quiet_s=1.0, timeout=10))
    return PatternScenario(pattern_before, pattern_after, entry_before, entry_after, arrived_before,
                           diagnosis_before, diagnosis_after, arrived_after)


# -- 1c. a subscription filter that excludes ---------------------------------------------------
def diagnose_filter(policy: Mapping[str, Any], scope: str, body: str, attributes: Mapping[str, Any]) -> pd.DataFrame:
    """For each top-level key of a filter policy: is it among the message attributes, is it in
    the JSON body, and which of the two the subscription looks at."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    rows = []
    for key in policy:
        rows.append({
            "policy key": key,
            "in attributes": key in attributes,
            "in body": isinstance(doc, Mapping) and key in doc,
            "subscription looks at": scope,
        })
    return pd.DataFrame(rows).set_index("policy key")


def delivered_attributes(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message attributes of a raw-delivered SNS message as SQS handed it out: name -> value."""
    return {name: attr.get("StringValue", attr.get("BinaryValue"))
            for name, attr in (message.get("MessageAttributes") or {}).items()}


@dataclass
class FilterScenario:
    """A subscription whose filter looks at attributes while the producer writes the body.

    ``body_seen`` and ``attributes_seen`` are the message as SNS delivered it to an unfiltered
    subscription of the same topic: the diagnosis reads them, not what the producer meant to send.
    """

    policy: dict[str, Any]
    scope_before: str
    arrived_before: int
    body_seen: str
    attributes_seen: dict[str, Any]
    diagnosis: pd.DataFrame
    scope_after: str
    arrived_after: int


def filter_scope_scenario(run: Run) -> FilterScenario:
    """The payments service subscribes with ``{"event_type": ["order_paid"]}``, scoped (by
    default) to message attributes; the producer puts ``event_type`` only in the JSON body (its
    one attribute is ``source``), so nothing matches. An unfiltered audit subscription shows the
    message as SNS delivers it; the diagnosis compares the subscription's policy and scope (read
    back from SNS) with that copy's attributes and body. Fix by scoping the policy to the body,
    and publish again."""
    sns_client = run.target.client("sns")
    topic = sns.create_topic(run, "orders")
    queue = sqs.create_queue(run, "payments")
    audit = sqs.create_queue(run, "orders-audit")
    policy = {"event_type": ["order_paid"]}
    sub = sns.subscribe_queue(run, topic, queue, raw_message_delivery=True, filter_policy=policy)
    sns.subscribe_queue(run, topic, audit, raw_message_delivery=True)
    body = json.dumps({"event_type": "order_paid", "order": "o-7"})
    attributes = {"source": {"DataType": "String", "StringValue": "checkout"}}
    sns.publish(run, topic, body, MessageAttributes=attributes)
    arrived_before = len(sqs.receive_all(run, queue, quiet_s=1.5, timeout=10))
    seen = sqs.receive_all(run, audit, expected=1, timeout=10)
    if not seen:
        raise RuntimeError(f"the unfiltered subscription {audit.name} received nothing from {topic.name}: no message to diagnose")
    body_seen, attributes_seen = seen[0]["Body"], delivered_attributes(seen[0])
    attrs = sns_client.get_subscription_attributes(SubscriptionArn=sub.arn)["Attributes"]
    scope_before = attrs.get("FilterPolicyScope", "MessageAttributes")
    diagnosis = diagnose_filter(json.loads(attrs["FilterPolicy"]), scope_before, body_seen, attributes_seen)
    sns_client.set_subscription_attributes(SubscriptionArn=sub.arn, AttributeName="FilterPolicyScope", AttributeValue="MessageBody")
    scope_after = sns_client.get_subscription_attributes(SubscriptionArn=sub.arn)["Attributes"]["FilterPolicyScope"]
    sns.publish(run, topic, body, MessageAttributes=attributes)
    arrived_after = len(sqs.receive_all(run, queue, expected=1, quiet_s=1.0, timeout=10))
    return FilterScenario(policy, scope_before, arrived_before, body_seen, attributes_seen, diagnosis, scope_after, arrived_after)


# -- 2. duplicates -----------------------------------------------------------------------------
@dataclass
class DuplicateRun:
    """One consumer configuration: receipts, duplicates and how often the side effect ran."""

    label: str
    visibility_s: int
    idempotent: bool
    messages: int
    receipts: int
    duplicates: int
    redelivered: int
    side_effects: int

    def row(self) -> dict[str, Any]:
        return dict(self.__dict__)


def duplicate_side_effects(
    run: Run,
    *,
    label: str,
    visibility_s: int,
    processing_s: float = 3.0,
    messages: int = 6,
    consumers: int = 2,
    store: IdempotencyStore | None = None,
    timeout: float = 40.0,
) -> DuplicateRun:
    """``messages`` orders, ``consumers`` consumers; the first attempt at a batch takes
    ``processing_s`` and charges the customer (the side effect). With ``store``, the charge is
    made idempotent on the order id: a duplicate that arrives while the first attempt runs is
    left for redelivery, one that arrives after gets the stored result.

    Keep ``processing_s`` at least two seconds above ``visibility_s`` for a sure duplicate on
    LocalStack: it puts expired in-flight messages back once a second, so a visibility timeout
    there lasts up to a second longer than set.
    """
    client = run.target.client("sqs")
    queue = sqs.create_queue(run, f"dup-{label}", attributes={"VisibilityTimeout": visibility_s})
    factory = ProbeFactory(run.run_id)
    send_all(SqsSender(client, queue.url, batch=True, path=label), [factory.make(time.time_ns()) for _ in range(messages)])
    charges: Counter[str] = Counter()
    lock = threading.Lock()

    def charge(order_id: str) -> str:
        with lock:
            charges[order_id] += 1
        return f"charged {order_id}"

    act: Callable[[str], str] = charge
    if store is not None:
        act = idempotent(store, key_fn=lambda order_id: order_id)(charge)

    def handle(batch: list[SqsMessage]) -> list[str]:
        if any(m.receive_count == 1 for m in batch):
            time.sleep(processing_s)
        failed = []
        for m in batch:
            if m.probe is None:
                continue
            try:
                act(m.probe.msg_id)
            except AlreadyInProgressError:
                failed.append(m.message_id)  # another consumer is on it: let it come back
        return failed

    receipts = ReceiptLog(run.run_id)
    with SqsReceiver(client, queue.url, receipts, threads=consumers, handler=handle) as rx:

        def settled() -> bool:
            ok = [r for r in receipts if r.ok]
            return len({r.msg_id for r in ok}) >= messages and rx.deleted + rx.delete_failures >= len(ok)

        until(settled, timeout=timeout, interval=0.1)
        receipts.wait_quiet(1.0, timeout=visibility_s + 3)
    frame = receipts.to_frame()
    return DuplicateRun(
        label=label, visibility_s=visibility_s, idempotent=store is not None, messages=messages,
        receipts=len(frame), duplicates=len(frame) - frame["msg_id"].nunique(),
        redelivered=int((frame["receive_count"] > 1).sum()), side_effects=sum(charges.values()),
    )


# -- 3. ordering: partition keys ---------------------------------------------------------------
def _read_shards(client: Any, stream_name: str, receipts: ReceiptLog, path: str) -> None:
    """Read every shard from the start, shard after shard (like one worker per shard that
    works off its backlog); record each probe in reading order."""
    for shard in kinesis.list_shards(client, stream_name):
        for record in kinesis.read_shard(client, stream_name, shard["ShardId"]):
            receipts.record_payload(record.data, path=path, consumer=record.shard, received_ns=time.time_ns(), source=record.sequence)


@dataclass
class KeyOrdering:
    """Per variant and order: messages, inversions, reorder distance, shards used; and the
    receipts in reading order, for the picture."""

    table: pd.DataFrame
    receipts: pd.DataFrame

    def plot(self) -> Figure:
        """One panel per variant: each order's sequence numbers in the order they were read."""
        variants = list(dict.fromkeys(self.receipts["path"]))
        fig = Figure(figsize=(9, 3.6), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(variants), sharey=True, squeeze=False)[0]
        for ax, variant in zip(axes, variants, strict=True):
            frame = self.receipts[self.receipts["path"] == variant]
            for key, group in frame.groupby("key", sort=True):
                ax.plot(range(len(group)), group["seq"].to_numpy(), marker="o", markersize=3, linewidth=1, label=str(key))
            ax.set_title(variant)
            ax.set_xlabel("position in which the order's events were read")
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel("event number within the order")
        axes[-1].legend(title="order")
        return fig


def partition_key_ordering(run: Run, *, orders: int = 3, steps: int = 10, shards: int = 2, seed: int = 11) -> KeyOrdering:
    """Each order's ``steps`` events written to a ``shards``-shard stream twice: once with a
    random partition key per event, once with the order id as key; read shard by shard."""
    client = run.target.client("kinesis")
    stream = kinesis.create_stream(run, "order-events", shard_count=shards)
    rng = random.Random(seed)
    tables = []
    frames = []
    for variant in ("random key", "order id as key"):
        run_id = f"{run.run_id}-{'rnd' if variant == 'random key' else 'oid'}"
        factory = ProbeFactory(run_id, keys=[f"o-{i}" for i in range(orders)])
        probes = [factory.make(time.time_ns()) for _ in range(orders * steps)]
        keys = [f"{rng.getrandbits(64):016x}" if variant == "random key" else p.key for p in probes]
        kinesis.put_records(client, stream.name, [(p.to_bytes(), key) for p, key in zip(probes, keys, strict=True)])
        receipts = ReceiptLog(run_id)
        _read_shards(client, stream.name, receipts, variant)
        frame = receipts.to_frame()
        shards_used = frame.groupby("key")["consumer"].nunique()
        table = analysis.ordering(frame)
        table["shards_used"] = table["key"].map(shards_used)
        tables.append(table)
        frames.append(frame)
    table = pd.concat(tables, ignore_index=True).rename(columns={"path": "variant", "key": "order"})
    return KeyOrdering(table, pd.concat(frames, ignore_index=True))


# -- 4. throttling -----------------------------------------------------------------------------
@dataclass
class ThrottlingResult:
    """Both retry policies against the same shard quota: a row each, the error messages seen,
    and the send records (for the picture)."""

    table: pd.DataFrame
    errors: list[str]
    sends: dict[str, pd.DataFrame]
    quota_records_per_s: float

    def plot(self) -> Figure:
        """Records accepted over time per retry policy, against the quota's slope."""
        fig = Figure(figsize=(7, 4), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        longest = 0.0
        for label, sends in self.sends.items():
            ok = sends[sends["ok"].astype(bool)].sort_values("end_ns")
            if ok.empty:
                continue
            t = (ok["end_ns"] - sends["intended_ns"].min()) / 1e9
            ax.step(t, range(1, len(ok) + 1), where="post", label=f"{label}: {len(ok)} of {len(sends)} accepted")
            longest = max(longest, float(t.max()))
        burst = self.quota_records_per_s  # the bucket holds one second of quota
        ax.plot([0, longest], [burst, burst + self.quota_records_per_s * longest], "k--", linewidth=1,
                label=f"quota: {self.quota_records_per_s:g} records/s after a 1 s burst")
        ax.set_xlabel("seconds since the first intended send")
        ax.set_ylabel("records accepted")
        ax.grid(True, alpha=0.3)
        ax.legend()
        return fig


def kinesis_throttling(
    run: Run,
    *,
    records: int = 200,
    rate: float = 300.0,
    quota_factor: float = 0.05,
    retry_attempts: int = 30,
) -> ThrottlingResult:
    """Offer ``records`` at ``rate`` records/s to a one-shard stream whose write quota is
    ``quota_factor`` of AWS's (emulated on LocalStack, real on AWS), without retries and with
    exponential backoff and full jitter."""
    client = run.target.client("kinesis")
    stream = kinesis.create_stream(run, "throttled", shard_count=1)
    quota = KinesisQuota().scaled(quota_factor)
    rows = []
    errors: set[str] = set()
    frames: dict[str, pd.DataFrame] = {}
    policies = {
        "no retries": RetryPolicy(max_attempts=1),
        "backoff + jitter": RetryPolicy(max_attempts=retry_attempts, base_s=0.05, cap_s=0.5, seed=3),
    }
    load_log = logging.getLogger("eventlab.measure.load")
    for label, policy in policies.items():
        # without retries every refused record is logged as a warning: expected here, so quiet
        level = load_log.level
        load_log.setLevel(logging.ERROR if policy.max_attempts == 1 else level)
        try:
            with emulate_quotas(run.target, client, kinesis=quota) as emulator:
                load = run_load(KinesisSender(client, stream.name, batch_size=10), f"{run.run_id}-{len(rows)}",
                                LoadSpec(rate=rate, count=records, batch=10), retry=policy)
                refused = emulator.throttled("kinesis")
        finally:
            load_log.setLevel(level)
        sends = load.frame()
        frames[label] = sends
        errors.update(e for e in sends["error"] if e)
        figures = analysis.throttling(sends, load.calls)
        rows.append({
            "retry policy": label,
            "offered": records,
            "accepted": int(sends["ok"].sum()),
            "failed_sends": figures["failed_sends"],
            "throttled_attempts": figures["throttled_attempts"],
            "retries": figures["retries"],
            "backoff_s": round(figures["backoff_s"], 2),
            "quota_refusals": refused,
            "quota_records_per_s": quota.records_per_s,
            "emulated": run.target.is_emulated,
        })
    return ThrottlingResult(pd.DataFrame(rows).set_index("retry policy"), sorted(errors), frames, quota.records_per_s)


# -- 5. the DLQ --------------------------------------------------------------------------------
def diagnose_dlq(view: pd.DataFrame, process: Callable[[dict[str, Any]], object]) -> pd.DataFrame:
    """Run the consumer's processing step on each DLQ body again, offline, and note what it
    raises: the cause, per message, next to its receive count and source queue."""
    rows = []
    for _, message in view.iterrows():
        try:
            process(json.loads(message["body"]))
            cause = ""
        except Exception as error:  # noqa: BLE001 - the point is to see it
            cause = f"{type(error).__name__}: {error}"
        rows.append({"body": message["body"], "receive_count": message["receive_count"],
                     "source_queue": message["source_queue"], "cause": cause})
    return pd.DataFrame(rows)


# -- 6. observability: metrics, alarms, a correlation id through the pipeline ------------------
QUEUE_DEPTH = "ApproximateNumberOfMessagesVisible"
OLDEST_AGE = "ApproximateAgeOfOldestMessage"
ITERATOR_AGE = "GetRecords.IteratorAgeMilliseconds"
SQS_METRICS_PAGE = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html"
KINESIS_METRICS_PAGE = "https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html"
HOPS = ("producer", "queue consumer", "stream reader")


def queue_gauges(client: Any, queue_url: str, *, now_ms: int | None = None) -> dict[str, float]:
    """A queue's depth and the age of its oldest message, as SQS answers them.

    Depth is ``ApproximateNumberOfMessages`` (GetQueueAttributes); the age is read from the
    ``SentTimestamp`` of the messages one receive hands out (up to ten, handed back at once with
    VisibilityTimeout 0, so each counts one receive), since SQS answers that age only as a
    CloudWatch metric. On a queue of more than ten messages the oldest may not be among them.
    """
    attrs = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    depth = int(attrs["ApproximateNumberOfMessages"])
    age = 0.0
    if depth:
        seen = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                      MessageSystemAttributeNames=["SentTimestamp"]).get("Messages", [])
        sent = [int(m["Attributes"]["SentTimestamp"]) for m in seen]
        if sent:
            age = max(0.0, ((now_ms if now_ms is not None else time.time_ns() // 1_000_000) - min(sent)) / 1000)
    return {QUEUE_DEPTH: float(depth), OLDEST_AGE: age}


def structured_line(hop: str, correlation_id: str, **fields: Any) -> str:
    """One JSON log line of a hop: the correlation id is a field, so a filter pattern can select it."""
    return json.dumps({"hop": hop, "correlation_id": correlation_id, "at_ms": time.time_ns() // 1_000_000, **fields},
                      sort_keys=True)


def correlation_filter(correlation_id: str) -> str:
    """The CloudWatch Logs filter pattern that selects a JSON line by its correlation id."""
    return f'{{ $.correlation_id = "{correlation_id}" }}'


def trace(lines: list[str], correlation_id: str) -> pd.DataFrame:
    """The lines of one correlation id, in the order they were written: one row per hop."""
    rows = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, Mapping) and doc.get("correlation_id") == correlation_id:
            rows.append(dict(doc))
    frame = pd.DataFrame(rows, columns=["at_ms", "hop", "correlation_id", "order", "carried_by"])
    return frame.sort_values("at_ms", kind="stable").reset_index(drop=True)


@dataclass
class AlarmRun:
    """One alarm: the figure it watched, the state CloudWatch took it to, and how."""

    name: str
    metric: str
    queue_or_stream: str
    threshold: float
    published: float
    states: list[str]  # each state the alarm was seen in, in order
    evaluated_by: str  # "CloudWatch evaluation" when the state changed without SetAlarmState
    notified: list[str]  # the NewStateValue of each notification the inbox got for it
    history: list[str]  # DescribeAlarmHistory's state updates, oldest first


@dataclass
class Observability:
    """What :func:`observability_scenario` measured, alarmed on and traced."""

    namespace: str  # the run's namespace; each queue's and stream's figures go under it, one namespace each
    service_metrics: dict[str, list[str]]  # what CloudWatch lists of SQS's and Kinesis's own metrics
    gauges: pd.DataFrame  # each figure eventlab published: metric, resource, value, unit, read from
    read_back: dict[str, dict[str, float]]  # "metric resource": its Maximum and Minimum as GetMetricStatistics returns them
    alarms: pd.DataFrame
    notifications: list[dict[str, Any]]  # the alarm messages the stand-in inbox received
    correlation_id: str
    filtered_lines: list[str]  # FilterLogEvents with the correlation id's JSON filter pattern
    all_lines: int  # lines the log group holds
    trace: pd.DataFrame  # the correlation id's lines, parsed, in order
    iterator_age_ms: float
    lag_s: float
    poison_in_dlq: int


def _now() -> datetime:
    return datetime.now(UTC)


def _publish(client: Any, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        cloudwatch.put_metric(client, row["namespace"], row["metric"], row["value"], unit=row["unit"], dimensions=row["dimensions"])


def _watch(cw: Any, alarms: Mapping[str, Any], seen: dict[str, list[str]], want: Mapping[str, str], publish: Callable[[], None],
           timeout: float) -> bool:
    """Republish the gauges every 2 s (as SQS does every minute) until each alarm in ``want`` is
    in the state wanted; every state seen is recorded. False on timeout."""
    deadline = time.monotonic() + timeout
    next_publish = 0.0
    while True:
        if time.monotonic() >= next_publish:
            publish()
            next_publish = time.monotonic() + 2.0
        for key, alarm in alarms.items():
            state = cloudwatch.alarm_state(cw, alarm)
            if not seen[key] or seen[key][-1] != state:
                seen[key].append(state)
        if all(seen[key][-1] == state for key, state in want.items()):
            return True
        if time.monotonic() >= deadline:
            log.warning("alarms did not reach %s within %.0f s: %s", dict(want), timeout, {k: v[-1] for k, v in seen.items()})
            return False
        time.sleep(0.5)


def observability_scenario(run: Run, *, backlog: int = 5, lag_s: float = 2.0, alarm_timeout: float = 45.0) -> Observability:
    """Metrics, alarms and a trace on a small pipeline: producer → SQS queue (with a DLQ) →
    consumer → Kinesis stream → reader.

    ``backlog`` orders (each with its own correlation id, carried as an SQS message attribute
    and in the Kinesis record) and one poison order wait ``lag_s`` with no consumer; eventlab
    then reads the queue's depth and oldest age from SQS and publishes them with PutMetricData
    to the run's namespace, where three alarms (depth, age, DLQ depth; 10-s periods) notify an
    SNS topic whose SQS subscription stands in for an e-mail inbox. The consumer drains the queue,
    the poison order moves to the DLQ, and the DLQ alarm fires. The reader reads the stream
    ``lag_s`` after the puts: its iterator age comes from the records' arrival timestamps. Every
    hop writes a JSON line to one log group; FilterLogEvents with the correlation id's filter
    pattern selects the trace of one order.
    """
    if backlog < 1:
        raise ValueError(f"backlog must be at least 1, not {backlog}: the depth alarm needs messages to count")
    target = run.target
    sqs_client, cw, logs_client = target.client("sqs"), target.client("cloudwatch"), target.client("logs")
    ns = cloudwatch.namespace(run, "pipeline")
    topic = sns.create_topic(run, "obs-alarms")
    inbox = sqs.create_queue(run, "obs-inbox")
    sns.subscribe_queue(run, topic, inbox)
    dlq = sqs.create_queue(run, "obs-orders-dlq")
    queue = sqs.create_queue(run, "obs-orders", dead_letter_queue=dlq, max_receive_count=2)
    stream = kinesis.create_stream(run, "obs-events", shard_count=1)
    group = logs.create_log_group(run, run.name("obs-pipeline", max_length=logs.LOG_GROUP_MAX_CHARS))
    logs_client.create_log_stream(logGroupName=group, logStreamName="hops")

    def log_line(line: str) -> None:
        logs_client.put_log_events(logGroupName=group, logStreamName="hops",
                                   logEvents=[{"timestamp": json.loads(line)["at_ms"], "message": line}])

    # One namespace per queue: MiniStack evaluates an alarm on every data point of its metric
    # name whatever their dimensions (_evaluate_alarm in ministack/services/cloudwatch.py), so
    # the DLQ's depth must not share a namespace with the queue's.
    def space(resource: str) -> str:
        return f"{ns}/{resource.removeprefix(run.prefix + '-')}"

    def make_alarm(base: str, metric: str, resource: str, threshold: float, description: str, *, ok: bool = False) -> cloudwatch.Alarm:
        return cloudwatch.put_metric_alarm(run, base, namespace=space(resource), metric=metric, dimensions={"QueueName": resource},
                                           threshold=threshold, alarm_actions=[topic.arn], ok_actions=[topic.arn] if ok else [],
                                           description=description)

    alarms = {
        "depth": make_alarm("obs-orders-depth", QUEUE_DEPTH, queue.name, backlog, "orders are piling up: is the consumer running?", ok=True),
        "age": make_alarm("obs-orders-age", OLDEST_AGE, queue.name, lag_s / 2, "the oldest order has waited too long"),
        "dlq": make_alarm("obs-orders-dlq-depth", QUEUE_DEPTH, dlq.name, 1, "a message failed maxReceiveCount times"),
    }
    seen: dict[str, list[str]] = {key: [cloudwatch.alarm_state(cw, a)] for key, a in alarms.items()}  # before any data

    # the producer: each order its correlation id, as a message attribute
    ids = {f"o-{i}": f"{run.run_id}-{i:03d}" for i in range(backlog)}
    for order, cid in ids.items():
        sqs_client.send_message(QueueUrl=queue.url, MessageBody=json.dumps({"order": order, "total": 10 + len(order)}),
                                MessageAttributes={"correlation_id": {"DataType": "String", "StringValue": cid}})
        log_line(structured_line(HOPS[0], cid, order=order, carried_by="sqs message attribute"))
    sqs_client.send_message(QueueUrl=queue.url, MessageBody=json.dumps({"order": "o-poison", "total": "12,50"}))
    time.sleep(lag_s)

    gauges: list[dict[str, Any]] = []

    def published(metric: str, name: str, dimension: str, value: float, unit: str, read_from: str) -> dict[str, Any]:
        return {"metric": metric, "resource": name, "value": value, "unit": unit, "read from": read_from,
                "namespace": space(name), "dimensions": {dimension: name}}

    def backlog_gauges() -> list[dict[str, Any]]:
        now = queue_gauges(sqs_client, queue.url)
        in_dlq = queue_gauges(sqs_client, dlq.url)[QUEUE_DEPTH]
        return [published(QUEUE_DEPTH, queue.name, "QueueName", now[QUEUE_DEPTH], "Count", "GetQueueAttributes ApproximateNumberOfMessages"),
                published(OLDEST_AGE, queue.name, "QueueName", now[OLDEST_AGE], "Seconds", "SentTimestamp of the oldest message received"),
                published(QUEUE_DEPTH, dlq.name, "QueueName", in_dlq, "Count", "GetQueueAttributes ApproximateNumberOfMessages")]

    first = backlog_gauges()
    gauges.extend(dict(g, phase="backlog") for g in first)
    _watch(cw, alarms, seen, {"depth": "ALARM", "age": "ALARM"}, lambda: _publish(cw, first), alarm_timeout)

    # the consumer: the poison order fails until SQS moves it to the DLQ; the rest go on to Kinesis
    records: list[tuple[bytes, str]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (len(records) < backlog or sqs.approximate_count(run, dlq) < 1):
        for m in sqs_client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                            MessageAttributeNames=["All"]).get("Messages", []):
            body = json.loads(m["Body"])
            try:
                float(body["total"])
            except ValueError:
                sqs_client.change_message_visibility(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
                continue
            cid = m.get("MessageAttributes", {}).get("correlation_id", {}).get("StringValue", "")
            log_line(structured_line(HOPS[1], cid, order=body["order"], carried_by="kinesis record"))
            records.append((json.dumps({**body, "correlation_id": cid}).encode(), body["order"]))
            sqs_client.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])
    poison_in_dlq = sqs.approximate_count(run, dlq)

    second = backlog_gauges()
    gauges.extend(dict(g, phase="drained") for g in second)
    _watch(cw, alarms, seen, {"dlq": "ALARM", "depth": "OK"}, lambda: _publish(cw, second), alarm_timeout)

    # the consumer's writes, and the reader lag_s behind them: the iterator age is now minus the
    # last record's arrival
    kin = target.client("kinesis")
    kinesis.put_records(kin, stream.name, records)
    time.sleep(lag_s)
    shard = kinesis.list_shards(kin, stream.name)[0]["ShardId"]
    read = kinesis.read_shard(kin, stream.name, shard)
    read_at = _now()
    for record in read:
        doc = json.loads(record.data)
        log_line(structured_line(HOPS[2], doc.get("correlation_id", ""), order=doc["order"], carried_by="-"))
    arrivals = [r.arrival for r in read if r.arrival is not None]
    iterator_age_ms = (read_at - max(arrivals)).total_seconds() * 1000 if arrivals else float("nan")
    age_row = published(ITERATOR_AGE, stream.name, "StreamName", iterator_age_ms, "Milliseconds",
                        "now minus the ApproximateArrivalTimestamp of the last record GetRecords returned")
    gauges.append(dict(age_row, phase="read"))
    _publish(cw, [age_row])

    # what CloudWatch kept: each figure's extremes over the minute, against what was published
    read_back: dict[str, dict[str, float]] = {}
    for g in gauges:
        key = f"{g['metric']} {g['resource']}"
        if key in read_back:
            continue
        points = cw.get_metric_statistics(
            Namespace=g["namespace"], MetricName=g["metric"], Dimensions=[{"Name": k, "Value": v} for k, v in g["dimensions"].items()],
            StartTime=_now() - timedelta(minutes=5), EndTime=_now() + timedelta(minutes=1), Period=60, Statistics=["Maximum", "Minimum"],
        )["Datapoints"]
        read_back[key] = {"Maximum": max((p["Maximum"] for p in points), default=float("nan")),
                          "Minimum": min((p["Minimum"] for p in points), default=float("nan"))}

    # the stand-in inbox: one SNS notification per transition with an action
    notes = [json.loads(json.loads(m["Body"])["Message"]) for m in sqs.receive_all(run, inbox, quiet_s=1.0, timeout=10)]
    by_name = {a.name: key for key, a in alarms.items()}
    notified: dict[str, list[str]] = {key: [] for key in alarms}
    for note in notes:
        if note.get("AlarmName") in by_name:
            notified[by_name[note["AlarmName"]]].append(note.get("NewStateValue", ""))
    history = {key: [h.get("HistorySummary", "") for h in cloudwatch.state_changes(cw, a)] for key, a in alarms.items()}
    rows = []
    for key, alarm in alarms.items():
        value = {"depth": first[0]["value"], "age": first[1]["value"], "dlq": second[2]["value"]}[key]
        rows.append(AlarmRun(alarm.name, alarm.metric, dict(alarm.dimensions)["QueueName"],
                             {"depth": backlog, "age": lag_s / 2, "dlq": 1}[key], value, seen[key],
                             "CloudWatch evaluation" if len(seen[key]) > 1 else "not evaluated", notified[key], history[key]))
    alarm_frame = pd.DataFrame([asdict(r) for r in rows]).set_index("name")

    correlation_id = next(iter(ids.values()))
    filtered = logs.filter_log_events(run, group, correlation_filter(correlation_id))
    everything = logs.filter_log_events(run, group)
    service_metrics = {
        "AWS/SQS": cloudwatch.metric_names(cw, "AWS/SQS", {"QueueName": queue.name}),
        "AWS/Kinesis": cloudwatch.metric_names(cw, "AWS/Kinesis", {"StreamName": stream.name}),
    }
    return Observability(
        namespace=ns, service_metrics=service_metrics,
        gauges=pd.DataFrame([{k: v for k, v in g.items() if k not in ("dimensions", "namespace")} for g in gauges]),
        read_back=read_back, alarms=alarm_frame, notifications=notes, correlation_id=correlation_id,
        filtered_lines=filtered, all_lines=len(everything), trace=trace(everything, correlation_id),
        iterator_age_ms=iterator_age_ms, lag_s=lag_s, poison_in_dlq=poison_in_dlq,
    )
