"""Find resources left behind under a name prefix, in every service eventlab creates in; and
clean up after runs whose process died (:func:`reap_orphaned_runs`, from the run journal)."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from eventlab import journal
from eventlab.journal import JournalEntry
from eventlab.run import RUN_PREFIX, is_gone
from eventlab.runtime import LocalStackError
from eventlab.services import events, iam, s3
from eventlab.target import DEFAULT_REGION, Target, TargetError

log = logging.getLogger(__name__)

# A run's prefix, el-<run id>: run ids are 8 lowercase letters or digits (run.new_run_id), and
# anything after them narrows the search further (el-ab12cd34-orders).
_RUN_PREFIX_RE = re.compile(rf"^{RUN_PREFIX}-[a-z0-9][a-z0-9-]{{7}}")


class LeakPrefixError(ValueError):
    """A prefix that is not a run's: searching (or deleting) under it would reach other runs."""


def check_prefix(prefix: str) -> str:
    """``prefix`` if it names one run (``el-`` and an 8-character run id), else LeakPrefixError."""
    if not _RUN_PREFIX_RE.match(prefix):
        raise LeakPrefixError(
            f"prefix {prefix!r} is not a run's: give el-<run id>, the run id being the 8 letters or "
            "digits every name of the run carries (e.g. el-ab12cd34; notebooks print it, and "
            "`eventlab deploy` prints its run_id); a shorter prefix would reach other runs' resources"
        )
    return prefix


@dataclass(frozen=True)
class Leak:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def _queues(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("sqs").get_paginator("list_queues").paginate(QueueNamePrefix=prefix):
        yield from (url.rsplit("/", 1)[-1] for url in page.get("QueueUrls", []))


def _topics(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("sns").get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            name = topic["TopicArn"].rsplit(":", 1)[-1]
            if name.startswith(prefix):
                yield name


def _subscriptions(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("sns").get_paginator("list_subscriptions").paginate():
        for sub in page.get("Subscriptions", []):
            if sub["TopicArn"].rsplit(":", 1)[-1].startswith(prefix):
                yield sub["SubscriptionArn"]


def _buses(target: Target, prefix: str) -> Iterator[str]:
    for bus in target.client("events").list_event_buses(NamePrefix=prefix).get("EventBuses", []):
        yield bus["Name"]


def _default_bus_rules(target: Target, prefix: str) -> Iterator[str]:
    paginator = target.client("events").get_paginator("list_rules")
    for page in paginator.paginate(NamePrefix=prefix, EventBusName="default"):
        yield from (rule["Name"] for rule in page.get("Rules", []))


def _archives(target: Target, prefix: str) -> Iterator[str]:
    for archive in target.client("events").list_archives(NamePrefix=prefix).get("Archives", []):
        yield archive["ArchiveName"]


def _streams(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("kinesis").get_paginator("list_streams").paginate():
        yield from (name for name in page.get("StreamNames", []) if name.startswith(prefix))


def _delivery_streams(target: Target, prefix: str) -> Iterator[str]:
    client = target.client("firehose")
    start: str | None = None
    while True:
        kwargs = {"Limit": 100, **({"ExclusiveStartDeliveryStreamName": start} if start else {})}
        reply = client.list_delivery_streams(**kwargs)
        names = reply.get("DeliveryStreamNames", [])
        yield from (name for name in names if name.startswith(prefix))
        if not reply.get("HasMoreDeliveryStreams") or not names:
            return
        start = names[-1]


def _buckets(target: Target, prefix: str) -> Iterator[str]:
    for bucket in target.client("s3").list_buckets().get("Buckets", []):
        if bucket["Name"].startswith(prefix):
            yield bucket["Name"]


def _roles(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("iam").get_paginator("list_roles").paginate(PathPrefix="/eventlab/"):
        yield from (r["RoleName"] for r in page.get("Roles", []) if r["RoleName"].startswith(prefix))


def _functions(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("lambda").get_paginator("list_functions").paginate():
        yield from (f["FunctionName"] for f in page.get("Functions", []) if f["FunctionName"].startswith(prefix))


def _event_source_mappings(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("lambda").get_paginator("list_event_source_mappings").paginate():
        for mapping in page.get("EventSourceMappings", []):
            if mapping.get("FunctionArn", "").rsplit(":", 1)[-1].startswith(prefix):
                yield mapping["UUID"]


def _log_groups(target: Target, prefix: str) -> Iterator[str]:
    paginator = target.client("logs").get_paginator("describe_log_groups")
    for group_prefix in (prefix, f"/aws/lambda/{prefix}"):
        for page in paginator.paginate(logGroupNamePrefix=group_prefix):
            yield from (g["logGroupName"] for g in page.get("logGroups", []))


def _registries(target: Target, prefix: str) -> Iterator[str]:
    # The emulator has no Schemas API; its registries are S3 buckets, found by _buckets.
    if target.is_emulated:
        return
    for page in target.client("schemas").get_paginator("list_registries").paginate(
        RegistryNamePrefix=prefix, Scope="LOCAL"
    ):
        yield from (r["RegistryName"] for r in page.get("Registries", []))


CHECKS: dict[str, Callable[[Target, str], Iterator[str]]] = {
    "sqs:queue": _queues,
    "sns:topic": _topics,
    "sns:subscription": _subscriptions,
    "events:bus": _buses,
    "events:rule": _default_bus_rules,
    "events:archive": _archives,
    "kinesis:stream": _streams,
    "firehose:delivery-stream": _delivery_streams,
    "s3:bucket": _buckets,
    "iam:role": _roles,
    "lambda:event-source-mapping": _event_source_mappings,
    "lambda:function": _functions,
    "logs:log-group": _log_groups,
    "schemas:registry": _registries,
}


def find_leaks(target: Target, prefix: str) -> list[Leak]:
    """Every resource whose name starts with ``prefix``, across the services eventlab uses.

    A service that cannot be listed (no permission on AWS) is logged and skipped, not ignored
    silently.
    """
    check_prefix(prefix)
    leaks: list[Leak] = []
    for kind, check in CHECKS.items():
        try:
            leaks.extend(Leak(kind, name) for name in check(target, prefix))
        except (ClientError, BotoCoreError) as error:
            log.warning("leak check could not list %s: %s", kind, error)
    return leaks


def _delete_bus(target: Target, name: str) -> None:
    client = target.client("events")
    for rule in client.list_rules(EventBusName=name).get("Rules", []):
        events.delete_rule(client, rule["Name"], name)
    client.delete_event_bus(Name=name)


def _queue_url(target: Target, name: str) -> str:
    return str(target.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def _topic_arn(target: Target, name: str) -> str:
    return f"arn:aws:sns:{target.region}:{target.account_id}:{name}"


def _delete_registry(target: Target, name: str) -> None:
    from eventlab.schemas.registry import EventBridgeSchemaRegistry

    EventBridgeSchemaRegistry(target, name).delete()


# Deletion by kind, in an order that removes users before what they use.
DELETERS: dict[str, Callable[[Target, str], object]] = {
    "schemas:registry": _delete_registry,
    "sns:subscription": lambda t, arn: t.client("sns").unsubscribe(SubscriptionArn=arn),
    "lambda:event-source-mapping": lambda t, uuid: t.client("lambda").delete_event_source_mapping(UUID=uuid),
    "events:rule": lambda t, name: events.delete_rule(t.client("events"), name, "default"),
    "events:archive": lambda t, name: t.client("events").delete_archive(ArchiveName=name),
    "events:bus": _delete_bus,
    "lambda:function": lambda t, name: t.client("lambda").delete_function(FunctionName=name),
    "sns:topic": lambda t, name: t.client("sns").delete_topic(TopicArn=_topic_arn(t, name)),
    "sqs:queue": lambda t, name: t.client("sqs").delete_queue(QueueUrl=_queue_url(t, name)),
    "firehose:delivery-stream": lambda t, name: t.client("firehose").delete_delivery_stream(
        DeliveryStreamName=name, AllowForceDelete=True
    ),
    "kinesis:stream": lambda t, name: t.client("kinesis").delete_stream(StreamName=name, EnforceConsumerDeletion=True),
    "s3:bucket": lambda t, name: s3.empty_and_delete_bucket(t.client("s3"), name),
    "iam:role": lambda t, name: iam.delete_role(t.client("iam"), name),
    "logs:log-group": lambda t, name: t.client("logs").delete_log_group(logGroupName=name),
}


def delete_leaks(target: Target, prefix: str) -> tuple[list[Leak], list[tuple[Leak, str]]]:
    """Delete everything under ``prefix`` (e.g. a deployment, or a run that was killed).

    Returns what was deleted and what could not be, with the reason. Deletions that AWS
    finishes asynchronously (streams, delivery streams) may show up as leaks for a while.
    """
    leaks = find_leaks(target, prefix)
    order = list(DELETERS)
    deleted: list[Leak] = []
    failed: list[tuple[Leak, str]] = []
    for leak in sorted(leaks, key=lambda item: order.index(item.kind)):
        try:
            DELETERS[leak.kind](target, leak.name)
        except ClientError as error:
            if not is_gone(error):
                failed.append((leak, str(error)))
                continue
        deleted.append(leak)
    return deleted, failed


@dataclass
class Reaped:
    """What :func:`reap_orphaned_runs` did with one journaled run whose process is gone."""

    entry: JournalEntry
    deleted: list[Leak] = field(default_factory=list)
    failed: list[tuple[Leak, str]] = field(default_factory=list)
    # Why nothing was deleted (its emulator is gone, it is on AWS and that was not allowed, ...).
    note: str = ""

    def __str__(self) -> str:
        owner = f"pid {self.entry.owner.pid}"
        if self.note:
            return f"run {self.entry.prefix} (its process, {owner}, ended): {self.note}"
        failed = f", {len(self.failed)} could not be deleted" if self.failed else ""
        return (
            f"run {self.entry.prefix} (its process, {owner}, ended without cleaning up): "
            f"deleted {len(self.deleted)} resource(s){failed}"
        )


def _answers(endpoint_url: str, timeout: float = 1.0) -> bool:
    """True when something accepts connections at the endpoint (the emulator still runs)."""
    parts = urlsplit(endpoint_url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


def _aws_leaks_command(entry: JournalEntry) -> str:
    env = ["EVENTLAB_TARGET=aws"]
    if entry.target.get("profile"):
        env.append(f"EVENTLAB_AWS_PROFILE={entry.target['profile']}")
    if entry.target.get("region"):
        env.append(f"EVENTLAB_AWS_REGION={entry.target['region']}")
    return f"{' '.join(env)} eventlab leaks {entry.prefix} --delete"


def reap_orphaned_runs(*, allow_aws: bool = False, folder: Path | None = None) -> list[Reaped]:
    """Delete what journaled runs left behind when their process died without cleaning up.

    Runs whose owner is alive are never touched. On an emulator that has stopped there is
    nothing left to delete (its state was in memory), so the entry is just dropped. Runs on AWS
    are cleaned only with ``allow_aws`` (a command that was itself asked to use AWS); otherwise
    they are reported with the command that cleans them, and kept in the journal.
    """
    results = []
    for entry in journal.orphans(folder=folder):
        kind = entry.target.get("kind")
        target: Target
        if kind == "localstack":
            endpoint = str(entry.target.get("endpoint_url") or "")
            if not endpoint or not _answers(endpoint):
                journal.remove(entry.run_id, folder=folder)
                results.append(Reaped(entry, note="its emulator has stopped, and its resources with it"))
                continue
            target = Target.localstack(endpoint, region=entry.target.get("region") or DEFAULT_REGION)
        elif kind == "aws" and allow_aws:
            target = Target.aws(profile=entry.target.get("profile"), region=entry.target.get("region"))
        elif kind == "aws":
            note = f"it may have left resources in AWS; delete them with `{_aws_leaks_command(entry)}`"
            log.warning("run %s (pid %d, ended): %s", entry.prefix, entry.owner.pid, note)
            results.append(Reaped(entry, note=note))
            continue
        else:
            results.append(Reaped(entry, note=f"unknown target kind {kind!r}; left in the journal"))
            continue
        try:
            deleted, failed = delete_leaks(target, entry.prefix)
        except (ClientError, BotoCoreError, LocalStackError, TargetError) as error:
            results.append(Reaped(entry, note=f"could not be cleaned up now ({error}); will retry later"))
            continue
        if not failed:
            journal.remove(entry.run_id, folder=folder)
        results.append(Reaped(entry, deleted=deleted, failed=failed))
        log.info("%s", results[-1])
    return results


def forget_prefix(prefix: str) -> None:
    """Drop the journal entries of ``prefix`` whose owner is gone (their resources were deleted
    by hand, ``eventlab leaks PREFIX --delete``)."""
    for entry in journal.orphans():
        if entry.prefix == prefix:
            journal.remove(entry.run_id)
