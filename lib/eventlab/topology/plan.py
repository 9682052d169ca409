"""What ``apply()`` will create for a topology, worked out offline: every generated name, and the
policies and environments whose size AWS limits.

The names come from the same helpers the services and ``apply()`` use (``lambda_.role_base``,
``events.archive_base``, ...), with the run prefix as :meth:`eventlab.run.Run.name` adds it, so
``validate()`` checks the names that will really be created against each service's limit (read
from its module). Resource policies and function roles are computed by the code ``apply()``
uses, on handles whose ARNs are estimated with the longest region name; their sizes are upper
bounds of what AWS will see.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from eventlab import policies
from eventlab.run import Run, new_run_id
from eventlab.services import events, firehose, iam, kinesis, kms, lambda_, logs, s3, sns, sqs
from eventlab.topology import functions
from eventlab.topology.handles import Handles
from eventlab.topology.model import FunctionSpec, Ref, RuleSpec, Topology

# A prefix of the length every run's has, for checks made before a run exists.
EXAMPLE_PREFIX = Run.prefix_for("0" * len(new_run_id()))
SHOWN_PREFIX = Run.prefix_for("<run id>")  # how EXAMPLE_PREFIX reads in messages (same length)
# For size estimates: the longest region name (ap-southeast-5 and its kind) and an account id.
REGION = "ap-southeast-5"
ACCOUNT = "123456789012"
ROLE_TARGET_KINDS = ("stream", "bus", "firehose")  # rule targets delivered with a role


def full_name(prefix: str, base: str, suffix: str = "") -> str:
    """A resource's name as :meth:`Run.name` composes it (a unit test keeps the two equal)."""
    return f"{prefix}-{base}{suffix}"


@dataclass(frozen=True)
class GeneratedName:
    """One name ``apply()`` will create, with the limit of the service it is created in."""

    owner: str  # the declaration it comes from, e.g. "function 'payment'"
    what: str  # e.g. "IAM role"
    name: str
    max_length: int
    pattern: str  # what the service accepts (whole name)
    namespace: str  # names that must differ from each other
    fold_case: bool = False  # unique regardless of case (IAM)
    rules: Callable[[str], list[str]] | None = None  # further naming rules (S3's), as problems


def key_base(kind: str, name: str) -> str:
    """The base name of the customer-managed key of a queue or topic (its alias adds the prefix)."""
    return f"{kind}-{name.removesuffix(sqs.FIFO_SUFFIX)}"


def customer_managed_keys(topology: Topology) -> list[tuple[str, str]]:
    """The (kind, name) of every queue and topic ``apply()`` gives a customer-managed key:
    encrypted, no key declared, and an AWS service publishes to it."""
    queue_grants, topic_grants = resource_grants(topology, str, str)
    queues = {q.name: q for q in topology.queues}
    topics = {t.name: t for t in topology.topics}
    return [("queue", n) for n in queue_grants if n in queues and queues[n].encrypted and queues[n].kms_key is None] + [
        ("topic", n) for n in topic_grants if n in topics and topics[n].encrypted and topics[n].kms_key is None]


def generated_names(topology: Topology, prefix: str = EXAMPLE_PREFIX) -> list[GeneratedName]:
    """Every name ``apply()`` creates for ``topology`` under ``prefix``."""
    out: list[GeneratedName] = []
    add = out.append
    try:
        keyed = customer_managed_keys(topology)
    except ValueError:  # an unparsable reference, reported by the validator
        keyed = []
    for kind, name in keyed:
        alias = kms.alias_name(full_name(prefix, key_base(kind, name)))
        add(GeneratedName(f"{kind} {name!r}", "KMS key alias", alias, kms.MAX_ALIAS, kms.ALIAS_PATTERN, "kms:alias"))
    for queue in topology.queues:
        name = full_name(prefix, queue.name.removesuffix(sqs.FIFO_SUFFIX), sqs.FIFO_SUFFIX if queue.fifo else "")
        add(GeneratedName(f"queue {queue.name!r}", "SQS queue", name, sqs.MAX_NAME, sqs.NAME_PATTERN, "sqs:queue"))
    for topic in topology.topics:
        name = full_name(prefix, topic.name.removesuffix(sns.FIFO_SUFFIX), sns.FIFO_SUFFIX if topic.fifo else "")
        add(GeneratedName(f"topic {topic.name!r}", "SNS topic", name, sns.MAX_NAME, sns.NAME_PATTERN, "sns:topic"))
    for bus in topology.buses:
        owner = f"bus {bus.name!r}"
        add(GeneratedName(owner, "event bus", full_name(prefix, bus.name), events.MAX_BUS_NAME, events.BUS_NAME_PATTERN, "events:bus"))
        if bus.archive is not None:
            name = full_name(prefix, events.archive_base(bus.name))
            add(GeneratedName(owner, "archive", name, events.MAX_ARCHIVE_NAME, events.ARCHIVE_NAME_PATTERN, "events:archive"))
    for rule in topology.rules:
        owner = f"rule {rule.name!r}"
        add(GeneratedName(owner, "rule", full_name(prefix, rule.name), events.MAX_RULE_NAME, events.RULE_NAME_PATTERN, f"events:rule:{rule.bus}"))
        if any(_kind(t.arn) in ROLE_TARGET_KINDS for t in rule.targets):
            name = full_name(prefix, events.target_role_base(rule.name))
            add(GeneratedName(owner, "IAM role (for its stream, bus and Firehose targets)", name, iam.MAX_NAME, iam.NAME_PATTERN, "iam:role", True))
    for stream in topology.streams:
        owner = f"stream {stream.name!r}"
        add(GeneratedName(owner, "Kinesis stream", full_name(prefix, stream.name), kinesis.MAX_NAME, kinesis.NAME_PATTERN, "kinesis:stream"))
        for consumer in stream.consumers:
            add(GeneratedName(owner, "enhanced fan-out consumer", consumer, kinesis.MAX_CONSUMER_NAME, kinesis.CONSUMER_NAME_PATTERN, f"kinesis:consumer:{stream.name}"))
    for bucket in topology.buckets:
        # As s3.create_bucket names it; the bucket rules themselves are checked by s3.bucket_name_problems.
        name = full_name(prefix, bucket.name.lower().replace("_", "-"))
        add(GeneratedName(f"bucket {bucket.name!r}", "S3 bucket", name, s3.MAX_NAME, r".+", "s3:bucket",
                          rules=s3.bucket_name_problems))
    for delivery in topology.delivery_streams:
        owner = f"delivery stream {delivery.name!r}"
        add(GeneratedName(owner, "Firehose delivery stream", full_name(prefix, delivery.name), firehose.MAX_NAME, firehose.NAME_PATTERN, "firehose:delivery-stream"))
        add(GeneratedName(owner, "IAM role", full_name(prefix, firehose.role_base(delivery.name)), iam.MAX_NAME, iam.NAME_PATTERN, "iam:role", True))
    for function in topology.functions:
        owner = f"function {function.name!r}"
        name = full_name(prefix, function.name)
        add(GeneratedName(owner, "Lambda function", name, lambda_.MAX_NAME, lambda_.NAME_PATTERN, "lambda:function"))
        add(GeneratedName(owner, "IAM role", full_name(prefix, lambda_.role_base(function.name)), iam.MAX_NAME, iam.NAME_PATTERN, "iam:role", True))
        add(GeneratedName(owner, "log group", lambda_.log_group_name(name), logs.LOG_GROUP_MAX_CHARS, logs.LOG_GROUP_PATTERN, logs.LOG_GROUP.name))
    return out


def name_problems(topology: Topology, prefix: str = EXAMPLE_PREFIX, *, known_bad: frozenset[str] = frozenset()) -> list[str]:
    """Generated names that a service would refuse, or that two declarations would share.
    ``known_bad``: owners whose declared name is already reported as malformed (not repeated)."""
    def shown(name: str) -> str:
        return name.replace(EXAMPLE_PREFIX, SHOWN_PREFIX) if prefix == EXAMPLE_PREFIX else name

    problems = []
    seen: dict[tuple[str, str], GeneratedName] = {}
    for generated in generated_names(topology, prefix):
        length = len(generated.name)
        if length > generated.max_length:
            problems.append(
                f"{generated.owner}: its {generated.what} {shown(generated.name)!r} would be {length} "
                f"characters, over the {generated.max_length} AWS allows; shorten the name by "
                f"{length - generated.max_length}"
            )
        elif generated.owner in known_bad:
            pass
        elif not re.fullmatch(generated.pattern, generated.name):
            problems.append(f"{generated.owner}: its {generated.what} {shown(generated.name)!r} is not a valid name ({generated.pattern})")
        elif generated.rules is not None:
            problems += [f"{generated.owner}: its {generated.what} name {shown(generated.name)!r} {why}" for why in generated.rules(generated.name)]
        key = (generated.namespace, generated.name.lower() if generated.fold_case else generated.name)
        other = seen.setdefault(key, generated)
        if other is not generated and other.owner != generated.owner:
            problems.append(
                f"{generated.owner} and {other.owner} would both create the {generated.what} "
                f"{shown(generated.name)!r}; rename one"
            )
    return problems


def _kind(text: str) -> str | None:
    try:
        return Ref.parse(text).kind
    except ValueError:
        return None


# -- handles and policies, as apply() computes them --------------------------------------------

def estimated_arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT) -> str:
    """An ARN in AWS's format for ``service`` (``sqs``, ``sns``, ``events``, ...)."""
    if service == "s3":
        return f"arn:aws:s3:::{resource}"
    return f"arn:aws:{service}:{region}:{account}:{resource}"


@dataclass(frozen=True)
class Estimate:
    """The region and account estimated ARNs are in: the longest region name, any account."""

    region: str = REGION
    account_id: str = ACCOUNT


def plan(topology: Topology, prefix: str = EXAMPLE_PREFIX) -> Handles:
    """Handles for every declared resource, with the names apply() will give them and estimated
    ARNs (only call it on a topology whose references resolve)."""
    p = Handles(topology=topology, place=Estimate())
    for queue in topology.queues:
        name = full_name(prefix, queue.name.removesuffix(sqs.FIFO_SUFFIX), sqs.FIFO_SUFFIX if queue.fifo else "")
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        p.queues[queue.name] = sqs.Queue(name=name, url=url, arn=estimated_arn("sqs", name))
    for topic in topology.topics:
        name = full_name(prefix, topic.name.removesuffix(sns.FIFO_SUFFIX), sns.FIFO_SUFFIX if topic.fifo else "")
        p.topics[topic.name] = sns.Topic(name=name, arn=estimated_arn("sns", name))
    for bus in topology.buses:
        name = full_name(prefix, bus.name)
        p.buses[bus.name] = events.EventBus(name=name, arn=estimated_arn("events", f"event-bus/{name}"))
    for rule in topology.rules:
        name = full_name(prefix, rule.name)
        bus = p.buses[rule.bus].name if rule.bus in p.buses else "default"
        resource = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
        p.rules[rule.name] = events.Rule(name=name, arn=estimated_arn("events", resource), bus_name=bus)
    for stream in topology.streams:
        name = full_name(prefix, stream.name)
        p.streams[stream.name] = kinesis.Stream(name=name, arn=estimated_arn("kinesis", f"stream/{name}"))
    for bucket in topology.buckets:
        name = full_name(prefix, bucket.name.lower().replace("_", "-"))
        p.buckets[bucket.name] = s3.Bucket(name=name, arn=estimated_arn("s3", name))
    for delivery in topology.delivery_streams:
        name = full_name(prefix, delivery.name)
        bucket = p.buckets[Ref.parse(delivery.bucket, default_kind="bucket").name]
        p.delivery_streams[delivery.name] = firehose.DeliveryStream(
            name=name, arn=estimated_arn("firehose", f"deliverystream/{name}"), bucket=bucket,
            prefix=delivery.prefix or firehose.default_prefix(name),
        )
    for function in topology.functions:
        name = full_name(prefix, function.name)
        role = full_name(prefix, lambda_.role_base(function.name))
        p.functions[function.name] = lambda_.Function(
            name=name, arn=estimated_arn("lambda", f"function:{name}"),
            role=iam.Role(role, f"arn:aws:iam::{ACCOUNT}:role{iam.ROLE_PATH}{role}"),
            log_group=lambda_.log_group_name(name), runtime=function.runtime, timeout=function.timeout,
        )
    return p


def resource_grants(
    topology: Topology, topic_arn: Callable[[str], str], rule_arn: Callable[[str], str]
) -> tuple[dict[str, dict[str, set[str]]], dict[str, dict[str, set[str]]]]:
    """Who sends to which queue and topic: ``{queue or topic name: {service: source ARNs}}``.
    A queue fed by a topic and two rules gets an SNS grant for that topic and an EventBridge
    grant for those rules (:func:`eventlab.policies.merge` turns them into statements)."""
    queue_grants: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    topic_grants: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for topic in topology.topics:
        for sub in topic.subscriptions:
            if sub.protocol == "sqs":
                queue_grants[Ref.parse(sub.endpoint, default_kind="queue").name][sns.PRINCIPAL].add(topic_arn(topic.name))
            if sub.dead_letter:
                queue_grants[Ref.parse(sub.dead_letter, default_kind="queue").name][sns.PRINCIPAL].add(topic_arn(topic.name))
    for rule in topology.rules:
        for target in rule.targets:
            ref = Ref.parse(target.arn)
            if ref.kind == "queue":
                queue_grants[ref.name][events.PRINCIPAL].add(rule_arn(rule.name))
            elif ref.kind == "topic":
                topic_grants[ref.name][events.PRINCIPAL].add(rule_arn(rule.name))
            if target.dead_letter:
                queue_grants[Ref.parse(target.dead_letter, default_kind="queue").name][events.PRINCIPAL].add(rule_arn(rule.name))
    return queue_grants, topic_grants


def function_role_policies(p: Handles, spec: FunctionSpec) -> tuple[list[policies.Policy], dict[str, str]]:
    """A function's inline role policies (its own, then one per event source) and environment."""
    statements, environment = functions.grants_and_environment(p, spec)
    group = p.functions[spec.name].log_group
    documents = [policies.document(*lambda_.execution_statements(logs.log_group_arn(p.place, group), statements))]
    for source in spec.event_sources:
        documents.append(policies.document(*policies.may_read_from(functions.source_arn(p, source.source))))
    return documents, environment


def rule_role_policy(p: Handles, rule: RuleSpec) -> policies.Policy | None:
    statements = [s for t in rule.targets if _kind(t.arn) in ROLE_TARGET_KINDS for s in policies.may_send_to(p.arn(Ref.parse(t.arn)))]
    return policies.document(*statements) if statements else None


def size_problems(topology: Topology, prefix: str = EXAMPLE_PREFIX) -> list[str]:
    """Policies and environments that would be over AWS's size limits (estimated, upper bounds)."""
    p = plan(topology, prefix)
    problems = []
    queue_grants, topic_grants = resource_grants(topology, lambda t: p.topics[t].arn, lambda r: p.rules[r].arn)
    for name, grants in queue_grants.items():
        if problem := sqs.POLICY_QUOTA.problem(policies.merge(None, sqs.SEND_ACTION, p.queues[name].arn, grants)):
            problems.append(f"queue {name!r}: {problem} (about: one grant per topic and rule that sends to it). Send through fewer topics or rules")
    for name, grants in topic_grants.items():
        if problem := sns.POLICY_QUOTA.problem(policies.merge(None, sns.PUBLISH_ACTION, p.topics[name].arn, grants)):
            problems.append(f"topic {name!r}: {problem} (about: one grant per rule that publishes to it). Publish through fewer rules")
    for spec in topology.functions:
        documents, environment = function_role_policies(p, spec)
        size = sum(policies.iam_size(d) for d in documents)
        if size > iam.ROLE_INLINE_POLICIES_MAX_CHARS:
            problems.append(f"function {spec.name!r}: its role's policies would be about {size} characters; IAM allows {iam.ROLE_INLINE_POLICIES_MAX_CHARS} per role. Allow it fewer resources, or split the function")
        size = lambda_.environment_size(environment)
        if size > lambda_.ENVIRONMENT_MAX_BYTES:
            problems.append(f"function {spec.name!r}: its environment (with a variable per allowed resource) would be about {size} bytes; Lambda allows {lambda_.ENVIRONMENT_MAX_BYTES}. Shorten or drop variables, or allow fewer resources")
    for rule in topology.rules:
        policy = rule_role_policy(p, rule)
        if policy is not None and policies.iam_size(policy) > iam.ROLE_INLINE_POLICIES_MAX_CHARS:
            problems.append(f"rule {rule.name!r}: its role's policy would be over IAM's {iam.ROLE_INLINE_POLICIES_MAX_CHARS} characters")
    return problems
