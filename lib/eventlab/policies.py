"""IAM and resource policies, least privilege by construction.

Resource policies grant one service principal, only for the named source ARNs
(``aws:SourceArn``): never a wildcard principal, never an unconditioned grant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
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
        "Condition": {"ArnEquals": {"aws:SourceArn": sources if len(sources) > 1 else sources[0]}},
    }


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
    statements = [
        _grant(f"Allow{service.split('.')[0].title()}", service, action, resource_arn, sources)
        for service, sources in sorted(grants.items())
    ]
    if not statements:
        raise ValueError("a resource policy needs at least one grant")
    return document(*statements)
