"""Offline pieces of the troubleshooting experiments: the queue-policy evaluator and the
diagnosis helpers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from eventlab import policies
from eventlab.experiments import sqs as sqs_experiments
from eventlab.experiments import troubleshooting as trouble
from eventlab.services import events

QUEUE = "arn:aws:sqs:us-east-1:000000000000:el-x-q"
TOPIC = "arn:aws:sns:us-east-1:000000000000:el-x-t"
OTHER = "arn:aws:sns:us-east-1:000000000000:el-x-old"


def _policy(*sources: str) -> dict:
    return policies.services_may_call("sqs:SendMessage", QUEUE, {"sns.amazonaws.com": sources})


def test_a_policy_for_the_topic_admits_it() -> None:
    ok, why = policies.queue_policy_admits(_policy(TOPIC), queue_arn=QUEUE, source_arn=TOPIC)
    assert ok and "allows sns.amazonaws.com" in why


def test_a_policy_for_another_topic_does_not_and_says_why() -> None:
    ok, why = policies.queue_policy_admits(json.dumps(_policy(OTHER)), queue_arn=QUEUE, source_arn=TOPIC)
    assert not ok and OTHER in why and TOPIC in why


def test_no_policy_admits_nothing() -> None:
    assert policies.queue_policy_admits(None, queue_arn=QUEUE, source_arn=TOPIC) == (
        False, "the queue has no policy: no service may send to it",
    )


@pytest.mark.parametrize(
    ("statement", "admitted"),
    [
        ({"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": QUEUE}, False),
        ({"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:ReceiveMessage", "Resource": QUEUE}, False),
        ({"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:*", "Resource": QUEUE}, True),
        ({"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:*:*:el-x-*",
          "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:el-x-*"}}}, True),
        ({"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
          "Resource": "arn:aws:sqs:us-east-1:000000000000:another"}, False),
    ],
    ids=["other-service", "other-action", "wildcard-action", "arnlike", "other-queue"],
)
def test_statement_parts(statement: dict, admitted: bool) -> None:
    assert policies.queue_policy_admits(policies.document(statement), queue_arn=QUEUE, source_arn=TOPIC)[0] is admitted


def test_an_explicit_deny_wins() -> None:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage", "Resource": QUEUE}
    doc = _policy(TOPIC)
    doc["Statement"].append(deny)
    ok, why = policies.queue_policy_admits(doc, queue_arn=QUEUE, source_arn=TOPIC)
    assert not ok and "denies" in why


def test_an_unknown_condition_operator_is_not_taken_as_matching() -> None:
    statement = {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                 "Resource": QUEUE, "Condition": {"IpAddress": {"aws:SourceArn": TOPIC}}}
    ok, why = policies.queue_policy_admits(policies.document(statement), queue_arn=QUEUE, source_arn=TOPIC)
    assert not ok and "not evaluated" in why


def test_pattern_leaves_and_nesting() -> None:
    pattern = {"source": ["a"], "detail": {"total": [{"numeric": [">", 1]}], "x": {"y": ["z"]}}}
    leaves = dict(trouble._leaves(pattern))
    assert set(leaves) == {("source",), ("detail", "total"), ("detail", "x", "y")}
    assert trouble._nest(("detail", "x", "y"), ["z"]) == {"detail": {"x": {"y": ["z"]}}}


def test_full_event_has_what_test_event_pattern_needs() -> None:
    entry = {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"total": 1})}
    event = events.envelope_of(entry, account="000000000000", region="us-east-1")
    assert {"id", "account", "source", "time", "region", "resources", "detail-type", "detail"} <= set(event)
    assert event["detail"] == {"total": 1}


def test_diagnose_filter_finds_a_key_in_the_body_only() -> None:
    table = trouble.diagnose_filter({"event_type": ["paid"], "store": ["x"]}, "MessageAttributes",
                                    json.dumps({"event_type": "paid"}), {"store": {"DataType": "String"}})
    assert table.loc["event_type"].tolist() == [False, True, "MessageAttributes"]
    assert table.loc["store", "in attributes"] and not table.loc["store", "in body"]


def test_delivered_attributes_are_read_from_the_message() -> None:
    message = {"Body": "{}", "MessageAttributes": {"event_type": {"DataType": "String", "StringValue": "paid"},
                                                   "blob": {"DataType": "Binary", "BinaryValue": b"x"}}}
    attributes = trouble.delivered_attributes(message)
    assert attributes == {"event_type": "paid", "blob": b"x"}
    table = trouble.diagnose_filter({"event_type": ["paid"]}, "MessageAttributes", message["Body"], attributes)
    assert table.loc["event_type", "in attributes"] and not table.loc["event_type", "in body"]
    assert trouble.delivered_attributes({"Body": "{}"}) == {}


def test_diagnose_dlq_names_the_cause() -> None:
    view = pd.DataFrame([
        {"body": json.dumps({"order": "a", "amount": "1,5"}), "receive_count": 3, "source_queue": "q"},
        {"body": json.dumps({"order": "b", "amount": "1.5"}), "receive_count": 3, "source_queue": "q"},
    ])
    causes = trouble.diagnose_dlq(view, sqs_experiments.strict_amount)
    assert causes.loc[0, "cause"].startswith("ValueError") and causes.loc[1, "cause"] == ""
    assert trouble.diagnose_dlq(view, sqs_experiments.tolerant_amount)["cause"].tolist() == ["", ""]


def test_a_correlation_ids_trace_is_its_lines_in_order_and_its_filter_selects_the_field() -> None:
    lines = [trouble.structured_line("producer", "a", order="o-1"), "not json", trouble.structured_line("producer", "b", order="o-2")]
    later = json.loads(trouble.structured_line("queue consumer", "a", order="o-1"))
    later["at_ms"] += 5
    lines.append(json.dumps(later))
    frame = trouble.trace(lines, "a")
    assert frame["hop"].tolist() == ["producer", "queue consumer"] and set(frame["order"]) == {"o-1"}
    assert trouble.correlation_filter("a") == '{ $.correlation_id = "a" }'


def test_an_alarm_period_aws_refuses_is_refused_before_any_call() -> None:
    from eventlab.services import cloudwatch

    for period in (15, 90):
        with pytest.raises(ValueError, match=f"not {period}"):
            cloudwatch.put_metric_alarm(None, "x", namespace="n", metric="m", dimensions={}, threshold=1, period=period)  # type: ignore[arg-type]
