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
