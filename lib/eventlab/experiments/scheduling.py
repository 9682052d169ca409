"""EventBridge Scheduler and Pipes (notebook 11): a one-time schedule measured from its scheduled
time to its delivery, and a filtered pipe from one queue to another.

Each builds what it needs on the run (queues, the role the service assumes, a schedule group,
the schedule or the pipe) and says plainly when the backend does not run the feature: a schedule
that never fires, a pipe that moves nothing, an API that is missing.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eventlab.run import Run
from eventlab.services import pipes, scheduler, sqs

log = logging.getLogger(__name__)

# How long to wait past a schedule's time for its message: AWS invokes within the minute it names
# (60-second precision, FlexibleTimeWindow OFF); MiniStack's sweep runs every 10 seconds.
FIRE_WAIT_S = {"aws": 90.0, "emulator": 15.0}
PIPE_WAIT_S = {"aws": 60.0, "emulator": 6.0}  # for the matching message, once the pipe runs
PIPE_START_S = 180.0  # a new pipe on AWS takes a minute or two to reach RUNNING
QUIET_S = 3.0  # after the first delivery, how long to wait for a second one


def _wait(run: Run, table: Mapping[str, float], override: float | None) -> float:
    return override if override is not None else table["emulator" if run.target.is_emulated else "aws"]


@dataclass
class OneTime:
    """What a one-time schedule did: when it was due, what reached the queue and when."""

    expression: str
    scheduled_at: datetime
    input: str
    bodies: list[str] = field(default_factory=list)
    lag_s: float | None = None  # SQS's SentTimestamp of the first delivery minus the scheduled time
    waited_s: float = 0.0
    schedule_kept: bool | None = None  # after the wait: still there (NONE), or deleted (DELETE)

    @property
    def fired(self) -> bool:
        return bool(self.bodies)

    def summary(self) -> str:
        if not self.fired:
            return (f"{self.expression}: nothing reached the queue in {self.waited_s:.0f} s after the scheduled time "
                    "(this backend stores schedules but does not fire them)")
        lag = f"{self.lag_s:.1f} s after the scheduled time" if self.lag_s is not None else "at an unknown time"
        return f"{self.expression}: delivered {len(self.bodies)} time(s), first {lag}, body {self.bodies[0]!r}"

    def plot(self) -> Figure:
        """The schedule on a time line: its time, the minute AWS may invoke it in (60-second
        precision, FlexibleTimeWindow OFF), and when SQS received its message (if it did)."""
        fig = Figure(figsize=(7, 2.2), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        minute_start = -float(self.scheduled_at.second)
        ax.axvspan(minute_start, minute_start + 60, color="tab:blue", alpha=0.15, label="AWS invokes within this minute")
        ax.axvline(0, color="tab:blue", label=f"scheduled: {self.expression}")
        if self.lag_s is not None:
            ax.plot([self.lag_s], [0.5], "o", color="tab:green", markersize=10, label=f"received by SQS (+{self.lag_s:.1f} s)")
        else:
            ax.text(minute_start + 62, 0.5, f"nothing received in {self.waited_s:.0f} s", va="center", color="tab:red")
        ax.set_xlim(minute_start - 5, minute_start + 100)
        ax.set_yticks([])
        ax.set_xlabel("seconds from the scheduled time")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title("a one-time schedule: when it was due, and when its message arrived")
        return fig


def one_time_delivery(
    run: Run, *, delay_s: float = 2.0, input: str = '{"reminder": "pay invoice 42"}', action_after_completion: str = "DELETE",
    wait_s: float | None = None,
) -> OneTime:
    """An ``at()`` schedule ``delay_s`` from now (to the next whole second) that sends ``input`` to a new
    queue; waits for it (and for a duplicate), and measures scheduled time -> SQS's receipt of it."""
    queue = sqs.create_queue(run, "sched-q", encrypted=False)
    role = scheduler.create_send_role(run, "sched", queue.arn)
    group = scheduler.create_schedule_group(run, "sched-g")
    when = datetime.fromtimestamp(math.ceil(time.time() + delay_s), tz=UTC)
    expression = scheduler.at_expression(when)
    schedule = scheduler.create_schedule(run, "once", expression=expression, target_arn=queue.arn, role=role, input=input,
                                         group=group, action_after_completion=action_after_completion)
    result = OneTime(expression=expression, scheduled_at=when, input=input)
    wait = _wait(run, FIRE_WAIT_S, wait_s)
    started = time.monotonic()
    timeout = max(0.0, when.timestamp() - time.time()) + wait
    messages = sqs.receive_all(run, queue, expected=1, quiet_s=QUIET_S, timeout=timeout)
    result.waited_s = time.monotonic() - started
    result.bodies = [m["Body"] for m in messages]
    if messages:
        sent_ms = int(messages[0].get("Attributes", {}).get("SentTimestamp", 0))
        result.lag_s = sent_ms / 1000 - when.timestamp() if sent_ms else None
    result.schedule_kept = scheduler.get_schedule(run, schedule) is not None
    log.info("%s", result.summary())
    return result


def refused_expression(run: Run, expression: str) -> str:
    """Ask the backend itself (eventlab's offline check bypassed) to take a schedule with ``expression``:
    ``accepted`` or ``rejected with <code>``. A schedule it takes is deleted with the run."""
    queue = sqs.create_queue(run, "bad-q", encrypted=False)
    role = scheduler.create_send_role(run, "bad", queue.arn)
    client = run.target.client("scheduler")
    name = run.name("bad", max_length=scheduler.MAX_NAME)
    try:
        arn = client.create_schedule(Name=name, ScheduleExpression=expression, FlexibleTimeWindow={"Mode": "OFF"},
                                     Target={"Arn": queue.arn, "RoleArn": role.arn, "Input": "{}"})["ScheduleArn"]
    except ClientError as error:
        return f"rejected with {error.response.get('Error', {}).get('Code', '')}"
    run.track(scheduler.SCHEDULE, f"{scheduler.DEFAULT_GROUP}/{name}", arn,
              lambda: client.delete_schedule(Name=name, GroupName=scheduler.DEFAULT_GROUP))
    return "accepted"


@dataclass
class PipeRun:
    """What a filtered pipe moved: the bodies sent to its source, and those that reached its target."""

    sent: list[str]
    matching: list[str]
    delivered: list[str] = field(default_factory=list)
    missing_api: str = ""  # why the backend has no pipe at all (empty when it made one)
    waited_s: float = 0.0

    @property
    def only_matching(self) -> bool:
        return sorted(self.delivered) == sorted(self.matching)

    def summary(self) -> str:
        if self.missing_api:
            return f"no pipe: {self.missing_api}"
        if not self.delivered:
            return (f"the pipe was created, but nothing of the {len(self.sent)} messages reached its target in "
                    f"{self.waited_s:.0f} s (this backend does not run a pipe with an SQS source)")
        return f"{len(self.delivered)} of {len(self.sent)} messages reached the target: {self.delivered}"


ORDER = {"kind": "order", "id": 1}
REFUND = {"kind": "refund", "id": 2}
ORDERS_ONLY = {"body": {"kind": ["order"]}}  # a pipe's SQS event holds the message in "body"


def filtered_pipe(
    run: Run, *, messages: Sequence[Mapping[str, Any]] = (ORDER, REFUND), pattern: Mapping[str, Any] = ORDERS_ONLY,
    wait_s: float | None = None,
) -> PipeRun:
    """A pipe from one new queue to another that passes only ``pattern``'s messages; sends
    ``messages`` to its source and collects what reaches its target."""
    sent = [json.dumps(m, sort_keys=True) for m in messages]
    matching = [body for body, m in zip(sent, messages, strict=True) if m.get("kind") in pattern.get("body", {}).get("kind", [])]
    result = PipeRun(sent=sent, matching=matching)
    source = sqs.create_queue(run, "pipe-src", encrypted=False)
    target = sqs.create_queue(run, "pipe-dst", encrypted=False)
    role = pipes.create_role(run, "pipe", source, target)
    try:
        pipe = pipes.create_pipe(run, "orders", source, target, role=role, filters=[pattern])
    except ClientError as error:
        if not pipes.api_missing(error):
            raise
        result.missing_api = f"CreatePipe answered {error.response.get('Error', {}).get('Code', '')}: this backend has no Pipes API"
        log.info("%s", result.summary())
        return result
    state = pipes.wait_running(run, pipe, timeout=PIPE_START_S)
    if state != "RUNNING":
        raise RuntimeError(f"pipe {pipe.name} is {state}, not RUNNING, after {PIPE_START_S:.0f} s")
    client = run.target.client("sqs")
    for body in sent:
        client.send_message(QueueUrl=source.url, MessageBody=body)
    started = time.monotonic()
    received = sqs.receive_all(run, target, expected=len(matching), quiet_s=QUIET_S, timeout=_wait(run, PIPE_WAIT_S, wait_s))
    result.waited_s = time.monotonic() - started
    result.delivered = [pipes.record_body(m["Body"]) for m in received]
    log.info("%s", result.summary())
    return result


__all__ = ["OneTime", "PipeRun", "filtered_pipe", "one_time_delivery", "refused_expression"]
