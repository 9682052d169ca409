"""EventBridge Scheduler: one-time and recurring schedules as a run's resources.

A schedule invokes one target with a fixed input; Scheduler calls the target with a role it
assumes (``scheduler.amazonaws.com``), not through the target's resource policy. Schedules are
deleted with their run; they are not yet found by prefix by ``eventlab leaks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventlab import policies
from eventlab.run import Run, resource_kind
from eventlab.services import iam

PRINCIPAL = "scheduler.amazonaws.com"
MAX_NAME = 64  # ScheduleName: 1 to 64 characters (botocore's model)
SCHEDULE = resource_kind("scheduler:schedule")


@dataclass(frozen=True)
class Schedule:
    name: str
    arn: str


def at_expression(when: datetime) -> str:
    """A one-time schedule expression, ``at(yyyy-mm-ddThh:mm:ss)``, in UTC (the default zone)."""
    return f"at({when:%Y-%m-%dT%H:%M:%S})"


def create_schedule(
    run: Run,
    base: str,
    *,
    expression: str,
    target_arn: str,
    input: str,
    target: Mapping[str, Any] | None = None,
) -> Schedule:
    """Create a schedule named for the run that sends ``input`` to ``target_arn`` on
    ``expression`` (``at(...)``, ``rate(...)`` or ``cron(...)``), through a role of the run that
    may send to that target; ``target`` adds members of the Target (``SqsParameters``, ...)."""
    name = run.name(base, max_length=MAX_NAME)
    role = iam.create_role(run, f"{base}-sched", service=PRINCIPAL,
                           policy=policies.document(*policies.may_send_to(target_arn)))
    client = run.target.client("scheduler")
    arn = client.create_schedule(
        Name=name, ScheduleExpression=expression, FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": target_arn, "RoleArn": role.arn, "Input": input, **(target or {})},
    )["ScheduleArn"]
    run.track(SCHEDULE, name, arn, lambda: client.delete_schedule(Name=name))
    return Schedule(name=name, arn=arn)
