"""EventBridge Scheduler and Pipes, offline: the checks that refuse a bad schedule or pipe before
anything is built, and the helpers the notebook's measurement rests on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from eventlab.run import Run
from eventlab.services import pipes, scheduler
from eventlab.services.sqs import Queue

QUEUE = "arn:aws:sqs:us-east-1:000000000000:el-abcdefgh-q"
FIFO = "arn:aws:sqs:us-east-1:000000000000:el-abcdefgh-q.fifo"


class NoCalls:
    """A target that fails the test on any AWS call: nothing may be built before the checks."""

    is_emulated = True

    def client(self, service: str) -> Any:
        raise AssertionError(f"a {service} client was asked for before the input was checked")


def _queue(name: str) -> Queue:
    return Queue(name=name, url=f"http://127.0.0.1/000000000000/{name}", arn=f"arn:aws:sqs:us-east-1:000000000000:{name}")


@pytest.mark.parametrize("expression", [
    "at(2026-12-02T03:30:00)", "rate(1 minute)", "rate(5 minutes)", "rate(2 hours)", "rate(1 day)",
    "cron(0 12 * * ? *)", "cron(15 10 ? * MON-FRI *)",
])
def test_expressions_scheduler_takes_pass(expression: str) -> None:
    assert scheduler.expression_problem(expression) is None


@pytest.mark.parametrize(("expression", "named"), [
    ("rate(5 fortnights)", "not a schedule expression"),
    ("rate(0 minutes)", "positive integer"),
    ("at(2026-13-02T03:30:00)", "not a date and time"),
    ("at(2026-12-02 03:30:00)", "not a schedule expression"),
    ("cron(0 12 * * *)", "6 fields"),
    ("cron(0 12 * * * *)", "'?'"),
    ("", "1 to 256"),
    ("every five minutes", "at(yyyy-mm-ddThh:mm:ss)"),
])
def test_expressions_scheduler_refuses_are_named(expression: str, named: str) -> None:
    problem = scheduler.expression_problem(expression)
    assert problem is not None and named in problem


def test_at_expression_round_trips_in_utc() -> None:
    when = datetime(2026, 12, 2, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    assert scheduler.at_expression(when) == "at(2026-12-02T02:05:06)"
    assert scheduler.at_time("at(2026-12-02T02:05:06)") == datetime(2026, 12, 2, 2, 5, 6, tzinfo=UTC)
    assert scheduler.at_time("rate(1 day)") is None


@pytest.mark.parametrize(("options", "named"), [
    ({"target_arn": FIFO}, "give message_group_id"),
    ({"message_group_id": "g"}, "standard queue"),
    ({"target_arn": FIFO, "message_group_id": "g" * 129}, "1 to 128"),
    ({"action_after_completion": "ARCHIVE"}, "NONE, DELETE"),
    ({"input": ""}, "Input is empty"),
    ({"expression": "rate(5 fortnights)"}, "not a schedule expression"),
])
def test_a_schedule_aws_refuses_is_refused_before_anything_is_built(options: dict[str, Any], named: str) -> None:
    args: dict[str, Any] = {"expression": "rate(5 minutes)", "target_arn": QUEUE, "input": "{}", **options}
    role = scheduler.iam.Role(name="r", arn="arn:aws:iam::000000000000:role/r")
    with pytest.raises(ValueError, match=named):
        scheduler.create_schedule(Run(NoCalls()), "s", role=role, **args)  # type: ignore[arg-type]


def test_a_fifo_target_with_its_group_passes() -> None:
    assert scheduler.schedule_problems("rate(5 minutes)", target_arn=FIFO, input="{}", message_group_id="g") == []


@pytest.mark.parametrize(("options", "named"), [
    ({"target": _queue("el-abcdefgh-dst.fifo")}, "give message_group_id"),
    ({"message_group_id": "g"}, "standard queue"),
    ({"filters": [{}]}, "non-empty JSON object"),
    ({"filters": [{"body": {"k": ["v"]}}] * 6}, "at most 5"),
    ({"batch_size": 0}, "1 to 10000"),
    ({"target": _queue("el-abcdefgh-src")}, "same queue"),
])
def test_a_pipe_aws_refuses_is_refused_before_anything_is_built(options: dict[str, Any], named: str) -> None:
    args: dict[str, Any] = {"target": _queue("el-abcdefgh-dst"), "filters": [{"body": {"kind": ["order"]}}], **options}
    role = pipes.iam.Role(name="r", arn="arn:aws:iam::000000000000:role/r")
    with pytest.raises(ValueError, match=named):
        pipes.create_pipe(Run(NoCalls()), "p", _queue("el-abcdefgh-src"), role=role, **args)  # type: ignore[arg-type]


def test_a_pipes_sqs_record_is_unwrapped_to_the_message_body() -> None:
    record = {"messageId": "059f36b4-87a3-44ab-83d2-661975830a7d", "body": '{"kind": "order"}', "attributes": {}}
    assert pipes.record_body(json.dumps(record)) == '{"kind": "order"}'
    assert pipes.record_body('{"kind": "order"}') == '{"kind": "order"}'
    assert pipes.record_body("plain text") == "plain text"



def test_the_time_line_shows_a_delivery_or_says_there_was_none() -> None:
    from eventlab.experiments.scheduling import OneTime

    when = datetime(2026, 12, 2, 3, 30, 12, tzinfo=UTC)
    fired = OneTime(expression=scheduler.at_expression(when), scheduled_at=when, input="{}", bodies=["{}"], lag_s=4.2)
    silent = OneTime(expression=scheduler.at_expression(when), scheduled_at=when, input="{}", waited_s=15.0)
    assert "+4.2 s" in " ".join(t.get_text() for t in fired.plot().axes[0].get_legend().get_texts())
    assert "nothing received in 15 s" in [t.get_text() for t in silent.plot().axes[0].texts]
    assert not silent.fired and "does not fire" in silent.summary()


class Recorder:
    """A target whose clients record each call and answer what create_schedule needs."""

    is_emulated = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def client(self, service: str) -> Any:
        calls = self.calls

        class Client:
            def __getattr__(self, operation: str) -> Any:
                def call(**kwargs: Any) -> dict[str, Any]:
                    calls.append((service, operation, kwargs))
                    return {"Role": {"Arn": "arn:aws:iam::000000000000:role/r"}, "ScheduleArn": "arn:aws:scheduler:::schedule/default/s"}
                return call

        return Client()


def test_a_schedule_without_a_role_gets_one_that_may_only_send_to_its_target() -> None:
    target = Recorder()
    run = Run(target)  # type: ignore[arg-type]
    scheduler.create_schedule(run, "s", expression="at(2026-12-02T03:30:00)", target_arn=QUEUE, input="{}")
    (trust,) = [json.loads(k["AssumeRolePolicyDocument"]) for s, op, k in target.calls if op == "create_role"]
    (policy,) = [json.loads(k["PolicyDocument"]) for s, op, k in target.calls if op == "put_role_policy"]
    (created,) = [k for s, op, k in target.calls if op == "create_schedule"]
    assert trust["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert [(s["Action"], s["Resource"]) for s in policy["Statement"]] == [(["sqs:SendMessage"], [QUEUE])]
    assert created["FlexibleTimeWindow"] == {"Mode": "OFF"} and created["Target"]["Input"] == "{}"
    assert [r.kind for r in run.resources] == ["iam:role", "scheduler:schedule"]
