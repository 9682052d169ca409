"""The delivery engine's rules, with an injected clock and scripted targets (no backend).

The engine is driven tick by tick (``_tick``) and runs each delivery inline, so every assertion
is about what was attempted and in which order, never about how long anything took.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pytest

from eventlab.eventbridgev2.delivery import DeliveryEngine
from eventlab.eventbridgev2.service import EventBusService
from eventlab.eventbridgev2.store import Store
from eventlab.eventbridgev2.targets import DeliveryEvent, Failure, TargetClients, resolve_target

REGION, ACCOUNT = "us-east-1", "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
FIFO_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders.fifo"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Inline(Executor):
    """Runs each delivery at once, in the dispatcher's thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fn(*args, **kwargs)
        future: Future[Any] = Future()
        future.set_result(None)
        return future


class Scripted:
    """A target that records each call and fails the events ``fails`` picks."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.views: list[dict[str, Any]] = []
        self.fails: Callable[[dict[str, Any]], bool] = lambda detail: False
        self.dead_letters: list[tuple[str, dict[str, Any], str | None]] = []

    def deliver(self, ref: Any, config: Any, events: list[DeliveryEvent]) -> list[Failure | None]:
        self.calls.append([event.view["Data"]["detail"]["n"] for event in events])
        self.views.extend(event.view for event in events)
        return [Failure("CUSTOMER_VALIDATION", "refused", "req-1") if self.fails(event.view["Data"]["detail"]) else None
                for event in events]

    def send_dead_letter(self, queue: str, record: dict[str, Any], group: str | None) -> None:
        self.dead_letters.append((queue, record, group))


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        self.store = Store(tmp_path)
        self.service = EventBusService(self.store, region=REGION, account_id=ACCOUNT, clock=self.clock,
                                       provisioning_delay=0)
        self.targets = Scripted()
        self.engine = DeliveryEngine(self.store, self.targets, clock=self.clock,  # type: ignore[arg-type]
                                     retry_base_delay=1.0, retry_max_delay=8.0, executor=Inline(),
                                     on_tick=self.service.settle)
        self.bus = self.service.CreateEventBus({"Name": "orders"})["EventBusArn"]
        self.service.settle()
        self.made = 0

    def subscriber(self, target: str = QUEUE, **params: Any) -> str:
        self.made += 1
        return self.service.CreateSubscriber({"Name": f"s{self.made}",
                                              "EventBusArn": self.bus,
                                              "InvokeConfiguration": {"TargetArn": target, "RoleArn": ROLE},
                                              **params})["SubscriberArn"]

    def publish(self, *numbers: int, group: str | None = None) -> None:
        system = {"EventGroupId": group} if group else {}
        self.service.PutEvents({"EventBusArn": self.bus, "Entries": [
            {"Source": "shop", "DetailType": "Order", "Detail": json.dumps({"n": n}), "SystemMetadata": system}
            for n in numbers]})

    def tick(self, advance: float = 0.0) -> list[list[int]]:
        self.clock.advance(advance)
        before = len(self.targets.calls)
        self.engine._tick(self.clock())
        return self.targets.calls[before:]

    def pending(self, subscriber: str) -> list[int]:
        return [row["attempts"] for row in self.store.query(
            "SELECT attempts FROM pending WHERE subscriber_arn = ? ORDER BY seq", (subscriber,))]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    yield made
    made.store.close()


def test_fifo_holds_the_failing_group_and_lets_the_others_go(rig: Rig) -> None:
    rig.subscriber(FIFO_QUEUE, Type="FIFO", RetryPolicy={"MaxRetryAttempts": 10})
    rig.targets.fails = lambda detail: detail["n"] == 1
    for n in (1, 2):
        rig.publish(n, group="a")
        rig.publish(n + 10, group="b")
    assert rig.tick() == [[1], [11]]          # one event per group and call (an SQS FIFO target)
    assert rig.tick() == [[12]]               # b goes on; a waits for its head to be retried
    assert rig.tick() == []
    assert rig.tick(advance=100) == [[1]]     # the retry, still failing: a's 2 still waits
    rig.targets.fails = lambda detail: False
    assert rig.tick(advance=100) == [[1]]
    assert rig.tick() == [[2]]


def test_unordered_holds_nothing_and_fills_batches(rig: Rig) -> None:
    subscriber = rig.subscriber(QUEUE, RetryPolicy={"MaxRetryAttempts": 10})
    rig.targets.fails = lambda detail: detail["n"] == 0
    rig.publish(*range(25), group="same")
    assert [len(call) for call in rig.tick()] == [10, 10, 5]
    assert rig.tick() == []
    assert rig.pending(subscriber) == [1]     # only the failing event is left, once attempted


def test_retries_run_out_then_one_record_per_failed_call(rig: Rig) -> None:
    subscriber = rig.subscriber(QUEUE, RetryPolicy={"MaxRetryAttempts": 2}, OnFailureConfiguration={"Arn": DLQ})
    rig.targets.fails = lambda detail: True
    rig.service.PutEvents({"EventBusArn": rig.bus, "Entries": [
        {"Source": "shop", "DetailType": "Order", "Detail": json.dumps({"n": n}),
         "SystemMetadata": {"EventGroupId": "g", "DeduplicationId": f"d{n}"}} for n in (1, 2)]})
    assert rig.tick() == [[1, 2]]
    assert rig.tick(advance=100) == [[1, 2]]
    assert rig.tick(advance=100) == [[1, 2]]
    assert rig.pending(subscriber) == []
    [(queue, record, group)] = rig.targets.dead_letters
    assert (queue, group) == (DLQ, "g")
    assert record["exhaustedRetryCondition"] == "MaximumRetryAttempts"
    assert record["retryAttempts"] == 2
    assert record["errorCode"] == "CUSTOMER_VALIDATION" and record["errorMessage"] == "refused"
    assert [m["deduplicationId"] for m in record["failedMessages"]] == ["d1", "d2"]
    assert {m["targetRequestId"] for m in record["failedMessages"]} == {"req-1"}
    assert rig.engine.snapshot()[subscriber]["dead_lettered"] == 2


def test_the_age_limit_counts_from_the_first_attempt(rig: Rig) -> None:
    rig.subscriber(QUEUE, RetryPolicy={"MaxRetryAttempts": 185, "MaxEventAgeInSeconds": 60},
                   OnFailureConfiguration={"Arn": DLQ})
    rig.publish(1)
    rig.targets.fails = lambda detail: True
    rig.clock.advance(3600)  # an event may wait long before its first attempt
    assert rig.tick() == [[1]]
    assert rig.tick(advance=30) == [[1]]
    assert rig.tick(advance=31) == [[1]]      # past 60 s since the first attempt
    [(_, record, _)] = rig.targets.dead_letters
    assert record["exhaustedRetryCondition"] == "MaximumEventAgeInSeconds"
    assert record["retryAttempts"] == 2


def test_the_attempt_limit_is_reported_when_both_run_out(rig: Rig) -> None:
    rig.subscriber(QUEUE, RetryPolicy={"MaxRetryAttempts": 1, "MaxEventAgeInSeconds": 60},
                   OnFailureConfiguration={"Arn": DLQ})
    rig.targets.fails = lambda detail: True
    rig.publish(1)
    rig.tick()
    rig.tick(advance=120)
    assert rig.targets.dead_letters[0][1]["exhaustedRetryCondition"] == "MaximumRetryAttempts"


def test_zero_retries_and_no_queue_drops_after_one_attempt(rig: Rig) -> None:
    subscriber = rig.subscriber(QUEUE, RetryPolicy={"MaxRetryAttempts": 0})
    rig.targets.fails = lambda detail: True
    rig.publish(1)
    assert rig.tick() == [[1]]
    counters = rig.engine.snapshot()[subscriber]
    assert (counters["attempts"], counters["dropped"], counters["dead_lettered"]) == (1, 1, 0)
    assert rig.targets.dead_letters == []


def test_the_batch_window_waits_for_more_events(rig: Rig) -> None:
    rig.subscriber(QUEUE, BatchConfiguration={"MaxBatchSize": 5, "MaxBatchWindowInSeconds": 10})
    rig.publish(1, 2)
    assert rig.tick() == []
    assert rig.tick(advance=5) == []
    rig.publish(3)
    assert rig.tick(advance=6) == [[1, 2, 3]]  # the window of the oldest has passed


def test_history_is_replay_and_new_events_are_live(rig: Rig) -> None:
    rig.publish(1, 2)
    rig.subscriber(QUEUE, StartingPosition="POINT_IN_TIME", PointInTimeConfiguration={"PointType": "HORIZON"})
    latest = rig.subscriber(QUEUE)
    rig.tick()
    rig.publish(3)
    rig.tick()
    kinds = [(view["Data"]["detail"]["n"], view["SystemMetadata"]["aws:DeliveryType"]) for view in rig.targets.views]
    assert kinds == [(1, "REPLAY"), (2, "REPLAY"), (3, "LIVE"), (3, "LIVE")]
    assert rig.engine.snapshot()[latest]["delivered"] == 1


def test_a_paused_subscriber_keeps_its_backlog_and_latest_skips_it(rig: Rig) -> None:
    subscriber = rig.subscriber(QUEUE, State="STOPPED")
    rig.publish(1)
    assert rig.tick() == []
    rig.service.UpdateSubscriber({"SubscriberArn": subscriber, "State": "RUNNING"})
    assert rig.tick() == [[1]]
    rig.service.UpdateSubscriber({"SubscriberArn": subscriber, "State": "STOPPED"})
    rig.publish(2)
    rig.service.UpdateSubscriber({"SubscriberArn": subscriber, "State": "RUNNING", "ResumePosition": "LATEST"})
    rig.publish(3)
    assert rig.tick() == [[3]]


def test_retention_expires_events_no_subscriber_still_owes(rig: Rig) -> None:
    rig.service.UpdateEventBus({"EventBusArn": rig.bus, "StorageConfiguration": {"RetentionPeriodInDays": 1}})
    owing = rig.subscriber(QUEUE, RetryPolicy={"MaxRetryAttempts": 185, "MaxEventAgeInSeconds": 86400})
    rig.targets.fails = lambda detail: detail["n"] == 1
    rig.publish(1, 2)
    rig.tick()
    rig.engine.purge(rig.clock() + 2 * 86400)
    remaining = [json.loads(row["data"])["detail"]["n"] for row in rig.store.query("SELECT data FROM events")]
    assert remaining == [1]                   # 2 was delivered and has expired; 1 is still owed
    assert rig.pending(owing) == [1]


def _event(n: int) -> DeliveryEvent:
    envelope = {"version": "0", "id": f"id-{n}", "detail": {"n": n}}
    return DeliveryEvent(seq=n, event_id=f"id-{n}", content_type="application/eventbridge+json",
                         data=json.dumps(envelope).encode(), metadata=None,
                         system_metadata={"aws:EventId": f"id-{n}", "EventGroupId": "g"}, delivery_type="LIVE")


class _Lambda:
    def __init__(self, result: Any, error: str | None = None) -> None:
        self.result, self.error, self.calls = result, error, []

    def invoke(self, **call: Any) -> dict[str, Any]:
        self.calls.append(call)
        response = {"Payload": io.BytesIO(json.dumps(self.result).encode()), "ResponseMetadata": {"RequestId": "r"}}
        if self.error:
            response["FunctionError"] = self.error
        return response


@pytest.mark.parametrize(("kind", "failed"), [("UNORDERED", [False, True, False, False]),
                                              ("FIFO", [False, True, True, True])])
def test_lambda_batch_item_failures(kind: str, failed: list[bool]) -> None:
    clients = TargetClients("http://127.0.0.1:9", REGION)
    clients.lambda_ = _Lambda({"batchItemFailures": [{"itemIdentifier": "id-2"}]})
    config = {"Type": kind, "InvokeConfiguration": {"TargetArn": FUNCTION}, "BatchConfiguration": {"MaxBatchSize": 10}}
    outcomes = clients.deliver(resolve_target(FUNCTION), config, [_event(n) for n in (1, 2, 3, 4)])
    assert [outcome is not None for outcome in outcomes] == failed
    [call] = clients.lambda_.calls
    assert call["InvocationType"] == "RequestResponse"
    assert [e["detail"]["n"] for e in json.loads(call["Payload"])] == [1, 2, 3, 4]


def test_a_function_error_fails_the_whole_batch() -> None:
    clients = TargetClients("http://127.0.0.1:9", REGION)
    clients.lambda_ = _Lambda({"errorMessage": "boom"}, error="Unhandled")
    config = {"Type": "UNORDERED", "InvokeConfiguration": {"TargetArn": FUNCTION,
                                                           "LambdaParameters": {"InvocationType": "EVENT"}},
              "BatchConfiguration": {"MaxBatchSize": 1}}
    [outcome] = clients.deliver(resolve_target(FUNCTION), config, [_event(1)])
    assert outcome is not None and "boom" in outcome.message
    call = clients.lambda_.calls[0]
    assert call["InvocationType"] == "Event"
    assert json.loads(call["Payload"])["detail"] == {"n": 1}  # MaxBatchSize 1: one object, not a list


class _Sqs:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append(Entries)
        return {"Successful": [], "Failed": [{"Id": Entries[-1]["Id"], "SenderFault": True, "Code": "MissingParameter",
                                              "Message": "no group"}], "ResponseMetadata": {"RequestId": "q"}}


def test_sqs_entries_are_built_from_the_parameters() -> None:
    clients = TargetClients("http://127.0.0.1:9", REGION)
    clients.sqs = _Sqs()
    clients._queue_urls[FIFO_QUEUE] = "http://queue"
    config = {"Type": "FIFO", "Transformer": {"Type": "RAW"}, "InvokeConfiguration": {
        "TargetArn": FIFO_QUEUE, "SqsParameters": {
            "MessageGroupId": "{% $events.SystemMetadata.EventGroupId %}",
            "MessageDeduplicationId": "{% $events.SystemMetadata.`aws:EventId` %}",
            "DelaySeconds": "{% $events.Data.detail.n %}",
            "MessageAttributes": {"order": {"DataType": "String", "StringValue": "{% $events.Data.id %}"}}}}}
    bad = _event(3)
    bad.view["Data"]["detail"]["n"] = "soon"  # DelaySeconds that is not a number: a local failure
    outcomes = clients.deliver(resolve_target(FIFO_QUEUE), config, [_event(1), bad, _event(2)])
    [entries] = clients.sqs.batches
    assert [e["Id"] for e in entries] == ["0", "2"]
    assert entries[0]["MessageGroupId"] == "g" and entries[0]["MessageDeduplicationId"] == "id-1"
    assert entries[0]["DelaySeconds"] == 1
    assert entries[0]["MessageAttributes"] == {"order": {"DataType": "String", "StringValue": "id-1"}}
    assert json.loads(entries[0]["MessageBody"])["id"] == "id-1"
    assert outcomes[0] is None
    assert outcomes[1] is not None and outcomes[1].request_id == ""  # never sent
    assert outcomes[2] is not None and outcomes[2].request_id == "q" and "MissingParameter" in outcomes[2].message
