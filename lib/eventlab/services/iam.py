"""IAM roles for services, with inline least-privilege policies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.target import Target

# Limits from the IAM API reference and "IAM and AWS STS quotas"; the topology validator reads them.
MAX_NAME = 64
NAME_PATTERN = r"[\w+=,.@-]+"
MAX_POLICY_NAME = 128
POLICY_NAME_PATTERN = r"[\w+=,.@-]+"
# All inline policies of one role together, in characters without whitespace.
ROLE_INLINE_POLICIES_MAX_CHARS = 10_240
ROLE_PATH = "/eventlab/"
POLICY_NAME = "least-privilege"  # the inline policy create_role writes


@dataclass(frozen=True)
class Role:
    name: str
    arn: str


def create_role(run: Run, base: str, *, service: str, policy: policies.Policy) -> Role:
    """Create a role that only ``service`` may assume, with one inline policy."""
    name = run.name(base, max_length=MAX_NAME)
    client = run.target.client("iam")
    arn = client.create_role(
        RoleName=name,
        Path=ROLE_PATH,
        AssumeRolePolicyDocument=policies.to_json(policies.assume_role(service)),
        Tags=run.tag_list(),
    )["Role"]["Arn"]
    run.track(ROLE, name, arn, lambda: delete_role(client, name))
    client.put_role_policy(RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=policies.to_json(policy))
    return Role(name=name, arn=arn)


def delete_role(client: Any, name: str) -> None:
    """Delete a role's inline and attached policies, then the role."""
    for page in client.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy_name in page["PolicyNames"]:
            client.delete_role_policy(RoleName=name, PolicyName=policy_name)
    for page in client.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for attached in page["AttachedPolicies"]:
            client.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    client.delete_role(RoleName=name)


# -- what a run leaves behind ------------------------------------------------------------------
def _find_roles(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("iam").get_paginator("list_roles").paginate(PathPrefix=ROLE_PATH):
        yield from (r["RoleName"] for r in page.get("Roles", []) if r["RoleName"].startswith(prefix))


ROLE = resource_kind("iam:role", _find_roles, lambda t, name: delete_role(t.client("iam"), name))
