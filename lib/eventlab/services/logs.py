"""CloudWatch Logs: log groups, created with a retention and deleted with the run, and their lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eventlab.run import Run, resource_kind
from eventlab.target import Target

# Limits from the CloudWatch Logs API reference; the topology validator reads them here.
LOG_GROUP_MAX_CHARS = 512
LOG_GROUP_PATTERN = r"[\.\-_/#A-Za-z0-9]+"
RETENTION_DAYS = 7
# Where Lambda writes a function's logs: /aws/lambda/<function name> (searched for leftovers too).
LAMBDA_PREFIX = "/aws/lambda/"


def log_group_arn(target: Target, group: str) -> str:
    return f"arn:aws:logs:{target.region}:{target.account_id}:log-group:{group}"


def create_log_group(run: Run, group: str, *, retention_days: int = RETENTION_DAYS) -> str:
    """Create a log group with a retention, tagged and tracked; an existing one is an error."""
    client = run.target.client("logs")
    client.create_log_group(logGroupName=group, tags=run.tags)
    run.track(LOG_GROUP, group, group, lambda: client.delete_log_group(logGroupName=group))
    client.put_retention_policy(logGroupName=group, retentionInDays=retention_days)
    return group


def filter_log_events(run: Run, group: str, pattern: str = "") -> list[str]:
    """Every line of a log group so far (optionally matching a CloudWatch filter pattern)."""
    kwargs: dict[str, Any] = {"logGroupName": group}
    if pattern:
        kwargs["filterPattern"] = pattern
    lines: list[str] = []
    for page in run.target.client("logs").get_paginator("filter_log_events").paginate(**kwargs):
        lines.extend(e["message"].rstrip("\n") for e in page.get("events", []))
    return lines


# -- what a run leaves behind ------------------------------------------------------------------
def _find_log_groups(target: Target, prefix: str) -> Iterator[str]:
    paginator = target.client("logs").get_paginator("describe_log_groups")
    for group_prefix in (prefix, f"{LAMBDA_PREFIX}{prefix}"):
        for page in paginator.paginate(logGroupNamePrefix=group_prefix):
            yield from (g["logGroupName"] for g in page.get("logGroups", []))


LOG_GROUP = resource_kind("logs:log-group", _find_log_groups, lambda t, name: t.client("logs").delete_log_group(logGroupName=name))
