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
from typing import Any

from eventlab import policies
from eventlab.run import Run
from eventlab.services import events, firehose, iam, kinesis, kms, s3, sns, sqs
from eventlab.topology import functions, handles, plan
from eventlab.topology.handles import Handles
from eventlab.topology.model import (
    QueueSpec,
    Ref,
    RuleSpec,
    RuleTargetSpec,
    StreamSpec,
    SubscriptionSpec,
    TopicSpec,
    Topology,
    TopologyError,
)
from eventlab.topology.plan import ROLE_TARGET_KINDS, resource_grants
from eventlab.topology.validate import validate

log = logging.getLogger(__name__)


def apply(topology: Topology, run: Run) -> Handles:
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
    built = handles.of_run(run, topology)
    log.info("applying topology %s for run %s", topology.name, run.run_id)
    _Builder(built, run).build()
    return built


def _once(table: dict[str, Any], name: str, create: Callable[[], Any]) -> Any:
    if name not in table:
        table[name] = create()
    return table[name]


class _Builder:
    """Creates what is missing from a topology's handles, in dependency order."""

    def __init__(self, built: Handles, run: Run) -> None:
        self.h = built
        self.run = run
        self.t = built.topology

    def build(self) -> None:
        for bucket in self.t.buckets:
            _once(self.h.buckets, bucket.name, lambda b=bucket: s3.create_bucket(self.run, b.name))
        for queue in _dead_letters_first(self.t.queues):
            _once(self.h.queues, queue.name, lambda q=queue: self._queue(q))
        for topic in self.t.topics:
            _once(self.h.topics, topic.name, lambda t=topic: self._topic(t))
        for stream in self.t.streams:
            _once(self.h.streams, stream.name, lambda s=stream: self._stream(s))
            for consumer in stream.consumers:
                _once(
                    self.h.consumers,
                    f"{stream.name}/{consumer}",
                    lambda s=stream, c=consumer: kinesis.register_stream_consumer(self.run, self.h.streams[s.name], c),
                )
        for delivery in self.t.delivery_streams:
            _once(
                self.h.delivery_streams,
                delivery.name,
                lambda ds=delivery: firehose.create_delivery_stream_to_s3(
                    self.run,
                    ds.name,
                    self.h.buckets[Ref.parse(ds.bucket, default_kind="bucket").name],
                    source=self.h.streams[Ref.parse(ds.source, default_kind="stream").name] if ds.source else None,
                    prefix=ds.prefix,
                    buffer_seconds=ds.buffer_seconds,
                    buffer_mb=ds.buffer_mb,
                    compression=ds.compression,
                ),
            )
        for bus in self.t.buses:
            _once(self.h.buses, bus.name, lambda b=bus: events.create_event_bus(self.run, b.name))
            if bus.archive is not None:
                _once(
                    self.h.archives,
                    bus.name,
                    lambda b=bus: events.create_archive(
                        self.run,
                        self.h.buses[b.name],
                        events.archive_base(b.name),
                        retention_days=b.archive.retention_days,
                        event_pattern=b.archive.event_pattern,
                    ),
                )
        functions.build(self.h, self.run)
        for rule in self.t.rules:
            _once(self.h.rules, rule.name, lambda r=rule: self._rule(r))
        self._resource_policies()
        for topic in self.t.topics:
            for index, sub in enumerate(topic.subscriptions):
                _once(self.h.subscriptions, f"{topic.name}/{index}", lambda t=topic, s=sub: self._subscribe(t, s))
        for rule in self.t.rules:
            if rule.targets and rule.name not in self.h.targeted:
                self._targets(rule)
                self.h.targeted.add(rule.name)

    def _queue(self, spec: QueueSpec) -> sqs.Queue:
        key = {"KmsMasterKeyId": spec.kms_key} if spec.encrypted and spec.kms_key else {}
        return sqs.create_queue(
            self.run,
            spec.name.removesuffix(sqs.FIFO_SUFFIX),
            fifo=spec.fifo,
            content_based_deduplication=spec.content_based_deduplication,
            attributes={**spec.attributes(), **key},
            dead_letter_queue=self.h.queues[spec.dead_letter] if spec.dead_letter else None,
            max_receive_count=spec.max_receive_count,
            encrypted=spec.encrypted,
            tags=spec.tags,
        )

    def _topic(self, spec: TopicSpec) -> sns.Topic:
        return sns.create_topic(
            self.run,
            spec.name.removesuffix(sns.FIFO_SUFFIX),
            fifo=spec.fifo,
            content_based_deduplication=spec.content_based_deduplication,
            attributes={"KmsMasterKeyId": spec.kms_key} if spec.encrypted and spec.kms_key else None,
            encrypted=spec.encrypted,
            tags=spec.tags,
        )

    def _stream(self, spec: StreamSpec) -> kinesis.Stream:
        return kinesis.create_stream(
            self.run,
            spec.name,
            shard_count=spec.shards,
            on_demand=spec.on_demand,
            encrypted=spec.encrypted,
            retention_hours=spec.retention_hours,
        )

    def _rule(self, spec: RuleSpec) -> events.Rule:
        bus = self.h.buses[spec.bus] if spec.bus else None
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
            self.t, lambda topic: self.h.topics[topic].arn, lambda rule: self.h.rules[rule].arn
        )
        for name, grants in queue_grants.items():
            self._customer_managed_key("queue", name, grants)
            self.h.policies[f"queue:{name}"] = sqs.merge_queue_policy(self.run, self.h.queues[name], grants)
        for name, grants in topic_grants.items():
            self._customer_managed_key("topic", name, grants)
            self.h.policies[f"topic:{name}"] = sns.merge_topic_policy(self.run, self.h.topics[name], grants)

    def _customer_managed_key(self, kind: str, name: str, grants: dict[str, set[str]]) -> None:
        """An encrypted queue or topic that AWS services publish to, with no key declared, gets a
        customer-managed key whose policy admits exactly those publishers (for their source
        ARNs): an AWS-managed key cannot admit them, and AWS would drop what they send."""
        spec = {q.name: q for q in self.t.queues}[name] if kind == "queue" else {t.name: t for t in self.t.topics}[name]
        if not spec.encrypted or spec.kms_key is not None:
            return
        via = "sqs" if kind == "queue" else "sns"

        def create() -> kms.Key:
            key = kms.create_key(self.run, plan.key_base(kind, name), via=via, publishers=grants)
            if kind == "queue":
                self.run.target.client("sqs").set_queue_attributes(
                    QueueUrl=self.h.queues[name].url, Attributes={"KmsMasterKeyId": key.arn, "SqsManagedSseEnabled": "false"})
            else:
                self.run.target.client("sns").set_topic_attributes(
                    TopicArn=self.h.topics[name].arn, AttributeName="KmsMasterKeyId", AttributeValue=key.arn)
            return key

        _once(self.h.keys, f"{kind}:{name}", create)

    def _subscribe(self, topic: TopicSpec, sub: SubscriptionSpec) -> sns.Subscription:
        topic_arn = self.h.topics[topic.name].arn
        if sub.protocol == "sqs":
            endpoint = self.h.queues[Ref.parse(sub.endpoint, default_kind="queue").name].arn
        elif sub.protocol == "lambda":
            name = Ref.parse(sub.endpoint, default_kind="function").name
            endpoint = self.h.functions[name].arn
            functions.allow_invoke(self.h, self.run, name, sns.PRINCIPAL, topic_arn)
        else:
            endpoint = sub.endpoint
        return sns.subscribe(
            self.run,
            self.h.topics[topic.name],
            sub.protocol,
            endpoint,
            raw_message_delivery=sub.raw_message_delivery,
            filter_policy=sub.filter_policy,
            filter_policy_scope=sub.filter_policy_scope,
            dead_letter_queue=self.h.queues[Ref.parse(sub.dead_letter, default_kind="queue").name] if sub.dead_letter else None,
        )

    def _targets(self, rule: RuleSpec) -> None:
        rule_arn = self.h.rules[rule.name].arn
        role_statements = []
        entries = []
        for spec in rule.targets:
            ref = Ref.parse(spec.arn)
            arn = self.h.arn(ref)
            if ref.kind in ROLE_TARGET_KINDS:
                role_statements += policies.may_send_to(arn)
            elif ref.kind == "function":
                functions.allow_invoke(self.h, self.run, ref.name, events.PRINCIPAL, rule_arn)
            entries.append((ref, self._target_entry(spec, ref, arn)))
        if role_statements:
            document = policies.document(*role_statements)
            role = iam.create_role(self.run, events.target_role_base(rule.name), service=events.PRINCIPAL, policy=document)
            self.h.policies[f"role:{role.name}"] = document
            for ref, entry in entries:
                if ref.kind in ROLE_TARGET_KINDS:
                    entry["RoleArn"] = role.arn
        events.put_targets(self.run, self.h.rules[rule.name], [entry for _, entry in entries])

    def _target_entry(self, spec: RuleTargetSpec, ref: Ref, arn: str) -> dict[str, Any]:
        """One rule target as PutTargets takes it."""
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
            entry["DeadLetterConfig"] = {"Arn": self.h.queues[Ref.parse(spec.dead_letter, default_kind="queue").name].arn}
        if spec.message_group_id:
            entry["SqsParameters"] = {"MessageGroupId": spec.message_group_id}
        if ref.kind == "stream":
            entry["KinesisParameters"] = {"PartitionKeyPath": spec.partition_key_path}
        return entry


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
