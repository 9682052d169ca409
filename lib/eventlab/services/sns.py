"""SNS topics (standard and FIFO) and subscriptions, with filter policies and raw delivery."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.services import sqs
from eventlab.target import Target

FIFO_SUFFIX = ".fifo"
# Limits from the SNS API reference and developer guide; the topology validator reads them here.
MAX_NAME = 256  # the whole name, ".fifo" included
NAME_PATTERN = r"[A-Za-z0-9_-]+(\.fifo)?"
MAX_TAGS = 50
# Topic policy quotas ("Amazon SNS API permissions: Actions and resources reference").
POLICY_MAX_BYTES = 30 * 1024
POLICY_MAX_STATEMENTS = 100
POLICY_QUOTA = policies.Quota("SNS", POLICY_MAX_BYTES, POLICY_MAX_STATEMENTS)
(PUBLISH_ACTION,) = policies.SENDS_TO["sns"][0].actions  # what a topic policy lets a service do
PRINCIPAL = "sns.amazonaws.com"  # the service, in resource policies that let it deliver
# Filter policy constraints ("Filter policy constraints in Amazon SNS"): at most five keys (for
# payload-based policies, the top-level keys), at most 150 value combinations (each array's
# values times its nesting depth, multiplied together), numeric bounds within +-1e9, 256 KB.
FILTER_POLICY_MAX_KEYS = 5
FILTER_POLICY_MAX_COMBINATIONS = 150
FILTER_POLICY_NUMERIC_RANGE = (-1e9, 1e9)
FILTER_POLICY_MAX_BYTES = 256 * 1024
FILTER_POLICIES_PER_TOPIC = 200  # default quota, adjustable
# What a subscription to a FIFO topic can be, and which protocols take raw delivery.
FIFO_PROTOCOLS = frozenset({"sqs"})
# "Amazon SNS message delivery for FIFO topics": FIFO topics deliver to FIFO *and* standard
# queues; a standard queue then sees best-effort ordering and at-least-once delivery.
FIFO_MESSAGE_DELIVERY = "https://docs.aws.amazon.com/sns/latest/dg/fifo-message-delivery.html"
FIFO_MESSAGE_ORDERING = "https://docs.aws.amazon.com/sns/latest/dg/fifo-topic-message-ordering.html"
RAW_DELIVERY_PROTOCOLS = frozenset({"sqs", "http", "https", "firehose"})


@dataclass(frozen=True)
class Topic:
    name: str
    arn: str

    @property
    def fifo(self) -> bool:
        return self.name.endswith(FIFO_SUFFIX)


@dataclass(frozen=True)
class Subscription:
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str


def create_topic(
    run: Run,
    base: str,
    *,
    fifo: bool = False,
    content_based_deduplication: bool = False,
    attributes: Mapping[str, str] | None = None,
    encrypted: bool = True,
    tags: Mapping[str, str] | None = None,
) -> Topic:
    """Create a topic named for the run, encrypted with the AWS-managed SNS key by default."""
    if base.endswith(FIFO_SUFFIX):
        raise ValueError(f"topic {base!r}: pass fifo=True instead of a '.fifo' base name.")
    if content_based_deduplication and not fifo:
        raise ValueError(f"topic {base!r}: content-based deduplication needs fifo=True.")
    name = run.name(base, suffix=FIFO_SUFFIX if fifo else "", max_length=MAX_NAME)
    attrs = dict(attributes or {})
    if fifo:
        attrs["FifoTopic"] = "true"
        if content_based_deduplication:
            attrs["ContentBasedDeduplication"] = "true"
    if encrypted:
        attrs.setdefault("KmsMasterKeyId", "alias/aws/sns")
    client = run.target.client("sns")
    all_tags = {**(tags or {}), **run.tags}
    arn = client.create_topic(
        Name=name, Attributes=attrs, Tags=[{"Key": k, "Value": v} for k, v in all_tags.items()]
    )["TopicArn"]
    run.track(TOPIC, name, arn, lambda: client.delete_topic(TopicArn=arn))
    return Topic(name=name, arn=arn)


def subscribe(
    run: Run,
    topic: Topic,
    protocol: Literal["sqs", "lambda", "http", "https", "email-json", "firehose"],
    endpoint: str,
    *,
    raw_message_delivery: bool = False,
    filter_policy: Mapping[str, Any] | None = None,
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] = "MessageAttributes",
    dead_letter_queue: sqs.Queue | None = None,
    delivery_policy: Mapping[str, Any] | None = None,
) -> Subscription:
    """Subscribe an endpoint to a topic and record the unsubscribe.

    ``dead_letter_queue`` becomes the subscription's RedrivePolicy (the queue's policy must let
    the topic send to it: :func:`subscribe_queue` or :func:`eventlab.services.sqs.allow_senders`);
    ``delivery_policy`` its DeliveryPolicy (retries of an HTTP/S endpoint)."""
    attrs: dict[str, str] = {}
    if raw_message_delivery:
        attrs["RawMessageDelivery"] = "true"
    if filter_policy is not None:
        attrs["FilterPolicy"] = json.dumps(filter_policy)
        attrs["FilterPolicyScope"] = filter_policy_scope
    if dead_letter_queue is not None:
        attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dead_letter_queue.arn})
    if delivery_policy is not None:
        attrs["DeliveryPolicy"] = json.dumps(delivery_policy)
    client = run.target.client("sns")
    arn = client.subscribe(
        TopicArn=topic.arn,
        Protocol=protocol,
        Endpoint=endpoint,
        Attributes=attrs,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    run.track(SUBSCRIPTION, f"{topic.name}->{protocol}", arn, lambda: client.unsubscribe(SubscriptionArn=arn))
    return Subscription(arn=arn, topic_arn=topic.arn, protocol=protocol, endpoint=endpoint)


def subscribe_queue(run: Run, topic: Topic, queue: sqs.Queue, **options: Any) -> Subscription:
    """Subscribe a queue, and let only this topic send to it (queue policy on aws:SourceArn).

    A FIFO topic delivers to FIFO and to standard queues (:data:`FIFO_MESSAGE_DELIVERY`); a standard
    queue then gets best-effort order and at-least-once delivery. A standard topic cannot
    deliver to a FIFO queue (SQS refuses messages without a group id)."""
    if queue.fifo and not topic.fifo:
        raise ValueError(f"queue {queue.name} is FIFO: only a FIFO topic can deliver to it, not the standard topic {topic.name}.")
    sqs.allow_senders(run, queue, service=PRINCIPAL, source_arns=[topic.arn])
    return subscribe(run, topic, "sqs", queue.arn, **options)


def merge_topic_policy(run: Run, topic: Topic, grants: Mapping[str, Iterable[str]]) -> policies.Policy:
    """Add grants to the topic policy: each service principal (e.g. EventBridge) may publish for
    its source ARNs (e.g. the rules that target the topic) and for those it was granted before;
    other statements, such as the topic owner's default one, are kept (:func:`policies.merge`)."""
    client = run.target.client("sns")
    current = client.get_topic_attributes(TopicArn=topic.arn).get("Attributes", {})
    policy = policies.merge(current.get("Policy"), PUBLISH_ACTION, topic.arn, grants)
    if problem := POLICY_QUOTA.problem(policy):
        raise ValueError(f"topic {topic.name}: {problem}. Publish through fewer rules.")
    client.set_topic_attributes(TopicArn=topic.arn, AttributeName="Policy", AttributeValue=policies.to_json(policy))
    return policy


def publish(run: Run, topic: Topic, message: str, **kwargs: Any) -> str:
    """Publish one message; returns its message id."""
    reply = run.target.client("sns").publish(TopicArn=topic.arn, Message=message, **kwargs)
    return str(reply["MessageId"])


# -- what a run leaves behind ------------------------------------------------------------------
def _find_topics(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("sns").get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            name = topic["TopicArn"].rsplit(":", 1)[-1]
            if name.startswith(prefix):
                yield name


def _delete_topic(target: Target, name: str) -> None:
    target.client("sns").delete_topic(TopicArn=f"arn:aws:sns:{target.region}:{target.account_id}:{name}")


def _find_subscriptions(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("sns").get_paginator("list_subscriptions").paginate():
        for sub in page.get("Subscriptions", []):
            if sub["TopicArn"].rsplit(":", 1)[-1].startswith(prefix):
                yield sub["SubscriptionArn"]


def _unsubscribe(target: Target, arn: str) -> None:
    target.client("sns").unsubscribe(SubscriptionArn=arn)


TOPIC = resource_kind("sns:topic", _find_topics, _delete_topic)
SUBSCRIPTION = resource_kind("sns:subscription", _find_subscriptions, _unsubscribe)
