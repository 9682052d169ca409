"""Check a whole topology before the first AWS call: every problem at once, each with its fix.

Nothing that passes here may fail halfway through ``apply()``: every field is of its declared
type, every reference resolves, every value is within the range its service takes, and every
name ``apply()`` generates (roles, archives, log groups, with the run prefix) fits its
service's limit. The limits are read from the service modules (``services/sqs.MAX_NAME``, ...),
where each has its one home; limits only AWS enforces (the emulators accept more) are checked
too, so a topology that works locally can be built on AWS.

:func:`validate` runs one check per kind of declaration (:class:`_Checks`), then the checks of
what ``apply()`` will generate (:mod:`eventlab.topology.plan`).
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from io import BytesIO

from eventlab.run import BASE_NAME_PATTERN
from eventlab.services import events, firehose, kinesis, kms, lambda_, s3, ses, sns, sqs, tags
from eventlab.topology import plan
from eventlab.topology.filters import (
    PatternError,
    validate_event_pattern,
    validate_filter_policy,
    validate_schedule,
)
from eventlab.topology.model import (
    QUEUE_ATTRIBUTES,
    FunctionSpec,
    QueueSpec,
    Ref,
    RuleSpec,
    RuleTargetSpec,
    SubscriptionSpec,
    TopicSpec,
    Topology,
    TopologyError,
    check_types,
)

log = logging.getLogger(__name__)

# What a function's ``allow`` may name: resources its role may send to or write into, an SES
# sender identity (``identity:orders@example.com``) and ``sms:any`` (SMS to phone numbers).
REF_KINDS_SENDABLE = ("queue", "topic", "bus", "stream", "bucket", "firehose", "identity", "sms")
RULE_TARGET_KINDS = ("queue", "topic", "function", "stream", "bus", "firehose")
# How AWS names the service principals that publish into queues and topics.
SERVICE_NAMES = {sns.PRINCIPAL: "SNS", events.PRINCIPAL: "EventBridge", "cloudwatch.amazonaws.com": "CloudWatch alarms",
                 "s3.amazonaws.com": "S3 event notifications"}


@dataclass(frozen=True)
class Report:
    """What :func:`check` found: problems AWS would refuse or silently drop (each with its fix),
    and warnings of what AWS still accepts but advises against (a deprecated runtime)."""

    problems: list[str]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(topology: Topology, *, prefix: str | None = None, today: date | None = None) -> Report:
    """Every problem of a topology that AWS would refuse, or build and then silently drop
    deliveries of, found offline; ``today`` (UTC by default) dates the runtime deprecations.

    ``prefix`` is the run's name prefix (``apply()`` passes it); by default one of the length
    every run's has.
    """
    problems = check_types(topology)
    if problems:  # the checks below rely on the declared types
        return Report(problems, [])
    prefix = prefix or plan.EXAMPLE_PREFIX
    checks = _Checks(topology, today or datetime.now(UTC).date())
    for each in (checks.duplicates, checks.queues, checks.topics, checks.buses, checks.rules,
                 checks.streams, checks.buckets, checks.delivery_streams, checks.functions):
        each()
    problems = checks.problems + plan.name_problems(topology, prefix, known_bad=frozenset(checks.bad_names))
    if not problems:  # sizes are worked out on a topology whose references resolve
        problems += plan.size_problems(topology, prefix)
    problems += checks.encryption()
    return Report(list(dict.fromkeys(problems)), checks.warnings)


def validate(topology: Topology, *, prefix: str | None = None, today: date | None = None) -> None:
    """Raise :class:`TopologyError` listing every problem of :func:`check`; log its warnings;
    return quietly if AWS would build it and deliver through it."""
    report = check(topology, prefix=prefix, today=today)
    for warning in report.warnings:
        log.warning("%s", warning)
    if report.problems:
        raise TopologyError(report.problems)


def _outside(value: int, bounds: tuple[int, int]) -> bool:
    return not bounds[0] <= value <= bounds[1]


class _Checks:
    """The checks of one topology, each adding the problems it finds to :attr:`problems`."""

    def __init__(self, topology: Topology, today: date) -> None:
        self.t = topology
        self.today = today
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.bad_names: set[str] = set()  # declarations whose own name is malformed
        self.queues_by_name = {q.name: q for q in topology.queues}
        self.known = {
            "queue": set(self.queues_by_name),
            "topic": {t.name for t in topology.topics},
            "bus": {b.name for b in topology.buses},
            "stream": {s.name for s in topology.streams},
            "bucket": {b.name for b in topology.buckets},
            "function": {f.name for f in topology.functions},
            "firehose": {d.name for d in topology.delivery_streams},
        }

    # -- shared helpers --------------------------------------------------------------------------
    def add(self, problem: str) -> None:
        self.problems.append(problem)

    def name(self, kind: str, name: str, *, pattern: str = BASE_NAME_PATTERN, fifo_allowed: bool = False) -> None:
        """A declared name is a base that run.name() takes (the prefix and suffixes are added)."""
        base = name.removesuffix(sqs.FIFO_SUFFIX) if fifo_allowed else name
        if not re.fullmatch(pattern, base):
            allowed = "lowercase letters, digits and '-'" if pattern == s3.BASE_NAME_PATTERN else "letters, digits, '-' and '_'"
            self.add(f"{kind} {name!r}: use {allowed}, starting with a letter or digit")
            self.bad_names.add(f"{kind} {name!r}")

    def resolve(self, text: str, where: str, allowed: tuple[str, ...], default: str | None = None) -> Ref | None:
        """The reference ``text`` if it parses, is of an allowed kind and names a declared
        resource (an identity: an address or domain; SMS: ``sms:any``); else a problem and None."""
        try:
            ref = Ref.parse(text, default_kind=default)
        except ValueError as error:
            self.add(f"{where}: {error}")
            return None
        if ref.kind not in allowed:
            self.add(f"{where}: {ref} cannot be used here; use one of {', '.join(k + ':NAME' for k in allowed)}")
            return None
        if ref.kind == "identity":
            if not re.fullmatch(ses.IDENTITY_PATTERN, ref.name):
                self.add(f"{where}: {ref} is not an email address or domain")
                return None
            return ref
        if ref.kind == "sms":
            if ref.name != "any":
                self.add(f"{where}: write sms:any (SMS goes to phone numbers, which have no ARN)")
                return None
            return ref
        if ref.name not in self.known[ref.kind]:
            self.add(f"{where}: unknown {ref.kind} {ref.name!r}; declare it under {ref.kind}s")
            return None
        return ref

    def tags(self, where: str, declared: dict[str, str], max_tags: int) -> None:
        for problem in tags.tag_problems(declared, max_tags=max_tags):
            self.add(f"{where}: {problem}")

    def dead_letter_queue(self, where: str, text: str, *, fifo: bool, who: str) -> None:
        """A DLQ reference of a subscription or rule target: it exists and is of the right type."""
        ref = self.resolve(text, where, ("queue",), default="queue")
        if ref and self.queues_by_name[ref.name].fifo != fifo:
            kind = "FIFO" if fifo else "standard"
            self.add(f"{where}: {who} needs a {kind} queue as its dead-letter queue, not {ref.name!r}")

    # -- what AWS would build, then silently drop ------------------------------------------------
    def encryption(self) -> list[str]:
        """A queue or topic that AWS services publish to (SNS to a queue, EventBridge rules to a
        queue or topic, their dead-letter queues), encrypted with an AWS-managed key: its key
        policy cannot admit them, so AWS drops what they send. Also a key on an unencrypted one."""
        problems: list[str] = []
        try:
            queue_grants, topic_grants = plan.resource_grants(self.t, str, str)
        except ValueError:  # a malformed reference, reported already
            return problems
        for kind, specs, grants, page in (
            ("queue", {q.name: q for q in self.t.queues}, queue_grants, kms.SQS_KEY_MANAGEMENT),
            ("topic", {t.name: t for t in self.t.topics}, topic_grants, kms.SNS_KEY_MANAGEMENT),
        ):
            for name, spec in specs.items():
                if spec.kms_key is not None and not spec.encrypted:
                    problems.append(f"{kind} {name!r}: kms_key {spec.kms_key!r} needs encrypted: true (or drop kms_key)")
                publishers = grants.get(name)
                if publishers and spec.encrypted and kms.is_aws_managed(spec.kms_key):
                    who = " and ".join(f"{SERVICE_NAMES.get(p, p)} ({p})" for p in sorted(publishers))
                    problems.append(
                        f"{kind} {name!r}: {who} sends to it, but it is encrypted with the AWS-managed key {spec.kms_key}, "
                        f"whose key policy cannot grant a service principal kms:GenerateDataKey*/kms:Decrypt: AWS accepts the "
                        f"{kind} and silently drops those deliveries. Drop kms_key (eventlab then creates a customer-managed "
                        f"key for exactly these publishers) or name a customer-managed key that allows them ({page})")
        return problems

    # -- per kind ------------------------------------------------------------------------------
    def duplicates(self) -> None:
        for kind, names in {
            "queue": [q.name for q in self.t.queues],
            "topic": [t.name for t in self.t.topics],
            "bus": [b.name for b in self.t.buses],
            "rule": [r.name for r in self.t.rules],
            "stream": [s.name for s in self.t.streams],
            "bucket": [b.name for b in self.t.buckets],
            "delivery stream": [d.name for d in self.t.delivery_streams],
            "function": [f.name for f in self.t.functions],
        }.items():
            for name, count in Counter(names).items():
                if count > 1:
                    self.add(f"{kind} {name!r} is declared {count} times")

    def queues(self) -> None:
        for queue in self.t.queues:
            self._queue(queue)
        for queue in self.t.queues:
            chain, current = [queue.name], queue.dead_letter
            while current in self.queues_by_name and current not in chain:
                chain.append(current)
                current = self.queues_by_name[current].dead_letter
            if current in chain and current is not None:
                self.add(f"queue {queue.name!r}: dead-letter queues form a loop ({' -> '.join([*chain, current])})")
                break

    def _queue(self, queue: QueueSpec) -> None:
        where = f"queue {queue.name!r}"
        self.name("queue", queue.name, fifo_allowed=True)
        if queue.fifo and not queue.name.endswith(sqs.FIFO_SUFFIX):
            self.add(f"{where}: a FIFO queue's name must end in '.fifo' (call it {queue.name + '.fifo'!r})")
        if not queue.fifo and queue.name.endswith(sqs.FIFO_SUFFIX):
            self.add(f"{where}: only FIFO queues end in '.fifo'; add 'fifo: true' or rename it")
        if (queue.content_based_deduplication or queue.high_throughput) and not queue.fifo:
            self.add(f"{where}: content-based deduplication and high throughput need 'fifo: true'")
        for setting, attribute in QUEUE_ATTRIBUTES.items():
            value, bounds = getattr(queue, setting), sqs.ATTRIBUTE_RANGES[attribute]
            if _outside(value, bounds):
                self.add(f"{where}: {setting}={value} is outside {bounds[0]}..{bounds[1]} (SQS {attribute})")
        if _outside(queue.max_receive_count, sqs.MAX_RECEIVE_COUNT):
            low, high = sqs.MAX_RECEIVE_COUNT
            self.add(f"{where}: max_receive_count={queue.max_receive_count} is outside {low}..{high}")
        self.tags(where, queue.tags, sqs.MAX_TAGS)
        if queue.dead_letter is None:
            return
        dlq = self.queues_by_name.get(queue.dead_letter)
        if dlq is None:
            self.add(f"{where}: unknown dead-letter queue {queue.dead_letter!r}; declare it under queues")
        elif dlq.fifo != queue.fifo:
            self.add(f"{where}: its DLQ {dlq.name!r} must be {'FIFO' if queue.fifo else 'standard'} like the queue")
        elif dlq.name == queue.name:
            self.add(f"{where}: a queue cannot be its own dead-letter queue")
        elif dlq.retention < queue.retention:
            self.add(f"{where}: its DLQ keeps messages {dlq.retention} s, less than the queue's {queue.retention} s; messages could expire in the DLQ before anyone looks")

    def topics(self) -> None:
        for topic in self.t.topics:
            where = f"topic {topic.name!r}"
            self.name("topic", topic.name, fifo_allowed=True)
            if topic.fifo != topic.name.endswith(sns.FIFO_SUFFIX):
                self.add(f"{where}: FIFO topics (and only they) are named '*.fifo' with 'fifo: true'")
            if topic.content_based_deduplication and not topic.fifo:
                self.add(f"{where}: content-based deduplication needs 'fifo: true'")
            self.tags(where, topic.tags, sns.MAX_TAGS)
            endpoints = Counter((sub.protocol, sub.endpoint) for sub in topic.subscriptions)
            for (protocol, endpoint), count in endpoints.items():
                if count > 1:
                    self.add(f"{where}: {count} {protocol} subscriptions to {endpoint!r}; SNS keeps one subscription per endpoint, so merge them")
            filtered = sum(1 for sub in topic.subscriptions if sub.filter_policy is not None)
            if filtered > sns.FILTER_POLICIES_PER_TOPIC:
                self.add(f"{where}: {filtered} filter policies; SNS allows {sns.FILTER_POLICIES_PER_TOPIC} per topic (default quota)")
            for index, sub in enumerate(topic.subscriptions):
                self._subscription(topic, f"{where} subscription {index}", sub)

    def _subscription(self, topic: TopicSpec, at: str, sub: SubscriptionSpec) -> None:
        if topic.fifo and sub.protocol not in sns.FIFO_PROTOCOLS:
            self.add(f"{at}: FIFO topics deliver only to SQS queues, not over {sub.protocol}")
        if sub.protocol == "sqs":
            ref = self.resolve(sub.endpoint, at, ("queue",), default="queue")
            if ref and not topic.fifo and self.queues_by_name[ref.name].fifo:
                self.add(f"{at}: a standard topic cannot deliver to the FIFO queue {ref.name!r} (SQS needs a message group id, which only FIFO topics send); make the topic FIFO or the queue standard")
            # A FIFO topic delivers to standard queues too (best-effort order, at least once):
            # sns.FIFO_MESSAGE_DELIVERY.
        elif sub.protocol == "lambda":
            self.resolve(sub.endpoint, at, ("function",), default="function")
        elif sub.protocol in ("http", "https"):
            if not re.fullmatch(rf"{sub.protocol}://[^\s/]+(/\S*)?", sub.endpoint):
                self.add(f"{at}: an {sub.protocol} endpoint is a URL starting with {sub.protocol}://")
        elif sub.protocol in ("email", "email-json"):
            if not re.fullmatch(ses.ADDRESS_PATTERN, sub.endpoint):
                self.add(f"{at}: an {sub.protocol} endpoint is an email address, not {sub.endpoint!r}")
        elif sub.protocol == "firehose":
            self.add(f"{at}: SNS delivers to Firehose only with a subscription role, which eventlab does not create; use a rule target firehose:NAME or a function")
        if sub.raw_message_delivery and sub.protocol not in sns.RAW_DELIVERY_PROTOCOLS:
            self.add(f"{at}: raw delivery works for {sorted(sns.RAW_DELIVERY_PROTOCOLS)}, not {sub.protocol}")
        if sub.filter_policy is not None:
            try:
                validate_filter_policy(sub.filter_policy, sub.filter_policy_scope)
            except PatternError as error:
                self.add(f"{at} filter policy: {error}")
        if sub.dead_letter is not None:
            self.dead_letter_queue(f"{at} dead_letter", sub.dead_letter, fifo=topic.fifo,
                                   who=f"a subscription to a {'FIFO' if topic.fifo else 'standard'} topic")

    def buses(self) -> None:
        for bus in self.t.buses:
            self.name("bus", bus.name)
            if bus.name == "default":
                self.add("bus 'default': the default bus exists already; leave 'bus' unset on rules to use it")
            if bus.archive is None:
                continue
            if bus.archive.retention_days < 0:
                self.add(f"bus {bus.name!r} archive: retention_days must be 0 (keep forever) or more")
            if bus.archive.event_pattern is not None:
                try:
                    validate_event_pattern(bus.archive.event_pattern, events.ARCHIVE_PATTERN_MAX_CHARS)
                except PatternError as error:
                    self.add(f"bus {bus.name!r} archive pattern: {error}")

    def rules(self) -> None:
        for rule in self.t.rules:
            self._rule(rule)

    def _rule(self, rule: RuleSpec) -> None:
        where = f"rule {rule.name!r}"
        self.name("rule", rule.name)
        if rule.bus is not None and rule.bus not in self.known["bus"]:
            self.add(f"{where}: unknown bus {rule.bus!r}; declare it under buses (or leave bus unset for the default bus)")
        if (rule.event_pattern is None) == (rule.schedule is None):
            self.add(f"{where}: give exactly one of event_pattern or schedule")
        if rule.event_pattern is not None:
            try:
                validate_event_pattern(rule.event_pattern)
            except PatternError as error:
                self.add(f"{where} pattern: {error}")
        if rule.schedule is not None:
            if rule.bus is not None:
                self.add(f"{where}: scheduled rules run on the default bus only")
            try:
                validate_schedule(rule.schedule)
            except PatternError as error:
                self.add(f"{where}: {error}")
        if len(rule.description) > events.DESCRIPTION_MAX_CHARS:
            self.add(f"{where}: the description is {len(rule.description)} characters; EventBridge allows {events.DESCRIPTION_MAX_CHARS}")
        if len(rule.targets) > events.MAX_TARGETS:
            self.add(f"{where}: {len(rule.targets)} targets; EventBridge allows {events.MAX_TARGETS} per rule")
        for target in rule.targets:
            self._target(target, f"{where} target {target.id!r}")
        repeated = sorted(i for i, n in Counter(t.id for t in rule.targets).items() if n > 1)
        if repeated:
            self.add(f"{where}: target ids must be unique; repeated: {repeated}")

    def _target(self, target: RuleTargetSpec, at: str) -> None:
        """One rule target: its id, its reference and the input it gets, then what its kind takes."""
        if not re.fullmatch(events.TARGET_ID_PATTERN, target.id):
            self.add(f"{at}: a target id is 1 to {events.MAX_TARGET_ID} letters, digits, '.', '-' and '_'")
        ref = self.resolve(target.arn, at, RULE_TARGET_KINDS)
        given = [x for x in (target.input_path, target.input, target.input_transformer) if x is not None]
        if len(given) > 1:
            self.add(f"{at}: input, input_path and input_transformer exclude each other")
        if target.input is not None:
            if len(target.input) > events.INPUT_MAX_CHARS:
                self.add(f"{at}: input is {len(target.input)} characters; EventBridge allows {events.INPUT_MAX_CHARS}")
            try:
                json.loads(target.input)
            except ValueError:
                self.add(f"{at}: input must be JSON text (it is sent as the event), e.g. '{{\"kind\": \"tick\"}}'")
        for label, path, limit in (
            ("input_path", target.input_path, events.INPUT_PATH_MAX_CHARS),
            ("partition_key_path", target.partition_key_path, events.PARTITION_KEY_PATH_MAX_CHARS),
        ):
            if path is not None and (not path.startswith("$") or len(path) > limit):
                self.add(f"{at}: {label} is a JSONPath such as $.detail, at most {limit} characters")
        transformer = target.input_transformer
        if transformer is not None:
            if len(transformer.paths) > events.INPUT_PATHS_MAX:
                self.add(f"{at}: input_transformer has {len(transformer.paths)} paths; EventBridge allows {events.INPUT_PATHS_MAX}")
            for key, path in transformer.paths.items():
                if not path.startswith("$") or len(path) > events.INPUT_PATH_MAX_CHARS:
                    self.add(f"{at}: input_transformer path {key!r} is a JSONPath such as $.detail.id, at most {events.INPUT_PATH_MAX_CHARS} characters")
            if not 1 <= len(transformer.template) <= events.INPUT_TEMPLATE_MAX_CHARS:
                self.add(f"{at}: input_transformer template must be 1..{events.INPUT_TEMPLATE_MAX_CHARS} characters")
        self._target_kind(target, at, ref)

    def _target_kind(self, target: RuleTargetSpec, at: str, ref: Ref | None) -> None:
        """What a target's kind takes: FIFO queues a group and deduplication, streams a key, ..."""
        fifo_topics = {t.name for t in self.t.topics if t.fifo}
        if ref is not None and ref.kind == "topic" and ref.name in fifo_topics:
            self.add(f"{at}: EventBridge does not deliver to SNS FIFO topics; target a FIFO queue instead")
        queue = self.queues_by_name[ref.name] if ref is not None and ref.kind == "queue" else None
        fifo_queue = queue is not None and queue.fifo
        if queue is not None and queue.fifo and not target.message_group_id:
            self.add(f"{at}: a FIFO queue target needs message_group_id")
        if queue is not None and queue.fifo and not queue.content_based_deduplication:
            self.add(f"{at}: EventBridge sends to a FIFO queue without deduplication ids; give queue {queue.name!r} content_based_deduplication: true")
        if target.message_group_id is not None:
            if ref is not None and not fifo_queue:
                self.add(f"{at}: message_group_id applies to FIFO queue targets only")
            if not 1 <= len(target.message_group_id) <= events.MESSAGE_GROUP_ID_MAX_CHARS:
                self.add(f"{at}: message_group_id must be 1..{events.MESSAGE_GROUP_ID_MAX_CHARS} characters")
        if ref is not None and ref.kind == "stream" and not target.partition_key_path:
            self.add(f"{at}: a Kinesis target needs partition_key_path (e.g. $.detail.orderId)")
        if ref is not None and ref.kind != "stream" and target.partition_key_path is not None:
            self.add(f"{at}: partition_key_path applies to stream targets only")
        if target.dead_letter is not None:
            self.dead_letter_queue(f"{at} dead_letter", target.dead_letter, fifo=False, who="an EventBridge target")
        if target.maximum_retry_attempts is not None and _outside(target.maximum_retry_attempts, events.RETRY_ATTEMPTS):
            self.add(f"{at}: maximum_retry_attempts must be {events.RETRY_ATTEMPTS[0]}..{events.RETRY_ATTEMPTS[1]}")
        if target.maximum_event_age is not None and _outside(target.maximum_event_age, events.EVENT_AGE_SECONDS):
            self.add(f"{at}: maximum_event_age must be {events.EVENT_AGE_SECONDS[0]}..{events.EVENT_AGE_SECONDS[1]} seconds")

    def streams(self) -> None:
        for stream in self.t.streams:
            where = f"stream {stream.name!r}"
            self.name("stream", stream.name)
            if stream.on_demand == (stream.shards is not None):
                self.add(f"{where}: give shards, or on_demand: true with shards: null")
            if stream.shards is not None and _outside(stream.shards, kinesis.SHARDS):
                self.add(f"{where}: shards={stream.shards} is outside {kinesis.SHARDS[0]}..{kinesis.SHARDS[1]}")
            if _outside(stream.retention_hours, kinesis.RETENTION_HOURS):
                self.add(f"{where}: retention_hours must be {kinesis.RETENTION_HOURS[0]}..{kinesis.RETENTION_HOURS[1]}")
            if len(stream.consumers) > kinesis.MAX_CONSUMERS:
                self.add(f"{where}: at most {kinesis.MAX_CONSUMERS} enhanced fan-out consumers")
            for consumer, count in Counter(stream.consumers).items():
                if count > 1:
                    self.add(f"{where}: consumer {consumer!r} is listed {count} times")

    def buckets(self) -> None:
        for bucket in self.t.buckets:
            self.name("bucket", bucket.name, pattern=s3.BASE_NAME_PATTERN)

    def delivery_streams(self) -> None:
        for delivery in self.t.delivery_streams:
            where = f"delivery stream {delivery.name!r}"
            self.name("delivery stream", delivery.name)
            self.resolve(delivery.bucket, f"{where} bucket", ("bucket",), default="bucket")
            if delivery.source is not None:
                self.resolve(delivery.source, f"{where} source", ("stream",), default="stream")
            if _outside(delivery.buffer_seconds, firehose.BUFFER_SECONDS) or _outside(delivery.buffer_mb, firehose.BUFFER_MB):
                self.add(f"{where}: buffering is {firehose.BUFFER_SECONDS[0]}..{firehose.BUFFER_SECONDS[1]} seconds and {firehose.BUFFER_MB[0]}..{firehose.BUFFER_MB[1]} MB")
            if len(delivery.prefix) > firehose.PREFIX_MAX_CHARS:
                self.add(f"{where}: the prefix is {len(delivery.prefix)} characters; Firehose allows {firehose.PREFIX_MAX_CHARS}")
            if "!{" in delivery.prefix:
                self.add(f"{where}: prefix expressions (!{{...}}) need an error prefix with !{{firehose:error-output-type}}, which eventlab does not set; use a plain prefix")

    def functions(self) -> None:
        mappings: Counter[tuple[str, str]] = Counter()
        for function in self.t.functions:
            self._function(function, mappings)
        for (name, source), count in mappings.items():
            if count > 1:
                self.add(f"function {name!r}: {count} event sources read {source}; Lambda allows one mapping per source and function")
        reserved = sum(max(f.reserved_concurrency or 0, 0) for f in self.t.functions)
        most = lambda_.ACCOUNT_CONCURRENCY - lambda_.MIN_UNRESERVED_CONCURRENCY
        if reserved > most:
            self.add(f"functions reserve {reserved} concurrent executions together; an account (default quota {lambda_.ACCOUNT_CONCURRENCY}) keeps {lambda_.MIN_UNRESERVED_CONCURRENCY} unreserved, so at most {most}")

    def _function(self, function: FunctionSpec, mappings: Counter[tuple[str, str]]) -> None:
        where = f"function {function.name!r}"
        self.name("function", function.name)
        self._code(function, where)
        self._runtime(function, where)
        if _outside(function.timeout, lambda_.TIMEOUT_SECONDS):
            self.add(f"{where}: timeout must be {lambda_.TIMEOUT_SECONDS[0]}..{lambda_.TIMEOUT_SECONDS[1]} seconds")
        if _outside(function.memory, lambda_.MEMORY_MB):
            self.add(f"{where}: memory={function.memory} is outside the {lambda_.MEMORY_MB[0]}..{lambda_.MEMORY_MB[1]} MB Lambda takes")
        for key in function.environment:
            if not re.fullmatch(lambda_.ENVIRONMENT_KEY_PATTERN, key):
                self.add(f"{where}: environment variable {key!r}: Lambda takes names of two or more letters, digits and '_', starting with a letter")
            elif key in lambda_.RESERVED_ENVIRONMENT_KEYS:
                self.add(f"{where}: environment variable {key!r} is set by the Lambda runtime and cannot be declared")
        self.tags(where, function.tags, lambda_.MAX_TAGS)
        if len(function.description) > lambda_.DESCRIPTION_MAX_CHARS:
            self.add(f"{where}: the description is {len(function.description)} characters; Lambda allows {lambda_.DESCRIPTION_MAX_CHARS}")
        if function.reserved_concurrency is not None and function.reserved_concurrency < 0:
            self.add(f"{where}: reserved_concurrency must be 0 or more")
        for source in function.event_sources:
            ref = self.resolve(source.source, f"{where} event source", ("queue", "stream"))
            if ref is not None:
                mappings[(function.name, str(ref))] += 1
                self._event_source(function, where, ref, source.batch_size, source.batching_window)
        for text in function.allow:
            self.resolve(text, f"{where} allow", REF_KINDS_SENDABLE)

    def _event_source(self, function: FunctionSpec, where: str, ref: Ref, batch_size: int, window: int) -> None:
        if _outside(window, lambda_.BATCHING_WINDOW_SECONDS):
            low, high = lambda_.BATCHING_WINDOW_SECONDS
            self.add(f"{where}: batching_window for {ref} must be {low}..{high} seconds")
        if ref.kind != "queue":
            if _outside(batch_size, lambda_.STREAM_BATCH_SIZE):
                low, high = lambda_.STREAM_BATCH_SIZE
                self.add(f"{where}: batch_size for {ref} must be {low}..{high}")
            return
        queue = self.queues_by_name[ref.name]
        bounds = lambda_.SQS_FIFO_BATCH_SIZE if queue.fifo else lambda_.SQS_BATCH_SIZE
        if _outside(batch_size, bounds):
            self.add(f"{where}: batch_size for {queue.name!r} must be {bounds[0]}..{bounds[1]}")
        if queue.fifo and window:
            self.add(f"{where}: Lambda takes no batching window from a FIFO queue ({queue.name!r}); set batching_window: 0")
        elif batch_size > lambda_.SQS_BATCH_WITHOUT_WINDOW and window < 1:
            self.add(f"{where}: a batch_size over {lambda_.SQS_BATCH_WITHOUT_WINDOW} from {queue.name!r} needs batching_window of 1 s or more")
        if queue.visibility_timeout < function.timeout:
            self.add(f"{where}: queue {queue.name!r} visibility timeout ({queue.visibility_timeout} s) is shorter than the function timeout ({function.timeout} s); messages would be received twice (AWS recommends 6x)")

    def _code(self, function: FunctionSpec, where: str) -> None:
        """The code folder exists, packages within Lambda's size limits and holds the handler."""
        try:
            folder = self.t.code_dir(function)
        except FileNotFoundError:
            self.add(f"{where}: no bundled handler {function.code!r}")
            return
        if not folder.is_dir():
            self.add(f"{where}: code folder {str(folder)!r} does not exist")
            return
        try:
            zipped = lambda_.package(folder)
        except (OSError, ValueError) as error:
            self.add(f"{where}: its code cannot be packaged: {error}")
            return
        if len(zipped) > lambda_.PACKAGE_MAX_ZIPPED_BYTES:
            self.add(f"{where}: its package is {len(zipped) / 2**20:.1f} MB zipped; Lambda takes {lambda_.PACKAGE_MAX_ZIPPED_BYTES // 2**20} MB in a request")
        with zipfile.ZipFile(BytesIO(zipped)) as archive:
            files = {info.filename: info.file_size for info in archive.infolist()}
        if sum(files.values()) > lambda_.PACKAGE_MAX_UNZIPPED_BYTES:
            self.add(f"{where}: its code is {sum(files.values()) / 2**20:.1f} MB unzipped; Lambda allows {lambda_.PACKAGE_MAX_UNZIPPED_BYTES // 2**20} MB")
        handler = function.handler
        module, dot, attribute = handler.rpartition(".")
        if len(handler) > lambda_.HANDLER_MAX_CHARS or not dot or not module or not attribute or re.search(r"\s", handler):
            self.add(f"{where}: handler {handler!r} is module.function (e.g. main.handler), at most {lambda_.HANDLER_MAX_CHARS} characters")
            return
        path = module.replace(".", "/")
        if f"{path}.py" not in files and f"{path}/__init__.py" not in files:
            self.add(f"{where}: handler {handler!r} needs {path}.py in {str(folder)!r}, which has no such file")

    def _runtime(self, function: FunctionSpec, where: str) -> None:
        """A Python runtime Lambda creates functions with today: past its block-create date AWS
        refuses it; deprecated before that, it is created, with a warning."""
        status = lambda_.runtime_status(function.runtime, self.today)
        if status == "blocked":
            deprecated, block_create, _ = lambda_.RUNTIME_DATES[function.runtime]
            self.add(f"{where}: Lambda refuses CreateFunction with runtime {function.runtime!r} since {block_create:%Y-%m-%d} "
                     f"(deprecated {deprecated:%Y-%m-%d}; {lambda_.RUNTIMES_PAGE}); use {lambda_.DEFAULT_RUNTIME}")
            return
        if status == "deprecated":
            _, block_create, _ = lambda_.RUNTIME_DATES[function.runtime]
            self.warnings.append(f"{where}: runtime {function.runtime} is deprecated by Lambda (no more security patches); "
                                 f"AWS refuses new functions with it from {block_create:%Y-%m-%d}; use {lambda_.DEFAULT_RUNTIME}")
            return
        if function.runtime in lambda_.PYTHON_RUNTIMES or function.runtime in lambda_.RUNTIME_DATES:
            return
        if function.runtime.startswith("python"):
            self.add(f"{where}: runtime {function.runtime!r} is not a Python runtime Lambda creates functions with; use one of {', '.join(lambda_.PYTHON_RUNTIMES)}")
        else:
            self.add(f"{where}: runtime {function.runtime!r}: eventlab's Lambda executor runs Python handlers only; use one of {', '.join(lambda_.PYTHON_RUNTIMES)}")
