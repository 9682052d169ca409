"""LocalStack's own Lambda machinery, running handlers through eventlab's executor: SQS event
source mappings, SNS and EventBridge targets, async invocation failures to a destination and a DLQ.
"""

from __future__ import annotations

import json
import time

import pytest
from lambda_helpers import PROBE, receive

from eventlab import policies
from eventlab.run import Run
from eventlab.services import events, lambda_, sns, sqs

pytestmark = pytest.mark.integration


def test_sqs_mapping_batches_reports_item_failures_and_redrives_to_the_dlq(run: Run) -> None:
    sink = sqs.create_queue(run, "sink")
    dlq = sqs.create_queue(run, "work-dlq")
    queue = sqs.create_queue(
        # AWS's advice: at least six times the function's timeout, so a cold start never outlasts it
        run, "work", dead_letter_queue=dlq, max_receive_count=2, attributes={"VisibilityTimeout": 12}
    )
    function = lambda_.create_function(
        run,
        "consumer",
        PROBE,
        timeout=2,
        environment={"SINK_QUEUE_URL": sink.url},
        statements=[policies.allow(["sqs:SendMessage"], [sink.arn])],
    )
    mapping = lambda_.create_event_source_mapping(
        run, function, queue.arn, batch_size=3, maximum_batching_window=1, report_batch_item_failures=True
    )
    described = run.target.client("lambda").get_event_source_mapping(UUID=mapping.uuid)
    assert described["BatchSize"] == 3
    assert described["MaximumBatchingWindowInSeconds"] == 1
    assert described["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    client = run.target.client("sqs")
    bodies = [f"good-{i}" for i in range(7)]
    for body in [*bodies, "poison-1"]:
        client.send_message(QueueUrl=queue.url, MessageBody=body)

    got = receive(run, sink, len(bodies))
    assert sorted(g["body"] for g in got) == sorted(bodies)  # each good record once: not retried
    assert max(g["batch"] for g in got) <= 3

    dead = []
    deadline = time.monotonic() + 90
    while not dead and time.monotonic() < deadline:
        reply = client.receive_message(
            QueueUrl=dlq.url, WaitTimeSeconds=1, AttributeNames=["ApproximateReceiveCount"]
        )
        dead = reply.get("Messages", [])
    assert [m["Body"] for m in dead] == ["poison-1"], "the failed record did not reach the DLQ"
    # The handler saw the failed record once per receive, maxReceiveCount times, then SQS moved it.
    assert wait_for_log_count(run, function, "probe: rejecting", 2) == 2
    assert not receive(run, sink, 1, timeout=2), "a good record was processed twice"


def wait_for_log_count(run: Run, function: lambda_.Function, text: str, expected: int, timeout: float = 30) -> int:
    """How many log lines contain ``text``, waiting until at least ``expected`` (logs arrive async)."""
    deadline = time.monotonic() + timeout
    while True:
        count = sum(text in line for line in lambda_.filter_log_events(run, function))
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


def test_sns_topic_invokes_the_function(run: Run) -> None:
    sink = sqs.create_queue(run, "sink")
    function = lambda_.create_function(
        run, "on-alert", PROBE, environment={"SINK_QUEUE_URL": sink.url},
        statements=[policies.allow(["sqs:SendMessage"], [sink.arn])],
    )
    topic = sns.create_topic(run, "alerts")
    lambda_.add_permission(run, function, principal="sns.amazonaws.com", source_arn=topic.arn)
    sns.subscribe(run, topic, "lambda", function.arn)
    policy = json.loads(run.target.client("lambda").get_policy(FunctionName=function.name)["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == topic.arn

    sns.publish(run, topic, "disk almost full")
    got = receive(run, sink, 1)
    assert [(g["from"], g["message"]) for g in got] == [("sns", "disk almost full")]


def test_eventbridge_rule_invokes_the_function(run: Run) -> None:
    sink = sqs.create_queue(run, "sink")
    function = lambda_.create_function(
        run, "on-order", PROBE, environment={"SINK_QUEUE_URL": sink.url},
        statements=[policies.allow(["sqs:SendMessage"], [sink.arn])],
    )
    bus = events.create_event_bus(run, "shop")
    rule = events.put_rule(run, bus, "placed", event_pattern={"source": ["shop.orders"]})
    lambda_.add_permission(run, function, principal="events.amazonaws.com", source_arn=rule.arn)
    events.put_targets(run, rule, [{"Id": "fn", "Arn": function.arn}])

    events.put_events(
        run,
        [
            {"EventBusName": bus.name, "Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": '{"id": 7}'},
            {"EventBusName": bus.name, "Source": "shop.other", "DetailType": "Ignored", "Detail": '{"id": 8}'},
        ],
    )
    got = receive(run, sink, 1)
    assert [(g["from"], g["detail"]) for g in got] == [("events", {"id": 7})]
    assert not receive(run, sink, 1, timeout=3), "the unmatched event was delivered too"


def test_async_failure_goes_to_the_on_failure_destination_and_the_dlq(run: Run) -> None:
    failures = sqs.create_queue(run, "on-failure")
    dlq = sqs.create_queue(run, "fn-dlq")
    function = lambda_.create_function(
        run, "flaky", PROBE, environment={"SINK_QUEUE_URL": "unused"}, dead_letter_target_arn=dlq.arn
    )
    lambda_.put_function_event_invoke_config(run, function, maximum_retry_attempts=0, on_failure=failures.arn)

    result = lambda_.invoke(run, function, {"fail": "async"}, invocation_type="Event")
    assert result.status_code == 202

    (record,) = receive(run, failures, 1)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"fail": "async"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "ValueError"
    (dead,) = receive(run, dlq, 1)
    assert dead == {"fail": "async"}
