"""EventBridge Scheduler: schedule groups and schedules (one-time ``at()``, ``rate()``, ``cron()``)
that send a fixed Input to an SQS queue through a role Scheduler assumes.

A schedule carries no tags in Scheduler's API (only its group does), so a run's schedules live in
a group of the run (:func:`create_schedule_group`), tagged like everything else; both are found
by the run prefix. Expressions, the completion action and FIFO targets are checked here, offline,
before anything is built (:func:`schedule_problems`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.services import iam
from eventlab.target import Target

# Limits from the EventBridge Scheduler API reference (CreateSchedule, CreateScheduleGroup).
MAX_NAME = 64
NAME_PATTERN = r"[0-9a-zA-Z-_.]+"
MAX_GROUP_NAME = 64
EXPRESSION_MAX_CHARS = 256
MESSAGE_GROUP_ID_MAX_CHARS = 128
ACTIONS_AFTER_COMPLETION = ("NONE", "DELETE")
DEFAULT_GROUP = "default"
PRINCIPAL = "scheduler.amazonaws.com"  # the service that assumes a schedule's role
ROLE_SUFFIX = "-scheduler"
# Schedule types (user guide, "Schedule types"): at(yyyy-mm-ddThh:mm:ss), rate(value unit) with a
# positive integer and minute(s) | hour(s) | day(s), cron(six fields).
AT_RE = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
RATE_RE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
CRON_RE = re.compile(r"cron\(([^()]+)\)")
CRON_FIELDS = 6  # minutes hours day-of-month month day-of-week year
SCHEDULE_TYPES = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html"


@dataclass(frozen=True)
class ScheduleGroup:
    name: str
    arn: str


@dataclass(frozen=True)
class Schedule:
    name: str
    arn: str
    group: str
    expression: str


def at_expression(when: datetime) -> str:
    """The one-time expression for ``when`` (UTC, to the second)."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


def at_time(expression: str) -> datetime | None:
    """The UTC moment of a one-time ``at()`` expression, or None for another kind."""
    match = AT_RE.fullmatch(expression)
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC) if match else None


def expression_problem(expression: str) -> str | None:
    """Why Scheduler would refuse ``expression`` (None if it takes it), with the forms it takes."""
    forms = "at(yyyy-mm-ddThh:mm:ss), rate(<positive integer> minute(s)|hour(s)|day(s)) or cron(<6 fields>)"
    if not 1 <= len(expression) <= EXPRESSION_MAX_CHARS:
        return f"schedule expression is {len(expression)} characters; AWS takes 1 to {EXPRESSION_MAX_CHARS}"
    if match := AT_RE.fullmatch(expression):
        try:
            datetime.fromisoformat(match.group(1))
        except ValueError:
            return f"{expression!r}: {match.group(1)} is not a date and time"
        return None
    if match := RATE_RE.fullmatch(expression):
        if int(match.group(1)) < 1:
            return f"{expression!r}: a rate's value is a positive integer"
        return None
    if match := CRON_RE.fullmatch(expression):
        fields = match.group(1).split()
        if len(fields) != CRON_FIELDS:
            return f"{expression!r}: a cron expression has {CRON_FIELDS} fields (minutes hours day-of-month month day-of-week year), not {len(fields)}"
        if "?" not in (fields[2], fields[4]):
            return f"{expression!r}: one of day-of-month and day-of-week must be '?'"
        return None
    return f"{expression!r} is not a schedule expression: use {forms} ({SCHEDULE_TYPES})"


def schedule_problems(
    expression: str, *, target_arn: str, input: str, action_after_completion: str = "NONE",
    message_group_id: str | None = None,
) -> list[str]:
    """Why Scheduler would refuse (or mis-send) this schedule, before anything is built."""
    problems = []
    if problem := expression_problem(expression):
        problems.append(problem)
    if action_after_completion not in ACTIONS_AFTER_COMPLETION:
        problems.append(f"ActionAfterCompletion {action_after_completion!r}: use one of {', '.join(ACTIONS_AFTER_COMPLETION)}")
    if not input:
        problems.append("Input is empty: Scheduler sends it as the message body and takes at least 1 character")
    fifo = target_arn.endswith(".fifo")
    if fifo and not message_group_id:
        problems.append(f"target {target_arn} is a FIFO queue: give message_group_id (SqsParameters.MessageGroupId)")
    if message_group_id is not None and not fifo:
        problems.append(f"message_group_id is for a FIFO queue; {target_arn} is a standard queue")
    if message_group_id is not None and not 1 <= len(message_group_id) <= MESSAGE_GROUP_ID_MAX_CHARS:
        problems.append(f"message_group_id is {len(message_group_id)} characters; AWS takes 1 to {MESSAGE_GROUP_ID_MAX_CHARS}")
    return problems


def create_schedule_group(run: Run, base: str) -> ScheduleGroup:
    """A schedule group named and tagged for the run (its schedules go with it)."""
    name = run.name(base, max_length=MAX_GROUP_NAME)
    client = run.target.client("scheduler")
    arn = client.create_schedule_group(Name=name, Tags=run.tag_list())["ScheduleGroupArn"]
    run.track(GROUP, name, arn, lambda: client.delete_schedule_group(Name=name))
    return ScheduleGroup(name=name, arn=arn)


def create_send_role(run: Run, base: str, target_arn: str) -> iam.Role:
    """The role Scheduler assumes to send to ``target_arn``, and may do nothing else with."""
    return iam.create_role(run, f"{base}{ROLE_SUFFIX}", service=PRINCIPAL,
                           policy=policies.document(*policies.may_send_to(target_arn)))


def create_schedule(
    run: Run, base: str, *, expression: str, target_arn: str, input: str, role: iam.Role | None = None,
    group: ScheduleGroup | None = None, action_after_completion: str = "NONE",
    message_group_id: str | None = None, timezone: str = "UTC",
) -> Schedule:
    """A schedule that sends ``input`` to an SQS queue at ``expression``'s times, exactly then
    (FlexibleTimeWindow OFF); checked first (:func:`schedule_problems`), ValueError if refused.
    Without ``role``, a role of the run is made that may only send to ``target_arn``.

    With ``action_after_completion="DELETE"`` Scheduler deletes a one-time schedule once it has
    run; the run's deletion of it is then a no-op.
    """
    if problems := schedule_problems(expression, target_arn=target_arn, input=input,
                                     action_after_completion=action_after_completion, message_group_id=message_group_id):
        raise ValueError(f"schedule {base!r}: " + "; ".join(problems))
    name = run.name(base, max_length=MAX_NAME)
    role = role or create_send_role(run, base, target_arn)
    group_name = group.name if group else DEFAULT_GROUP
    target: dict[str, Any] = {"Arn": target_arn, "RoleArn": role.arn, "Input": input}
    if message_group_id is not None:
        target["SqsParameters"] = {"MessageGroupId": message_group_id}
    client = run.target.client("scheduler")
    arn = client.create_schedule(
        Name=name, GroupName=group_name, ScheduleExpression=expression, ScheduleExpressionTimezone=timezone,
        FlexibleTimeWindow={"Mode": "OFF"}, Target=target, ActionAfterCompletion=action_after_completion,
    )["ScheduleArn"]
    run.track(SCHEDULE, f"{group_name}/{name}", arn, lambda: client.delete_schedule(Name=name, GroupName=group_name))
    return Schedule(name=name, arn=arn, group=group_name, expression=expression)


def get_schedule(run: Run, schedule: Schedule) -> dict[str, Any] | None:
    """The schedule as Scheduler holds it, or None once it is gone (deleted after completion)."""
    client = run.target.client("scheduler")
    try:
        return dict(client.get_schedule(Name=schedule.name, GroupName=schedule.group))
    except client.exceptions.ResourceNotFoundException:
        return None


# -- what a run leaves behind ------------------------------------------------------------------
def _find_schedules(target: Target, prefix: str) -> Iterator[str]:
    """``group/name`` of every schedule named under the prefix, in any group."""
    for page in target.client("scheduler").get_paginator("list_schedules").paginate(NamePrefix=prefix):
        for schedule in page.get("Schedules", []):
            if schedule["Name"].startswith(prefix):
                yield f"{schedule.get('GroupName') or DEFAULT_GROUP}/{schedule['Name']}"


def _delete_schedule(target: Target, group_and_name: str) -> None:
    group, _, name = group_and_name.rpartition("/")
    target.client("scheduler").delete_schedule(Name=name, GroupName=group or DEFAULT_GROUP)


def _find_groups(target: Target, prefix: str) -> Iterator[str]:
    for page in target.client("scheduler").get_paginator("list_schedule_groups").paginate(NamePrefix=prefix):
        yield from (g["Name"] for g in page.get("ScheduleGroups", []) if g["Name"].startswith(prefix))


SCHEDULE = resource_kind("scheduler:schedule", _find_schedules, _delete_schedule)
GROUP = resource_kind("scheduler:schedule-group", _find_groups, lambda t, name: t.client("scheduler").delete_schedule_group(Name=name))
