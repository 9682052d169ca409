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
from dataclasses import dataclass, field
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
from eventlab.services import events, kinesis, sns, sqs
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


@dataclass
class FilterScenario:
    """A subscription whose filter looks at attributes while the producer writes the body."""

    policy: dict[str, Any]
    scope_before: str
    arrived_before: int
    diagnosis: pd.DataFrame
    scope_after: str
    arrived_after: int


def filter_scope_scenario(run: Run) -> FilterScenario:
    """The payments service subscribes with ``{"event_type": ["order_paid"]}``, scoped (by
    default) to message attributes; the producer puts ``event_type`` only in the JSON body, so
    nothing matches. Diagnose from the subscription's attributes and the message, fix by scoping
    the policy to the body, and publish again."""
    sns_client = run.target.client("sns")
    topic = sns.create_topic(run, "orders")
    queue = sqs.create_queue(run, "payments")
    policy = {"event_type": ["order_paid"]}
    sub = sns.subscribe_queue(run, topic, queue, raw_message_delivery=True, filter_policy=policy)
    body = json.dumps({"event_type": "order_paid", "order": "o-7"})
    sns.publish(run, topic, body)
    arrived_before = len(sqs.receive_all(run, queue, quiet_s=1.5, timeout=10))
    attrs = sns_client.get_subscription_attributes(SubscriptionArn=sub.arn)["Attributes"]
    scope_before = attrs.get("FilterPolicyScope", "MessageAttributes")
    diagnosis = diagnose_filter(json.loads(attrs["FilterPolicy"]), scope_before, body, {})
    sns_client.set_subscription_attributes(SubscriptionArn=sub.arn, AttributeName="FilterPolicyScope", AttributeValue="MessageBody")
    scope_after = sns_client.get_subscription_attributes(SubscriptionArn=sub.arn)["Attributes"]["FilterPolicyScope"]
    sns.publish(run, topic, body)
    arrived_after = len(sqs.receive_all(run, queue, expected=1, quiet_s=1.0, timeout=10))
    return FilterScenario(policy, scope_before, arrived_before, diagnosis, scope_after, arrived_after)


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
