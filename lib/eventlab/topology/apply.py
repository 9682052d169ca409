"""Build a declared topology for a run, secure by default, and hand back what was built.

``apply()`` validates the whole topology first (nothing is created if anything is wrong),
then creates resources in dependency order. Every resource goes into the run's ledger as it
is created, so ``run.destroy()`` removes exactly what was built, also after a failed apply.
Applying again with the same run creates only what is missing.

Resource policies are computed from the whole topology: a queue fed by a topic and by two
rules gets an SNS statement for that topic and an EventBridge statement for those rules, each
conditioned on ``aws:SourceArn``, merged into the policy the queue already has (never
replacing a grant made before; see :func:`eventlab.policies.merge`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventlab import policies
from eventlab.run import Run
from eventlab.services import events, firehose, iam, kinesis, s3, sns, sqs
from eventlab.topology.model import QueueSpec, Ref, RuleSpec, Topology, TopologyError
from eventlab.topology.plan import (
    EVENTS,
    ROLE_TARGET_KINDS,
    SNS,
    resource_grants,
)
from eventlab.topology.validate import validate

log = logging.getLogger(__name__)


@dataclass
class Deployment:
    """Handles of everything a topology built: by declared name, per kind."""

    run: Run
    topology: Topology
    queues: dict[str, sqs.Queue] = field(default_factory=dict)
    topics: dict[str, sns.Topic] = field(default_factory=dict)
    subscriptions: dict[str, sns.Subscription] = field(default_factory=dict)
    buses: dict[str, events.EventBus] = field(default_factory=dict)
    archives: dict[str, str] = field(default_factory=dict)
    rules: dict[str, events.Rule] = field(default_factory=dict)
    streams: dict[str, kinesis.Stream] = field(default_factory=dict)
    consumers: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, s3.Bucket] = field(default_factory=dict)
    delivery_streams: dict[str, firehose.DeliveryStream] = field(default_factory=dict)
    functions: dict[str, Any] = field(default_factory=dict)
    policies: dict[str, policies.Policy] = field(default_factory=dict)

    def arn_table(self, kind: str) -> dict[str, Any]:
        """The handles of one kind of reference (``queue``, ``topic``, ...), by declared name."""
        return {
            "queue": self.queues,
            "topic": self.topics,
            "bus": self.buses,
            "stream": self.streams,
            "bucket": self.buckets,
            "function": self.functions,
            "firehose": self.delivery_streams,
        }[kind]

    def arn(self, ref: Ref | str) -> str:
        """The ARN behind a reference such as ``queue:orders``."""
        ref = Ref.parse(ref) if isinstance(ref, str) else ref
        return str(self.arn_table(ref.kind)[ref.name].arn)

    def outputs(self) -> dict[str, str]:
        """Every ARN and queue URL, keyed ``kind:name`` (what an IaC tool would print)."""
        out: dict[str, str] = {}
        for name, queue in self.queues.items():
            out[f"queue:{name}"] = queue.url
        for kind, table in (
            ("topic", self.topics),
            ("bus", self.buses),
            ("rule", self.rules),
            ("stream", self.streams),
            ("bucket", self.buckets),
            ("delivery-stream", self.delivery_streams),
            ("function", self.functions),
        ):
            for name, handle in table.items():
                out[f"{kind}:{name}"] = handle.arn
        return out


def apply(topology: Topology, run: Run) -> Deployment:
    """Validate, then build ``topology`` for ``run``; idempotent for the same run."""
    validate(topology, prefix=run.prefix)
    sourced = [d.name for d in topology.delivery_streams if d.source]
    if sourced and run.target.is_emulated:
        raise TopologyError(
            [
                f"delivery stream {name!r}: LocalStack's Firehose cannot read a Kinesis source "
                "here (its consumer needs a Java download); drop 'source' and feed it directly, "
                "e.g. with a rule target 'firehose:NAME' or a function on the stream"
                for name in sourced
            ]
        )
    key = f"deployment:{topology.name}"
    deployment: Deployment = run.handles.get(key) or Deployment(run=run, topology=topology)
    run.handles[key] = deployment
    log.info("applying topology %s for run %s", topology.name, run.run_id)
    _Builder(deployment).build()
    return deployment


class _Builder:
    """Creates what is missing from a deployment, in dependency order."""

    def __init__(self, deployment: Deployment) -> None:
        self.d = deployment
        self.run = deployment.run
        self.t = deployment.topology

    def build(self) -> None:
        for bucket in self.t.buckets:
            self._once(self.d.buckets, bucket.name, lambda b=bucket: s3.create_bucket(self.run, b.name))
        for queue in _dead_letters_first(self.t.queues):
            self._once(self.d.queues, queue.name, lambda q=queue: self._queue(q))
        for topic in self.t.topics:
            self._once(
                self.d.topics,
                topic.name,
                lambda t=topic: sns.create_topic(
                    self.run,
                    t.name.removesuffix(".fifo"),
                    fifo=t.fifo,
                    content_based_deduplication=t.content_based_deduplication,
                    encrypted=t.encrypted,
                    tags=t.tags,
                ),
            )
        for stream in self.t.streams:
            self._once(self.d.streams, stream.name, lambda s=stream: self._stream(s))
            for consumer in stream.consumers:
                self._once(
                    self.d.consumers,
                    f"{stream.name}/{consumer}",
                    lambda s=stream, c=consumer: kinesis.register_stream_consumer(self.run, self.d.streams[s.name], c),
                )
        for delivery in self.t.delivery_streams:
            self._once(
                self.d.delivery_streams,
                delivery.name,
                lambda ds=delivery: firehose.create_delivery_stream_to_s3(
                    self.run,
                    ds.name,
                    self.d.buckets[Ref.parse(ds.bucket, default_kind="bucket").name],
                    source=self.d.streams[Ref.parse(ds.source, default_kind="stream").name] if ds.source else None,
                    prefix=ds.prefix,
                    buffer_seconds=ds.buffer_seconds,
                    buffer_mb=ds.buffer_mb,
                    compression=ds.compression,
                ),
            )
        for bus in self.t.buses:
            self._once(self.d.buses, bus.name, lambda b=bus: events.create_event_bus(self.run, b.name))
            if bus.archive is not None:
                self._once(
                    self.d.archives,
                    bus.name,
                    lambda b=bus: events.create_archive(
                        self.run,
                        self.d.buses[b.name],
                        events.archive_base(b.name),
                        retention_days=b.archive.retention_days,
                        event_pattern=b.archive.event_pattern,
                    ),
                )
        if self.t.functions:
            from eventlab.topology import functions

            functions.build(self.d)
        for rule in self.t.rules:
            self._once(self.d.rules, rule.name, lambda r=rule: self._rule(r))
        self._resource_policies()
        for topic in self.t.topics:
            for index, sub in enumerate(topic.subscriptions):
                self._once(self.d.subscriptions, f"{topic.name}/{index}", lambda t=topic, s=sub: self._subscribe(t, s))
        for rule in self.t.rules:
            if rule.targets and not self.run.handles.get(f"targets:{rule.name}"):
                self._targets(rule)
                self.run.handles[f"targets:{rule.name}"] = True

    @staticmethod
    def _once(table: dict[str, Any], name: str, create: Callable[[], Any]) -> Any:
        if name not in table:
            table[name] = create()
        return table[name]

    def _queue(self, spec: QueueSpec) -> sqs.Queue:
        attributes: dict[str, str | int] = {
            "VisibilityTimeout": spec.visibility_timeout,
            "ReceiveMessageWaitTimeSeconds": spec.receive_wait_time,
            "DelaySeconds": spec.delay,
            "MessageRetentionPeriod": spec.retention,
            "MaximumMessageSize": spec.max_message_size,
        }
        if spec.high_throughput:
            attributes |= {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
        return sqs.create_queue(
            self.run,
            spec.name.removesuffix(".fifo"),
            fifo=spec.fifo,
            content_based_deduplication=spec.content_based_deduplication,
            attributes=attributes,
            dead_letter_queue=self.d.queues[spec.dead_letter] if spec.dead_letter else None,
            max_receive_count=spec.max_receive_count,
            encrypted=spec.encrypted,
            tags=spec.tags,
        )

    def _stream(self, spec: Any) -> kinesis.Stream:
        return kinesis.create_stream(
            self.run,
            spec.name,
            shard_count=spec.shards,
            on_demand=spec.on_demand,
            encrypted=spec.encrypted,
            retention_hours=spec.retention_hours,
        )

    def _rule(self, spec: RuleSpec) -> events.Rule:
        bus = self.d.buses[spec.bus] if spec.bus else None
        return events.put_rule(
            self.run,
            bus,
            spec.name,
            event_pattern=spec.event_pattern,
            schedule_expression=spec.schedule,
            description=spec.description,
        )

    def _resource_policies(self) -> None:
        """The grants of every sender in the topology, merged into each queue's and topic's policy."""
        queue_grants, topic_grants = resource_grants(
            self.t, lambda topic: self.d.topics[topic].arn, lambda rule: self.d.rules[rule].arn
        )
        for name, grants in queue_grants.items():
            self.d.policies[f"queue:{name}"] = sqs.merge_queue_policy(self.run, self.d.queues[name], grants)
        for name, grants in topic_grants.items():
            self.d.policies[f"topic:{name}"] = sns.merge_topic_policy(self.run, self.d.topics[name], grants)

    def _subscribe(self, topic: Any, sub: Any) -> sns.Subscription:
        if sub.protocol == "sqs":
            endpoint = self.d.queues[Ref.parse(sub.endpoint, default_kind="queue").name].arn
        elif sub.protocol == "lambda":
            endpoint = self.d.functions[Ref.parse(sub.endpoint, default_kind="function").name].arn
            from eventlab.topology import functions

            functions.allow_invoke(self.d, Ref.parse(sub.endpoint, default_kind="function").name, SNS, self.d.topics[topic.name].arn)
        else:
            endpoint = sub.endpoint
        return sns.subscribe(
            self.run,
            self.d.topics[topic.name],
            sub.protocol,
            endpoint,
            raw_message_delivery=sub.raw_message_delivery,
            filter_policy=sub.filter_policy,
            filter_policy_scope=sub.filter_policy_scope,
            dead_letter_queue=self.d.queues[Ref.parse(sub.dead_letter, default_kind="queue").name] if sub.dead_letter else None,
        )

    def _targets(self, rule: RuleSpec) -> None:
        rule_handle = self.d.rules[rule.name]
        role_statements = []
        entries = []
        for spec in rule.targets:
            ref = Ref.parse(spec.arn)
            arn = self.d.arn(ref)
            entry: dict[str, Any] = {"Id": spec.id, "Arn": arn}
            if spec.input_path is not None:
                entry["InputPath"] = spec.input_path
            if spec.input is not None:
                entry["Input"] = spec.input
            if spec.input_transformer is not None:
                entry["InputTransformer"] = {
                    "InputPathsMap": spec.input_transformer.paths,
                    "InputTemplate": spec.input_transformer.template,
                }
            retry = {}
            if spec.maximum_retry_attempts is not None:
                retry["MaximumRetryAttempts"] = spec.maximum_retry_attempts
            if spec.maximum_event_age is not None:
                retry["MaximumEventAgeInSeconds"] = spec.maximum_event_age
            if retry:
                entry["RetryPolicy"] = retry
            if spec.dead_letter:
                entry["DeadLetterConfig"] = {"Arn": self.d.queues[Ref.parse(spec.dead_letter, default_kind="queue").name].arn}
            if spec.message_group_id:
                entry["SqsParameters"] = {"MessageGroupId": spec.message_group_id}
            if ref.kind == "stream":
                entry["KinesisParameters"] = {"PartitionKeyPath": spec.partition_key_path}
            if ref.kind in ROLE_TARGET_KINDS:
                role_statements += policies.may_send_to(arn)
            elif ref.kind == "function":
                from eventlab.topology import functions

                functions.allow_invoke(self.d, ref.name, EVENTS, rule_handle.arn)
            entries.append((ref, entry))
        if role_statements:
            role = iam.create_role(self.run, events.target_role_base(rule.name), service=EVENTS, policy=policies.document(*role_statements))
            self.d.policies[f"role:{role.name}"] = policies.document(*role_statements)
            for ref, entry in entries:
                if ref.kind in ROLE_TARGET_KINDS:
                    entry["RoleArn"] = role.arn
        events.put_targets(self.run, rule_handle, [entry for _, entry in entries])


def _dead_letters_first(queues: list[QueueSpec]) -> list[QueueSpec]:
    """Queues ordered so that every DLQ exists before the queue that redrives into it."""
    by_name = {q.name: q for q in queues}
    ordered: list[QueueSpec] = []
    seen: set[str] = set()

    def visit(queue: QueueSpec) -> None:
        if queue.name in seen:
            return
        seen.add(queue.name)
        if queue.dead_letter and queue.dead_letter in by_name:
            visit(by_name[queue.dead_letter])
        ordered.append(queue)

    for queue in queues:
        visit(queue)
    return ordered
