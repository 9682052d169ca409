"""EventBridge Scheduler and Pipes cases (notebook 11): a one-time schedule delivers its Input
once to an SQS queue, an expression Scheduler does not know is refused, and a filtered pipe
moves only the matching messages from one queue to another.

The delivery cases wait for the service (a schedule's minute, a pipe's poll), so they take
seconds on an emulator; the experiments they run live in :mod:`eventlab.experiments.scheduling`.
"""

from __future__ import annotations

from eventlab.experiments import scheduling
from eventlab.fidelity.model import Case, Unsupported, doc
from eventlab.run import Run

SCHEDULER_GUIDE = "https://docs.aws.amazon.com/scheduler/latest/UserGuide"
SCHEDULER_API = "https://docs.aws.amazon.com/scheduler/latest/APIReference"
PIPES_GUIDE = "https://docs.aws.amazon.com/eventbridge/latest/userguide"
SCHEDULE_TYPES = f"{SCHEDULER_GUIDE}/schedule-types.html"
CREATE_SCHEDULE = f"{SCHEDULER_API}/API_CreateSchedule.html"
PIPES_FILTERING = f"{PIPES_GUIDE}/eb-pipes-event-filtering.html"
BAD_EXPRESSION = "rate(5 fortnights)"  # a unit Scheduler does not have


def one_time_delivers_once(run: Run) -> str:
    result = scheduling.one_time_delivery(run)
    if not result.fired:
        raise Unsupported("the schedule was stored but never fired")
    body = "with its Input as the body" if set(result.bodies) == {result.input} else f"with the body {result.bodies[0]!r}"
    return f"delivered {len(result.bodies)} time(s), {body}"


def invalid_expression(run: Run) -> str:
    return scheduling.refused_expression(run, BAD_EXPRESSION)


def pipe_filter(run: Run) -> str:
    result = scheduling.filtered_pipe(run)
    if result.missing_api:
        raise Unsupported(result.missing_api)
    if not result.delivered:
        return "nothing reached the target"
    return "only the matching message reached the target" if result.only_matching else f"reached the target: {sorted(result.delivered)}"


CASES: list[Case] = [
    Case(
        id="scheduler.at.delivers-input", service="scheduler",
        behaviour="a one-time at() schedule (FlexibleTimeWindow OFF) to an SQS queue sends its Input once",
        verdict="delivered 1 time(s), with its Input as the body",
        source=doc(SCHEDULE_TYPES, "a one-time schedule invokes its target only once, at the time it names, with 60-second "
                                   "precision when no flexible time window is set; the target's Input is what it sends"),
        check=one_time_delivers_once,
    ),
    Case(
        id="scheduler.expression.invalid-refused", service="scheduler",
        behaviour=f"CreateSchedule with an expression that is not at(), rate() or cron() ({BAD_EXPRESSION})",
        verdict="rejected with ValidationException",
        source=doc(CREATE_SCHEDULE, "ScheduleExpression takes at(yyyy-mm-ddThh:mm:ss), rate(value unit) with the unit "
                                    "minute(s), hour(s) or day(s), or cron(fields); a request that fails its constraints "
                                    "gets ValidationException"),
        check=invalid_expression,
    ),
    Case(
        id="pipes.filter.sqs-to-sqs", service="pipes",
        behaviour="a pipe from one SQS queue to another with a FilterCriteria pattern on the body moves only matching messages",
        verdict="only the matching message reached the target",
        source=doc(PIPES_FILTERING, "a pipe filters its source's events with event patterns and processes only the subset "
                                    "that matches; the rest are not sent to the target"),
        check=pipe_filter,
    ),
]
