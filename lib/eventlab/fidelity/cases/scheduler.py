"""EventBridge Scheduler cases: a one-time schedule invokes its target with its input."""

from __future__ import annotations

from eventlab.experiments.events import one_time_schedule
from eventlab.fidelity.model import Case, doc
from eventlab.run import Run

SCHEDULE_TYPES = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html"
# How long after its time a case waits for the schedule's message: MiniStack sweeps every 10 s;
# AWS invokes within the minute of the schedule's time (60-second precision).
DELIVERY_TIMEOUT = 15.0
AWS_DELIVERY_TIMEOUT = 120.0


def at_delivers_input(run: Run) -> str:
    sent = one_time_schedule(run, delay_s=1, timeout=DELIVERY_TIMEOUT if run.target.is_emulated else AWS_DELIVERY_TIMEOUT)
    if not sent.delivered:
        return "nothing delivered"
    return f"{len(sent.delivered)} message with the schedule's input" if [b.get("job") for b in sent.delivered] == [
        "nightly-report"] else f"{len(sent.delivered)} message(s), not the schedule's input"


CASES = [
    Case("scheduler.at.delivers-input", "scheduler", "a one-time at() schedule sends its fixed input to its SQS target once",
         "1 message with the schedule's input",
         doc(SCHEDULE_TYPES, "A one-time schedule, at(yyyy-mm-ddThh:mm:ss), invokes its target once at that date and "
             "time (UTC unless ScheduleExpressionTimezone says otherwise), with the target's Input; every schedule type "
             "invokes its target with 60-second precision."),
         at_delivers_input),
]
