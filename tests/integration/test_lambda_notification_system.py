"""The article's notification system end to end: SNS → SQS → Lambda → SES, and its DLQ."""

from __future__ import annotations

import json
import time

import pytest

from eventlab.patterns import notification_system
from eventlab.run import Run
from eventlab.services import lambda_, recorded, sqs

pytestmark = pytest.mark.integration

SUBJECT = "Critical Application Error"
MESSAGE = {"EventSource": "UserService", "Message": "Database connection failed. User registration impacted."}


def addresses(run: Run) -> dict[str, str]:
    """Addresses unique to the run, so that SES's shared record of sent mail can be filtered."""
    return {"admin_email": f"admin-{run.run_id}@example.com", "sender": f"alerts-{run.run_id}@example.com"}


def wait_for(predicate, timeout: float = 60, interval: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def test_the_articles_message_becomes_exactly_one_email(run: Run) -> None:
    system = notification_system.deploy(run, **addresses(run))

    outputs = system.outputs()
    assert {"topic_arn", "queue_url", "function_name"} <= outputs.keys()
    attrs = sqs.get_queue_attributes(run, system.queue)
    assert {k: attrs[k] for k in ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
                                  "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout")} == {
        "DelaySeconds": "0", "MaximumMessageSize": "262144", "MessageRetentionPeriod": "345600",
        "ReceiveMessageWaitTimeSeconds": "10", "VisibilityTimeout": "300",
    }
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": system.dlq.arn, "maxReceiveCount": 5}
    tags = run.target.client("sqs").list_queue_tags(QueueUrl=system.queue.url)["Tags"]
    assert tags["Environment"] == "Dev" and tags["Project"] == "EDA-Demo" and tags["eventlab:run"] == run.run_id
    (statement,) = json.loads(attrs["Policy"])["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == system.topic.arn
    mapping = run.target.client("lambda").get_event_source_mapping(UUID=system.mapping.uuid)
    assert mapping["BatchSize"] == 10 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    system.publish(SUBJECT, MESSAGE)

    admin = system.admin_email
    sent = wait_for(lambda: recorded.sent_emails(run.target, to=admin))
    assert len(sent) == 1, sent
    time.sleep(2)  # a duplicate would have arrived by now
    sent = recorded.sent_emails(run.target, to=admin)
    assert len(sent) == 1, f"expected exactly one email, got {len(sent)}"
    (email,) = sent
    assert email.source == system.sender
    assert SUBJECT in email.subject
    assert "UserService" in email.text
    assert MESSAGE["Message"] in email.text
    assert sqs.get_queue_attributes(run, system.dlq)["ApproximateNumberOfMessages"] == "0"


def test_a_malformed_message_ends_in_the_dlq_after_five_receives(run: Run) -> None:
    system = notification_system.deploy(run, **addresses(run), visibility_timeout=2, receive_wait_seconds=1)

    system.publish(SUBJECT, "this is not JSON")

    client = run.target.client("sqs")

    def dead_letters() -> list[dict]:
        return client.receive_message(QueueUrl=system.dlq.url, WaitTimeSeconds=1).get("Messages", [])

    dead = wait_for(dead_letters, timeout=120, interval=0)
    assert len(dead) == 1, "the malformed message did not reach the DLQ"
    envelope = json.loads(dead[0]["Body"])
    assert envelope["Message"] == "this is not JSON" and envelope["Subject"] == SUBJECT

    def rejections() -> int:
        return sum("rejected (malformed)" in line for line in lambda_.filter_log_events(run, system.function))

    assert wait_for(lambda: rejections() >= 5, timeout=30)
    assert rejections() == 5, "the handler should have seen it once per receive, 5 times"
    assert recorded.sent_emails(run.target, to=system.admin_email) == []


def test_the_articles_own_handler_deletes_a_malformed_alert_and_loses_every_subject(run: Run) -> None:
    lesson = notification_system.article_handler_lesson(run, **addresses(run), visibility_timeout=2)

    assert lesson.decode_errors == 1, "the article's handler returns success, so the alert is never received again"
    assert lesson.left_in_queue == 0 and lesson.in_dlq == [], "Lambda deleted it: nothing waits, nothing reached the DLQ"
    assert lesson.logged_subjects == ["No Subject"], f"Subject is on the envelope, not in the message: {lesson.logged_subjects}"


def test_the_fixed_handler_sends_back_only_the_malformed_record_of_a_batch(run: Run) -> None:
    system = notification_system.deploy(run, **addresses(run), visibility_timeout=2, receive_wait_seconds=1)

    partial = notification_system.partial_batch(system, timeout=120)

    assert [json.loads(m["Body"])["Message"] for m in partial.dlq_messages] == [notification_system.MALFORMED]
    assert partial.rejections == 5 and partial.emails_for_good == 1, partial
    assert partial.shared_invocation, "the good and the malformed alert should have come in one batch"


def test_destroy_by_run_id_removes_everything(run: Run) -> None:
    notification_system.deploy(run, **addresses(run))
    report = notification_system.destroy(Run(run.target, run_id=run.run_id))
    assert report.ok, report.failed
    assert run.leaks() == []
    assert not run.target.client("lambda").list_event_source_mappings(
        FunctionName=run.name(notification_system.NAMES["function"])
    )["EventSourceMappings"]
