"""Generated policies grant one service, for named sources only: no wildcard principals."""

from __future__ import annotations

import pytest

from eventlab import policies


def test_resource_policy_is_scoped_to_the_source_arns() -> None:
    policy = policies.service_may_call(
        sid="s", service="sns.amazonaws.com", action="sqs:SendMessage",
        resource_arn="arn:aws:sqs:us-east-1:1:q", source_arns=["arn:aws:sns:us-east-1:1:t"],
    )
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Resource"] == "arn:aws:sqs:us-east-1:1:q"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:1:t"}}
    assert "*" not in policies.to_json(policy)


def test_a_resource_policy_without_sources_is_refused() -> None:
    with pytest.raises(ValueError, match="source ARNs"):
        policies.service_may_call(sid="s", service="x", action="a", resource_arn="r", source_arns=[])


def test_identity_statements_name_exact_resources() -> None:
    statement = policies.allow(["s3:PutObject", "s3:PutObject"], ["arn:aws:s3:::b/*"])
    assert statement == {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::b/*"]}
    with pytest.raises(ValueError):
        policies.allow(["s3:PutObject"], [])


QUEUE = "arn:aws:sqs:us-east-1:1:q"
TOPIC_A = "arn:aws:sns:us-east-1:1:a"
TOPIC_B = "arn:aws:sns:us-east-1:1:b"
RULE = "arn:aws:events:us-east-1:1:rule/r"


def _sources(policy: dict, service: str) -> list[str]:
    (statement,) = [s for s in policy["Statement"] if s.get("Principal") == {"Service": service}]
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    return [sources] if isinstance(sources, str) else sources


def test_a_second_topic_is_added_to_the_grant_not_put_in_its_place() -> None:
    first = policies.merge(None, "sqs:SendMessage", QUEUE, {"sns.amazonaws.com": [TOPIC_A]})
    second = policies.merge(policies.to_json(first), "sqs:SendMessage", QUEUE, {"sns.amazonaws.com": [TOPIC_B]})
    assert _sources(second, "sns.amazonaws.com") == [TOPIC_A, TOPIC_B]
    assert len(second["Statement"]) == 1, "one statement per service principal and action"


def test_merging_the_same_grant_again_changes_nothing() -> None:
    once = policies.merge(None, "sqs:SendMessage", QUEUE, {"sns.amazonaws.com": [TOPIC_A], "events.amazonaws.com": [RULE]})
    twice = policies.merge(once, "sqs:SendMessage", QUEUE, {"sns.amazonaws.com": [TOPIC_A], "events.amazonaws.com": [RULE]})
    assert twice == once
    assert {s["Sid"] for s in once["Statement"]} == {"AllowSns", "AllowEvents"}


def test_foreign_statements_are_kept_and_their_sids_not_reused() -> None:
    foreign = {"Sid": "AllowSns", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/ops"},
               "Action": "sqs:SendMessage", "Resource": QUEUE}
    default_topic = {"Id": "__default_policy_ID", "Version": "2008-10-17", "Statement": [foreign]}
    merged = policies.merge(default_topic, "sqs:SendMessage", QUEUE, {"sns.amazonaws.com": [TOPIC_A]})
    assert merged["Statement"][0] == foreign and merged["Id"] == "__default_policy_ID"
    assert merged["Version"] == "2008-10-17", "the existing policy's version is kept"
    assert merged["Statement"][1]["Sid"] == "AllowSns2"
    assert _sources(merged, "sns.amazonaws.com") == [TOPIC_A]


def test_a_statement_with_other_conditions_is_not_widened() -> None:
    """Only statements of exactly the shape eventlab writes take new sources."""
    scoped = {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
              "Resource": QUEUE, "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC_A}, "StringEquals": {"aws:SourceAccount": "1"}}}
    merged = policies.merge({"Statement": [scoped]}, "sqs:SendMessage", QUEUE, {"sns.amazonaws.com": [TOPIC_B]})
    assert merged["Statement"][0] == scoped
    assert len(merged["Statement"]) == 2


def test_sms_publish_covers_no_topic() -> None:
    statement = policies.allow_sms_publish()
    assert statement == {"Effect": "Allow", "Action": ["sns:Publish"], "NotResource": ["arn:aws:sns:*:*:*"]}
    assert "Resource" not in statement, "no Resource '*': that would cover every topic in the account"


def test_iam_counts_policy_size_without_whitespace() -> None:
    policy = policies.document(policies.allow(["s3:GetObject"], ["arn:aws:s3:::a b/*"]))
    assert policies.iam_size(policy) == len(policies.to_json(policy)) - 1


def test_one_table_says_what_sending_to_and_reading_from_each_kind_takes() -> None:
    queue, stream = "arn:aws:sqs:us-east-1:1:q", "arn:aws:kinesis:us-east-1:1:stream/s"
    assert policies.may_send_to(queue) == [{"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [queue]}]
    (read,) = policies.may_read_from(stream)
    assert "kinesis:GetRecords" in read["Action"] and read["Resource"] == [stream]
    # a bucket's object actions name its objects, its bucket actions the bucket
    objects, bucket = policies.may_send_to("arn:aws:s3:::b")
    assert objects["Resource"] == ["arn:aws:s3:::b/*"] and "s3:PutObject" in objects["Action"]
    assert bucket["Resource"] == ["arn:aws:s3:::b"] and all(not a.endswith("Object") for a in bucket["Action"])
    (logs,) = policies.may_send_to("arn:aws:logs:us-east-1:1:log-group:/aws/lambda/f")
    assert logs["Resource"] == ["arn:aws:logs:us-east-1:1:log-group:/aws/lambda/f:*"]
    for table in (policies.SENDS_TO, policies.READS_FROM):
        assert all("*" not in action for accesses in table.values() for a in accesses for action in a.actions)


def test_a_kind_the_table_does_not_know_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"no way to read from .*only kinesis, s3, sqs"):
        policies.may_read_from("arn:aws:sns:us-east-1:1:t")
    with pytest.raises(ValueError, match="not an ARN"):
        policies.may_send_to("queue:orders")
