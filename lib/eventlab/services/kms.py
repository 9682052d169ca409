"""KMS customer-managed keys for topics and queues that AWS services publish to.

An AWS-managed key (``alias/aws/sns``, ``alias/aws/sqs``) has a key policy nobody can change,
and it grants nothing to service principals: EventBridge, CloudWatch alarms, S3 notifications
and SNS itself (delivering to a queue) cannot encrypt with it, so AWS drops what they publish
to a topic or queue encrypted with it, silently. A customer-managed key whose policy names
exactly those publishers (each for its source ARNs) works; :func:`create_key` makes one, with an
alias named for the run, and the run deletes it by scheduling its deletion with the shortest
window AWS allows (7 days) and deleting its alias.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.target import Target

ALIAS_PREFIX = "alias/"
AWS_MANAGED_PREFIX = "alias/aws/"  # aliases of AWS-managed keys; their key policies cannot change
# Limits from the KMS API reference (CreateAlias, ScheduleKeyDeletion, PutKeyPolicy).
MAX_ALIAS = 256  # the whole alias name, "alias/" included
ALIAS_PATTERN = r"alias/[a-zA-Z0-9/_-]+"
PENDING_WINDOW_DAYS = 7  # the minimum ScheduleKeyDeletion takes (7 to 30)
POLICY_MAX_BYTES = 32_768
# What a service needs of a key to publish into an encrypted topic or queue ("Key management"
# in the SNS and SQS developer guides).
PUBLISHER_ACTIONS = ("kms:GenerateDataKey*", "kms:Decrypt")
SNS_KEY_MANAGEMENT = "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services"
SQS_KEY_MANAGEMENT = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html"


@dataclass(frozen=True)
class Key:
    key_id: str
    arn: str
    alias: str  # "alias/<run prefix>-<base>"


def is_aws_managed(key: str | None) -> bool:
    """Whether a key id, alias or ARN names an AWS-managed key (``alias/aws/...``)."""
    return bool(key) and (key.startswith(AWS_MANAGED_PREFIX) or f":{AWS_MANAGED_PREFIX}" in str(key))


def alias_name(run_name: str) -> str:
    return f"{ALIAS_PREFIX}{run_name}"


def key_policy(account_id: str, region: str, via: str, publishers: Mapping[str, Iterable[str]]) -> policies.Policy:
    """The key policy: the account administers the key; principals of the account may use it
    through ``via`` (``sns`` or ``sqs``, as the AWS-managed key allows); and each service
    publisher may encrypt with it for its source ARNs only."""
    statements: list[dict[str, Any]] = [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": f"AccountUsesThrough{via.upper()}", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:GenerateDataKey*", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": f"{via}.{region}.amazonaws.com"}}},
    ]
    for service, sources in sorted(publishers.items()):
        arns = sorted(set(sources))
        if not arns:
            continue
        statements.append({
            "Sid": "Publisher" + service.split(".")[0].title(), "Effect": "Allow", "Principal": {"Service": service},
            "Action": list(PUBLISHER_ACTIONS), "Resource": "*",
            "Condition": {"ArnLike": {"aws:SourceArn": arns if len(arns) > 1 else arns[0]}},
        })
    return policies.document(*statements)


def create_key(run: Run, base: str, *, via: str, publishers: Mapping[str, Iterable[str]], description: str = "") -> Key:
    """A customer-managed symmetric key with :func:`key_policy` and the alias ``alias/<run name>``;
    the run schedules its deletion (7 days) and deletes the alias."""
    alias = alias_name(run.name(base, max_length=MAX_ALIAS - len(ALIAS_PREFIX)))
    policy = key_policy(run.target.account_id, run.target.region, via, publishers)
    document = policies.to_json(policy)
    if len(document.encode()) > POLICY_MAX_BYTES:
        raise ValueError(f"key {alias}: its policy is over KMS's {POLICY_MAX_BYTES} bytes; publish through fewer rules")
    client = run.target.client("kms")
    meta = client.create_key(
        Policy=document, Description=description or f"eventlab {alias}", KeyUsage="ENCRYPT_DECRYPT",
        Tags=[{"TagKey": k, "TagValue": v} for k, v in run.tags.items()],
    )["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    run.track(KEY, alias, key_id, lambda: _retire(client, key_id, alias))
    client.create_alias(AliasName=alias, TargetKeyId=key_id)
    return Key(key_id=key_id, arn=arn, alias=alias)


def _retire(client: Any, key_id: str, alias: str | None) -> None:
    """Delete the alias (if any) and schedule the key's deletion with the shortest window."""
    if alias:
        try:
            client.delete_alias(AliasName=alias)
        except client.exceptions.NotFoundException:
            pass
    try:
        client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=PENDING_WINDOW_DAYS)
    except client.exceptions.KMSInvalidStateException:
        pass  # already pending deletion


def key_policy_of(target: Target, key_id: str) -> dict[str, Any]:
    """A key's policy, as KMS returns it."""
    return dict(json.loads(target.client("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]))


# -- what a run leaves behind ------------------------------------------------------------------
def _find_keys(target: Target, prefix: str) -> Iterator[str]:
    """Aliases (without ``alias/``) under the prefix; a key whose deletion is scheduled has none."""
    for page in target.client("kms").get_paginator("list_aliases").paginate():
        for alias in page.get("Aliases", []):
            name = alias["AliasName"].removeprefix(ALIAS_PREFIX)
            if name.startswith(prefix) and alias.get("TargetKeyId"):
                yield name


def _delete_key(target: Target, name: str) -> None:
    client = target.client("kms")
    alias = alias_name(name)
    key_id = client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    _retire(client, key_id, alias)


KEY = resource_kind("kms:key", _find_keys, _delete_key)
