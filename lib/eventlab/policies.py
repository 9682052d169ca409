"""IAM and resource policies, least privilege by construction.

Identity policies (a role's) name exact actions on exact resources. What it takes to send to a
resource, or to read from one, is written down once, per kind of resource (:data:`SENDS_TO`,
:data:`READS_FROM`): rule targets, function roles, Firehose roles and event source mappings all
get their statements from :func:`may_send_to` and :func:`may_read_from`.

Resource policies grant one service principal, only for the named source ARNs
(``aws:SourceArn``): never a wildcard principal, never an unconditioned grant. A resource
policy is merged, never replaced (:func:`merge`): a second topic subscribed to a queue adds
its ARN to the queue's grant instead of revoking the first topic's.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Policy = dict[str, Any]
VERSION = "2012-10-17"


def document(*statements: dict[str, Any]) -> Policy:
    """A policy document from statements."""
    return {"Version": VERSION, "Statement": list(statements)}


def to_json(policy: Policy) -> str:
    return json.dumps(policy, separators=(",", ":"), sort_keys=True)


def assume_role(service: str) -> Policy:
    """The trust policy that lets one AWS service (e.g. ``lambda.amazonaws.com``) assume a role."""
    return document(
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    )


def allow(actions: Sequence[str], resources: Sequence[str]) -> dict[str, Any]:
    """One Allow statement for exact actions on exact resources (no wildcards are added)."""
    if not resources:
        raise ValueError("a statement needs at least one resource ARN")
    return {"Effect": "Allow", "Action": sorted(set(actions)), "Resource": sorted(set(resources))}


@dataclass(frozen=True)
class Access:
    """Actions on one resource, or on what it holds (``on`` maps its ARN to the ARN the actions
    name: a bucket's objects are ``<bucket ARN>/*``, a log group's streams ``<group ARN>:*``)."""

    actions: tuple[str, ...]
    on: Callable[[str], str] = lambda arn: arn


def _objects(arn: str) -> str:
    return f"{arn}/*"


def _streams(arn: str) -> str:
    return f"{arn}:*"


# What a principal needs to send to (write into) a resource, by the service in its ARN.
SENDS_TO: dict[str, tuple[Access, ...]] = {
    "sqs": (Access(("sqs:SendMessage",)),),
    "sns": (Access(("sns:Publish",)),),
    "events": (Access(("events:PutEvents",)),),
    "kinesis": (Access(("kinesis:PutRecord", "kinesis:PutRecords")),),
    "firehose": (Access(("firehose:PutRecord", "firehose:PutRecordBatch")),),
    "lambda": (Access(("lambda:InvokeFunction",)),),
    "ses": (Access(("ses:SendEmail", "ses:SendRawEmail")),),  # on a sender (or recipient) identity
    "logs": (Access(("logs:CreateLogStream", "logs:PutLogEvents"), _streams),),
    "s3": (
        Access(("s3:PutObject", "s3:AbortMultipartUpload"), _objects),
        Access(("s3:GetBucketLocation", "s3:ListBucketMultipartUploads")),
    ),
}
# What a principal needs to read from a resource (an event source mapping, a Firehose source).
READS_FROM: dict[str, tuple[Access, ...]] = {
    "sqs": (Access(("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility")),),
    "kinesis": (
        Access(("kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:ListStreams")),
    ),
    "s3": (Access(("s3:GetObject",), _objects), Access(("s3:ListBucket",))),
}


def service_of(arn: str) -> str:
    """The service an ARN belongs to (``arn:aws:sqs:...`` -> ``sqs``)."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"{arn!r} is not an ARN")
    return parts[2]


def _statements(table: Mapping[str, tuple[Access, ...]], arn: str, verb: str) -> list[dict[str, Any]]:
    service = service_of(arn)
    if service not in table:
        raise ValueError(f"eventlab knows no way to {verb} {arn}: only {', '.join(sorted(table))} resources")
    return [allow(access.actions, [access.on(arn)]) for access in table[service]]


def may_send_to(arn: str) -> list[dict[str, Any]]:
    """The statements that let a role send to (or write into) the resource ``arn``."""
    return _statements(SENDS_TO, arn, "send to")


def may_read_from(arn: str) -> list[dict[str, Any]]:
    """The statements that let a role read from the resource ``arn``."""
    return _statements(READS_FROM, arn, "read from")


def allow_sms_publish() -> dict[str, Any]:
    """``sns:Publish`` to phone numbers (SMS) only. A phone number has no ARN, so the grant
    cannot name its resource; ``NotResource`` on every SNS ARN keeps topics and platform
    endpoints out of it, where ``Resource: "*"`` would let the role publish to any topic."""
    return {"Effect": "Allow", "Action": ["sns:Publish"], "NotResource": ["arn:aws:sns:*:*:*"]}


def iam_size(policy: Policy) -> int:
    """A policy's size as IAM counts it against its quotas: characters, whitespace not counted."""
    return len(re.sub(r"\s", "", to_json(policy)))


def _condition(sources: list[str]) -> dict[str, Any]:
    return {"ArnEquals": {"aws:SourceArn": sources if len(sources) > 1 else sources[0]}}


def _grant(sid: str, service: str, action: str, resource_arn: str, source_arns: Iterable[str]) -> dict[str, Any]:
    sources = sorted(set(source_arns))
    if not sources:
        raise ValueError(f"{sid}: a resource policy needs the source ARNs it grants")
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": action,
        "Resource": resource_arn,
        "Condition": _condition(sources),
    }


def _one(value: Any) -> Any:
    """A policy element that may be written as a value or a one-element list, as the value."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _granted_sources(statement: Mapping[str, Any], service: str, action: str, resource_arn: str) -> list[str] | None:
    """The source ARNs of a statement shaped as :func:`_grant` writes it for this service, action
    and resource (whatever its Sid); None for any other statement."""
    principal = statement.get("Principal")
    if not (
        statement.get("Effect") == "Allow"
        and isinstance(principal, Mapping)
        and set(principal) == {"Service"}
        and _one(principal["Service"]) == service
        and _one(statement.get("Action")) == action
        and _one(statement.get("Resource")) == resource_arn
    ):
        return None
    condition = statement.get("Condition")
    if not (isinstance(condition, Mapping) and set(condition) == {"ArnEquals"}):
        return None
    equals = condition["ArnEquals"]
    if not (isinstance(equals, Mapping) and set(equals) == {"aws:SourceArn"}):
        return None
    sources = equals["aws:SourceArn"]
    return [sources] if isinstance(sources, str) else list(sources)


@dataclass(frozen=True)
class Quota:
    """A service's limits on one resource policy (a queue's, a topic's)."""

    service: str
    max_bytes: int
    max_statements: int

    def problem(self, policy: Policy) -> str | None:
        """Why the service would refuse ``policy`` (None: it would not)."""
        size, count = len(to_json(policy).encode()), len(policy.get("Statement", []))
        if size <= self.max_bytes and count <= self.max_statements:
            return None
        return (
            f"its policy would be {size} bytes in {count} statements; {self.service} allows "
            f"{self.max_bytes} bytes and {self.max_statements} statements"
        )


def parse(policy: Policy | str | None) -> Policy:
    """A policy document from what an API returns (JSON text, or nothing when there is none)."""
    if not policy:
        return {}
    document_ = json.loads(policy) if isinstance(policy, str) else dict(policy)
    if not isinstance(document_, dict):
        raise ValueError(f"not a policy document: {policy!r}")
    return document_


def merge(
    policy: Policy | str | None, action: str, resource_arn: str, grants: Mapping[str, Iterable[str]]
) -> Policy:
    """``policy`` (a queue's or topic's current policy, or None) with ``grants`` added.

    Per service principal there is one statement for ``action`` on ``resource_arn``, and its
    ``aws:SourceArn`` list is the union of the sources it had and the new ones. Every other
    statement (another service's, a hand-written one, AWS's default topic statement) is kept
    as it is. Merging the same grants again returns an equal policy.
    """
    merged = parse(policy)
    statements = merged.get("Statement", [])
    statements = [dict(s) for s in ([statements] if isinstance(statements, Mapping) else statements)]
    sids = {s.get("Sid") for s in statements}
    for service, source_arns in sorted(grants.items()):
        new = set(source_arns)
        if not new:
            raise ValueError(f"{service}: a resource policy needs the source ARNs it grants")
        for statement in statements:
            old = _granted_sources(statement, service, action, resource_arn)
            if old is not None:
                statement["Condition"] = _condition(sorted(set(old) | new))
                break
        else:
            sid = base = f"Allow{service.split('.')[0].title()}"
            number = 1
            while sid in sids:
                number += 1
                sid = f"{base}{number}"
            sids.add(sid)
            statements.append(_grant(sid, service, action, resource_arn, new))
    return {**merged, "Version": merged.get("Version", VERSION), "Statement": statements}


def service_may_call(
    *,
    sid: str,
    service: str,
    action: str,
    resource_arn: str,
    source_arns: Iterable[str],
) -> Policy:
    """A resource policy: ``service`` may call ``action`` on ``resource_arn``, only on behalf of
    ``source_arns`` (the topic, rule or bucket that sends), as AWS recommends against confused
    deputies."""
    return document(_grant(sid, service, action, resource_arn, source_arns))


def services_may_call(action: str, resource_arn: str, grants: Mapping[str, Iterable[str]]) -> Policy:
    """One statement per service principal (e.g. SNS and EventBridge both feeding a queue),
    each limited to its own source ARNs."""
    if not grants:
        raise ValueError("a resource policy needs at least one grant")
    return merge(None, action, resource_arn, grants)


# -- reading a policy: would it admit a request? ---------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return service in _as_list(principal.get("Service", [])) or "*" in _as_list(principal.get("AWS", []))
    return False


def _action_matches(actions: Any, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(actions))


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> tuple[bool, str]:
    for operator, checks in conditions.items():
        for key, wanted in checks.items():
            actual = context.get(key)
            if actual is None:
                return False, f"condition {operator} on {key}, which the request does not carry"
            values = [str(v) for v in _as_list(wanted)]
            if operator in {"ArnEquals", "StringEquals"}:
                ok = actual in values
            elif operator in {"ArnLike", "StringLike"}:
                ok = any(fnmatch.fnmatchcase(actual, v) for v in values)
            else:
                return False, f"condition operator {operator} is not evaluated here"
            if not ok:
                return False, f"{operator} {key} allows {values}, not {actual}"
    return True, "conditions hold"


def queue_policy_admits(
    policy: str | Mapping[str, Any] | None,
    *,
    queue_arn: str,
    source_arn: str,
    service: str = "sns.amazonaws.com",
    action: str = "sqs:SendMessage",
) -> tuple[bool, str]:
    """Would this queue policy let ``service`` send to the queue on behalf of ``source_arn``?

    A small evaluator for the statements eventlab and most tutorials write (service principal,
    action, resource, ``ArnEquals``/``ArnLike``/``StringEquals``/``StringLike`` on
    ``aws:SourceArn``): an explicit Deny wins, else one matching Allow admits. Returns the verdict
    and the reason, in words. Not a full IAM engine: an operator it does not know counts as not
    matching, and says so.
    """
    if not policy:
        return False, "the queue has no policy: no service may send to it"
    doc = parse(policy)
    context = {"aws:SourceArn": source_arn}
    reasons: list[str] = []
    allowed = False
    for i, statement in enumerate(_as_list(doc.get("Statement", []))):
        sid = statement.get("Sid", f"statement {i}")
        if not _principal_matches(statement.get("Principal"), service):
            reasons.append(f"{sid}: principal is not {service}")
            continue
        if not _action_matches(statement.get("Action", []), action):
            reasons.append(f"{sid}: does not grant {action}")
            continue
        if not any(fnmatch.fnmatchcase(queue_arn, r) for r in map(str, _as_list(statement.get("Resource", "*")))):
            reasons.append(f"{sid}: resource is another queue")
            continue
        ok, why = _conditions_hold(statement.get("Condition", {}), context)
        if not ok:
            reasons.append(f"{sid}: {why}")
            continue
        if statement.get("Effect") == "Deny":
            return False, f"{sid}: explicitly denies {service} for {source_arn}"
        allowed = True
        reasons.append(f"{sid}: allows {service} to {action} for {source_arn}")
    if allowed:
        return True, next(r for r in reasons if "allows" in r)
    return False, "; ".join(reasons) or "no statement applies"
