"""SNS cases: filter policies (notebook 02), which AWS accepts and what they deliver.

One table of policies with AWS's verdict gives two cases each: ``sns.offline-policy.*`` asks
eventlab's validator (:func:`eventlab.topology.filters.validate_filter_policy`, which must
agree) and ``sns.policy-syntax.*`` asks the backend's ``Subscribe``. ``sns.filter.*`` publish
a few messages through a filtered subscription and say which arrived. ``sns.redrive.*`` and
``sns.http.*`` publish to failing subscribers (a deleted queue, an HTTP endpoint answering 500).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from eventlab.experiments.sns import DELIVERY_RETRIES, SUBSCRIPTION_DLQ, failing_subscribers
from eventlab.fidelity.model import Case, Unsupported, doc
from eventlab.run import Run
from eventlab.services import sns, sqs
from eventlab.topology import PatternError
from eventlab.topology.filters import FILTER_POLICY_CONSTRAINTS, validate_filter_policy

STRINGS = "https://docs.aws.amazon.com/sns/latest/dg/string-value-matching.html"
NUMBERS = "https://docs.aws.amazon.com/sns/latest/dg/numeric-value-matching.html"
KEYS = "https://docs.aws.amazon.com/sns/latest/dg/attribute-key-matching.html"
AND_OR = "https://docs.aws.amazon.com/sns/latest/dg/and-or-logic.html"
ACCEPTED = "accepted"
REJECTED = "rejected with InvalidParameterException"
ATTRIBUTES, BODY = "MessageAttributes", "MessageBody"


@dataclass(frozen=True)
class Policy:
    """A filter policy, its scope, and AWS's verdict on it."""

    name: str
    behaviour: str
    policy: Mapping[str, Any]
    valid: bool
    says: str
    url: str = STRINGS
    scope: str = ATTRIBUTES


def _values(count: int) -> list[str]:
    return [f"v{i}" for i in range(count)]


POLICIES = [
    Policy("exact", "exact string and number values", {"store": ["example_corp"], "price_usd": [210.75]}, True,
           "Exact matching: a policy value matches the same attribute value; numbers match numbers.", NUMBERS),
    Policy("prefix", "prefix", {"customer_interests": [{"prefix": "bas"}]}, True,
           "Prefix matching: \"customer_interests\": [{\"prefix\": \"bas\"}]."),
    Policy("suffix", "suffix", {"customer_interests": [{"suffix": "ball"}]}, True,
           "Suffix matching: \"customer_interests\": [{\"suffix\": \"ball\"}]."),
    Policy("equals-ignore-case", "equals-ignore-case", {"customer_interests": [{"equals-ignore-case": "BASEBALL"}]}, True,
           "Equals-ignore-case matching: [{\"equals-ignore-case\": \"BASEBALL\"}] ignores case."),
    Policy("prefix-ignore-case", "prefix takes no equals-ignore-case on SNS", {"customer_interests": [{"prefix": {"equals-ignore-case": "bas"}}]},
           False, "Prefix matching takes a string value; SNS has no case-insensitive prefix."),
    Policy("anything-but-list", "anything-but a list of strings", {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}, True,
           "Anything-but matching: [{\"anything-but\": [\"rugby\", \"tennis\"]}]."),
    Policy("anything-but-numbers", "anything-but a list of numbers", {"price_usd": [{"anything-but": [100, 500]}]}, True,
           "Anything-but matching also takes numeric values: [{\"anything-but\": [100, 500]}].", NUMBERS),
    Policy("anything-but-prefix", "anything-but prefix", {"event": [{"anything-but": {"prefix": "order-"}}]}, True,
           "Anything-but matching with a prefix: [{\"anything-but\": {\"prefix\": \"order-\"}}]."),
    Policy("anything-but-suffix", "anything-but takes no suffix on SNS", {"event": [{"anything-but": {"suffix": "-x"}}]}, False,
           "Anything-but matching on SNS takes values or a prefix; there is no anything-but suffix."),
    Policy("wildcard", "SNS has no wildcard operator", {"event": [{"wildcard": "order-*"}]}, False,
           "SNS string matching offers exact, anything-but, prefix, suffix, equals-ignore-case and IP address matching; no wildcard."),
    Policy("exists", "exists", {"store": [{"exists": True}]}, True,
           "Key matching: \"store\": [{\"exists\": true}].", KEYS),
    Policy("exists-string", "exists takes only true or false", {"store": [{"exists": "yes"}]}, False,
           "Key matching uses \"exists\": true or \"exists\": false.", KEYS),
    Policy("cidr", "IP address matching", {"source_ip": [{"cidr": "10.0.0.0/24"}]}, True,
           "IP address matching: \"source_ip\": [{\"cidr\": \"10.0.0.0/24\"}]."),
    Policy("numeric-range", "numeric range", {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, True,
           "Numeric range matching: [{\"numeric\": [\">\", 0, \"<=\", 150]}].", NUMBERS),
    Policy("numeric-string-operand", "a numeric bound given as a string is refused", {"price_usd": [{"numeric": [">", "0"]}]}, False,
           "Numeric matching compares with numbers: its bounds are numbers.", NUMBERS),
    Policy("numeric-at-limit", "numeric bounds of plus or minus one billion", {"price_usd": [{"numeric": [">=", -1_000_000_000, "<=", 1_000_000_000]}]}, True,
           "Numeric matching works for values from -1,000,000,000 to 1,000,000,000.", FILTER_POLICY_CONSTRAINTS),
    Policy("numeric-over-limit", "a numeric bound over one billion is refused", {"price_usd": [{"numeric": ["<", 2_000_000_000]}]}, False,
           "For numeric matching, values from -1,000,000,000 to 1,000,000,000 are accepted.", FILTER_POLICY_CONSTRAINTS),
    Policy("or", "$or", {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}, True,
           "OR logic with $or: \"$or\": [{\"metricName\": [...]}, {\"namespace\": [...]}].", AND_OR),
    Policy("five-keys", "five keys", {k: ["x"] for k in "abcde"}, True,
           "A filter policy can have a maximum of five attribute names (keys).", FILTER_POLICY_CONSTRAINTS),
    Policy("six-keys", "six keys are refused", {k: ["x"] for k in "abcdef"}, False,
           "A filter policy can have a maximum of five attribute names (keys).", FILTER_POLICY_CONSTRAINTS),
    Policy("150-combinations", "150 value combinations", {"a": _values(10), "b": _values(15)}, True,
           "The total combination of values must not exceed 150: 10 values times 15 values is 150.", FILTER_POLICY_CONSTRAINTS),
    Policy("151-combinations", "more than 150 value combinations are refused", {"a": _values(10), "b": _values(16)}, False,
           "The total combination of values must not exceed 150: 10 values times 16 values is 160.", FILTER_POLICY_CONSTRAINTS),
    Policy("nested-body", "nested keys with the body scope", {"order": {"total": [{"numeric": [">", 100]}]}}, True,
           "Payload-based policies support property nesting; each nesting level counts in the combinations.", FILTER_POLICY_CONSTRAINTS, BODY),
    Policy("nested-combinations", "nesting depth multiplies the combinations", {"a": {"b": {"c": _values(26)}}, "d": _values(2)}, False,
           "For nested policies each array's values are multiplied by the depth of its key: 26 x 3 x 2 x 1 = 156, over 150.",
           FILTER_POLICY_CONSTRAINTS, BODY),
    Policy("nested-attributes", "nested keys with the attribute scope are refused", {"order": {"total": [1]}}, False,
           "Attribute-based policies are flat: nesting is for payload-based (MessageBody) policies.", FILTER_POLICY_CONSTRAINTS),
    Policy("value-not-in-array", "a value outside an array is refused", {"store": "example_corp"}, False,
           "Policy values are given in arrays: \"store\": [\"example_corp\"]."),
    Policy("empty-array", "an empty array is refused", {"store": []}, False,
           "Each key of a policy lists one or more values; an empty array matches nothing and is refused."),
]


def offline_verdict(policy: Mapping[str, Any], scope: str) -> str:
    """What eventlab's validator says of a policy, in AWS's words for Subscribe."""
    try:
        validate_filter_policy(policy, scope)
    except PatternError:
        return REJECTED
    return ACCEPTED


def _topic_and_queue(run: Run) -> tuple[sns.Topic, sqs.Queue]:
    topic = sns.create_topic(run, "fp", encrypted=False)
    queue = sqs.create_queue(run, "fp", encrypted=False)
    return topic, queue


def backend_verdict(run: Run, policy: Mapping[str, Any], scope: str) -> str:
    """Whether the backend's Subscribe takes the policy."""
    topic, queue = _topic_and_queue(run)
    client = run.target.client("sns")
    try:
        arn = client.subscribe(
            TopicArn=topic.arn, Protocol="sqs", Endpoint=queue.arn, ReturnSubscriptionArn=True,
            Attributes={"FilterPolicy": json.dumps(policy), "FilterPolicyScope": scope},
        )["SubscriptionArn"]
    except ClientError as error:
        return f"rejected with {error.response.get('Error', {}).get('Code', '')}Exception".replace("ExceptionException", "Exception")
    run.track(sns.SUBSCRIPTION, f"{topic.name}->sqs", arn, lambda: client.unsubscribe(SubscriptionArn=arn))
    return ACCEPTED


def _syntax_cases() -> list[Case]:
    out = []
    for p in POLICIES:
        verdict = ACCEPTED if p.valid else REJECTED
        source = doc(p.url, p.says)
        out.append(Case(f"sns.offline-policy.{p.name}", "sns", f"eventlab's validator: {p.behaviour}", verdict, source,
                        lambda _run, q=p.policy, s=p.scope: offline_verdict(q, s), subject="eventlab", creates=False))
        out.append(Case(f"sns.policy-syntax.{p.name}", "sns", p.behaviour, verdict, source,
                        lambda run, q=p.policy, s=p.scope: backend_verdict(run, q, s)))
    return out


Message = tuple[str, Mapping[str, Any]]  # (body, message attributes as SNS takes them)


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def _number(value: float) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": str(value)}


def delivered(run: Run, policy: Mapping[str, Any], scope: str, messages: Sequence[Message]) -> str:
    """Publish ``messages`` (named m0, m1, ... in their bodies) through a subscription with the
    policy; which of them the queue got."""
    topic, queue = _topic_and_queue(run)
    sns.subscribe_queue(run, topic, queue, raw_message_delivery=True, filter_policy=policy, filter_policy_scope=scope)
    for body, attributes in messages:
        sns.publish(run, topic, body, **({"MessageAttributes": dict(attributes)} if attributes else {}))
    got = sqs.receive_all(run, queue, expected=len(messages), timeout=2.0)
    names = sorted({json.loads(m["Body"]).get("m", "?") if m["Body"].startswith("{") else m["Body"] for m in got})
    return "delivered: " + (", ".join(names) if names else "none")


def _body(name: str, **fields: Any) -> str:
    return json.dumps({"m": name, **fields})


@dataclass(frozen=True)
class Filtering:
    name: str
    behaviour: str
    policy: Mapping[str, Any]
    messages: Sequence[Message]
    verdict: str
    says: str
    url: str = STRINGS
    scope: str = ATTRIBUTES


FILTERING = [
    Filtering("attribute-numeric-range", "a numeric range on a Number attribute", {"price": [{"numeric": [">", 10, "<=", 20]}]},
              [(_body("m0"), {"price": _number(20)}), (_body("m1"), {"price": _number(10)}), (_body("m2"), {"price": _number(25)})],
              "delivered: m0", "Numeric range matching: [\">\", 10, \"<=\", 20] matches 20, not 10 (open bound) and not 25.", NUMBERS),
    Filtering("anything-but-needs-attribute", "anything-but needs the attribute to be present", {"priority": [{"anything-but": "low"}]},
              [(_body("m0"), {"priority": _string("high")}), (_body("m1"), {"other": _string("x")})],
              "delivered: m0", "Anything-but matching matches messages whose attribute has another value; a message without the attribute does not match."),
    Filtering("exists-false", "exists false matches messages without the attribute", {"coupon": [{"exists": False}]},
              [(_body("m0"), {"other": _string("x")}), (_body("m1"), {"coupon": _string("c")})],
              "delivered: m0", "\"exists\": false matches messages that lack the key, if at least one attribute is present.", KEYS),
    Filtering("string-array", "a String.Array attribute matches if any element does", {"interests": ["rugby"]},
              [(_body("m0"), {"interests": {"DataType": "String.Array", "StringValue": '["soccer", "rugby"]'}}),
               (_body("m1"), {"interests": {"DataType": "String.Array", "StringValue": '["golf"]'}})],
              "delivered: m0", "A String.Array attribute matches if any of its values matches the policy."),
    Filtering("body-nested", "a body policy on a nested key", {"order": {"total": [{"numeric": [">=", 100]}]}},
              [(_body("m0", order={"total": 150}), {}), (_body("m1", order={"total": 50}), {})],
              "delivered: m0", "Payload-based filtering matches nested properties of the JSON message body.", FILTER_POLICY_CONSTRAINTS, BODY),
    Filtering("or", "$or delivers a message matching either branch", {"$or": [{"a": ["1"]}, {"b": ["2"]}]},
              [(_body("m0"), {"b": _string("2")}), (_body("m1"), {"a": _string("3")})],
              "delivered: m0", "OR logic: a message that matches any branch of $or is delivered.", AND_OR),
    Filtering("prefix", "prefix on a String attribute", {"region": [{"prefix": "eu-"}]},
              [(_body("m0"), {"region": _string("eu-west-1")}), (_body("m1"), {"region": _string("us-east-1")})],
              "delivered: m0", "Prefix matching: a value starting with the prefix matches."),
]


def _filtering_cases() -> list[Case]:
    return [
        Case(f"sns.filter.{f.name}", "sns", f.behaviour, f.verdict, doc(f.url, f.says),
             lambda run, x=f: delivered(run, x.policy, x.scope, x.messages))
        for f in FILTERING
    ]


# -- failing subscribers: delivery retries and the subscription's dead-letter queue --------------
HTTP_RETRIES = 2  # the DeliveryPolicy's immediate retries: AWS makes HTTP_RETRIES + 1 attempts


def deleted_queue(run: Run) -> str:
    report = failing_subscribers(run, http_retries=HTTP_RETRIES)
    return f"{report.deleted_queue_dlq} in the subscription's DLQ"


def http_retries(run: Run) -> str:
    report = failing_subscribers(run, http_retries=HTTP_RETRIES)
    if not report.http_confirmed:
        raise Unsupported("the HTTP endpoint's subscription was never confirmed")
    return f"{report.http_attempts} attempts, then {report.http_dlq} in the subscription's DLQ"


DELIVERY_CASES = [
    Case("sns.redrive.deleted-queue", "sns", "a message SNS cannot deliver to a deleted queue goes to the subscription's dead-letter queue",
         "1 in the subscription's DLQ",
         doc(SUBSCRIPTION_DLQ, "Messages that can't be delivered because of client-side errors (for example, the subscribed endpoint was deleted) are moved to the subscription's dead-letter queue, without retries."),
         deleted_queue),
    Case("sns.http.retries", "sns", "an HTTP endpoint that answers 500 is retried as its delivery policy says, then the message goes to the subscription's DLQ",
         f"{HTTP_RETRIES + 1} attempts, then 1 in the subscription's DLQ",
         doc(DELIVERY_RETRIES, "The delivery policy defines how Amazon SNS retries the delivery of messages when server-side errors occur; when it is exhausted, SNS discards the message unless a dead-letter queue is attached to the subscription."),
         http_retries),
]

CASES = [*_syntax_cases(), *_filtering_cases(), *DELIVERY_CASES]
