"""EventBridge: custom buses, rules (event patterns or schedules) and their targets."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventlab.run import Run, resource_kind
from eventlab.target import Target

# Limits from the EventBridge API reference and quota page; the topology validator reads them here.
MAX_BUS_NAME = 256
BUS_NAME_PATTERN = r"[/\.\-_A-Za-z0-9]+"
MAX_RULE_NAME = 64
RULE_NAME_PATTERN = r"[\.\-_A-Za-z0-9]+"
MAX_ARCHIVE_NAME = 48
ARCHIVE_NAME_PATTERN = r"[\.\-_A-Za-z0-9]+"
# "Event pattern size": 2,048 characters by default (a quota AWS raises up to 4,096 on request);
# PutRule itself takes up to 4,096, as does CreateArchive.
EVENT_PATTERN_MAX_CHARS = 2_048
ARCHIVE_PATTERN_MAX_CHARS = 4_096
SCHEDULE_MAX_CHARS = 256
DESCRIPTION_MAX_CHARS = 512
MAX_TARGETS = 5  # per rule
MAX_TARGET_ID = 64
TARGET_ID_PATTERN = rf"[\.\-_A-Za-z0-9]{{1,{MAX_TARGET_ID}}}"
INPUT_MAX_CHARS = 8_192
INPUT_PATH_MAX_CHARS = 256
INPUT_TEMPLATE_MAX_CHARS = 8_192
INPUT_PATHS_MAX = 100  # entries of an input transformer's InputPathsMap
PARTITION_KEY_PATH_MAX_CHARS = 256
MESSAGE_GROUP_ID_MAX_CHARS = 100
RETRY_ATTEMPTS = (0, 185)
EVENT_AGE_SECONDS = (60, 86_400)
ARCHIVE_SUFFIX = "-archive"
PRINCIPAL = "events.amazonaws.com"  # the service, in resource policies and role trust
TARGET_ROLE_SUFFIX = "-events"


def archive_base(bus_base: str) -> str:
    """The base name of a bus's archive (the run prefix is added by :func:`create_archive`)."""
    return f"{bus_base}{ARCHIVE_SUFFIX}"


def target_role_base(rule_base: str) -> str:
    """The base name of the role a rule's stream, bus and Firehose targets are delivered with."""
    return f"{rule_base}{TARGET_ROLE_SUFFIX}"


def pattern_json(pattern: Mapping[str, Any]) -> str:
    """An event pattern as sent to EventBridge; its length is what the size limits count."""
    return json.dumps(pattern)


def envelope(
    detail: Mapping[str, Any], *, source: str, detail_type: str, account: str = "000000000000",
    region: str = "us-east-1", resources: Sequence[str] = (),
) -> dict[str, Any]:
    """An event as EventBridge delivers it, around ``detail`` (what TestEventPattern takes)."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
        "account": account, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": region,
        "resources": list(resources), "detail": dict(detail),
    }


def envelope_of(entry: Mapping[str, Any], *, account: str, region: str) -> dict[str, Any]:
    """The event EventBridge builds from a PutEvents entry."""
    return envelope(
        json.loads(entry["Detail"]), source=entry["Source"], detail_type=entry["DetailType"],
        account=account, region=region, resources=entry.get("Resources", ()),
    )


@dataclass(frozen=True)
class EventBus:
    name: str
    arn: str


@dataclass(frozen=True)
class Rule:
    name: str
    arn: str
    bus_name: str


def create_event_bus(run: Run, base: str) -> EventBus:
    """Create a custom bus named for the run."""
    name = run.name(base, max_length=MAX_BUS_NAME)
    client = run.target.client("events")
    arn = client.create_event_bus(Name=name, Tags=run.tag_list())["EventBusArn"]
    run.track(BUS, name, arn, lambda: client.delete_event_bus(Name=name))
    return EventBus(name=name, arn=arn)


def put_rule(
    run: Run,
    bus: EventBus | None,
    base: str,
    *,
    event_pattern: Mapping[str, Any] | None = None,
    schedule_expression: str | None = None,
    description: str = "",
) -> Rule:
    """Create a rule on ``bus`` (None: the default bus) from a pattern or a schedule.

    Its deletion removes its targets first, as EventBridge requires.
    """
    if (event_pattern is None) == (schedule_expression is None):
        raise ValueError(f"rule {base!r}: give exactly one of event_pattern or schedule_expression.")
    name = run.name(base, max_length=MAX_RULE_NAME)
    bus_name = bus.name if bus else "default"
    kwargs: dict[str, Any] = {"Name": name, "EventBusName": bus_name, "Tags": run.tag_list()}
    if event_pattern is not None:
        kwargs["EventPattern"] = pattern_json(event_pattern)
    if schedule_expression is not None:
        kwargs["ScheduleExpression"] = schedule_expression
    if description:
        kwargs["Description"] = description
    client = run.target.client("events")
    arn = client.put_rule(**kwargs)["RuleArn"]

    run.track(RULE, name, arn, lambda: delete_rule(client, name, bus_name))
    return Rule(name=name, arn=arn, bus_name=bus_name)


def delete_rule(client: Any, name: str, bus_name: str) -> None:
    """Remove a rule's targets, then the rule (EventBridge refuses to delete a rule with targets)."""
    ids = [
        t["Id"]
        for page in client.get_paginator("list_targets_by_rule").paginate(Rule=name, EventBusName=bus_name)
        for t in page["Targets"]
    ]
    if ids:
        client.remove_targets(Rule=name, EventBusName=bus_name, Ids=ids, Force=True)
    client.delete_rule(Name=name, EventBusName=bus_name, Force=True)


def create_archive(
    run: Run, bus: EventBus, base: str, *, retention_days: int = 1, event_pattern: Mapping[str, Any] | None = None
) -> str:
    """Archive a bus's events (optionally filtered) for replay; returns the archive ARN."""
    name = run.name(base, max_length=MAX_ARCHIVE_NAME)
    client = run.target.client("events")
    kwargs: dict[str, Any] = {"ArchiveName": name, "EventSourceArn": bus.arn, "RetentionDays": retention_days}
    if event_pattern is not None:
        kwargs["EventPattern"] = pattern_json(event_pattern)
    arn = client.create_archive(**kwargs)["ArchiveArn"]
    run.track(ARCHIVE, name, arn, lambda: client.delete_archive(ArchiveName=name))
    return str(arn)


def put_targets(run: Run, rule: Rule, targets: Sequence[Mapping[str, Any]]) -> None:
    """Attach targets to a rule; fails loudly on any target EventBridge rejects."""
    reply = run.target.client("events").put_targets(
        Rule=rule.name, EventBusName=rule.bus_name, Targets=[dict(t) for t in targets]
    )
    if reply.get("FailedEntryCount"):
        raise RuntimeError(f"rule {rule.name}: targets rejected: {reply['FailedEntries']}")


def put_events(run: Run, entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Put events (up to 10 per call, batched here); returns their event ids. Raises on rejects."""
    client = run.target.client("events")
    ids: list[str] = []
    for start in range(0, len(entries), 10):
        reply = client.put_events(Entries=[dict(e) for e in entries[start : start + 10]])
        if reply.get("FailedEntryCount"):
            raise RuntimeError(f"put_events rejected entries: {reply['Entries']}")
        ids.extend(e["EventId"] for e in reply["Entries"])
    return ids


# -- what a run leaves behind ------------------------------------------------------------------
def _find_buses(target: Target, prefix: str) -> Iterator[str]:
    for bus in target.client("events").list_event_buses(NamePrefix=prefix).get("EventBuses", []):
        yield bus["Name"]


def _delete_bus(target: Target, name: str) -> None:
    """A bus with its rules (each with its targets): EventBridge refuses a bus that has rules."""
    client = target.client("events")
    for rule in client.list_rules(EventBusName=name).get("Rules", []):
        delete_rule(client, rule["Name"], name)
    client.delete_event_bus(Name=name)


def _find_default_bus_rules(target: Target, prefix: str) -> Iterator[str]:
    paginator = target.client("events").get_paginator("list_rules")
    for page in paginator.paginate(NamePrefix=prefix, EventBusName="default"):
        yield from (rule["Name"] for rule in page.get("Rules", []))


def _find_archives(target: Target, prefix: str) -> Iterator[str]:
    for archive in target.client("events").list_archives(NamePrefix=prefix).get("Archives", []):
        yield archive["ArchiveName"]


BUS = resource_kind("events:bus", _find_buses, _delete_bus)
# Rules on a custom bus go with their bus; those on the default bus are found by name.
RULE = resource_kind("events:rule", _find_default_bus_rules, lambda t, name: delete_rule(t.client("events"), name, "default"))
ARCHIVE = resource_kind("events:archive", _find_archives, lambda t, name: t.client("events").delete_archive(ArchiveName=name))
