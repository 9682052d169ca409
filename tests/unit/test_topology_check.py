"""The offline checker: what AWS would refuse, or accept and then silently drop, with its source.

Each row is a topology AWS would not deliver through, the rule it breaks, where AWS says so,
and a fragment of the problem the checker must name. ``eventlab check`` is the same check on
a file: exit 0 when AWS would accept it, 1 otherwise, one line per problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventlab.cli import main
from eventlab.locations import data_dir
from eventlab.services import kms, lambda_, sns
from eventlab.topology.model import Topology
from eventlab.topology.validate import check

TODAY = date(2026, 12, 1)
RUNTIMES = lambda_.RUNTIMES_PAGE


@dataclass(frozen=True)
class Row:
    name: str
    rule: str
    source: str
    topology: dict[str, Any]
    problem: str


def _rule_to(arn: str, **target: Any) -> dict[str, Any]:
    return {"name": "r", "event_pattern": {"source": ["shop"]}, "targets": [{"id": "t", "arn": arn, **target}]}


def _function(**fields: Any) -> dict[str, Any]:
    return {"name": "f", "code": "eventlab:notification", "handler": "main.handler", **fields}


ROWS = [
    Row("eventbridge-to-aws-managed-topic", "a service publisher cannot use an AWS-managed key", kms.SNS_KEY_MANAGEMENT,
        {"topics": [{"name": "t", "kms_key": "alias/aws/sns"}], "rules": [_rule_to("topic:t")]},
        "EventBridge (events.amazonaws.com) sends to it, but it is encrypted with the AWS-managed key alias/aws/sns"),
    Row("sns-to-aws-managed-queue", "SNS cannot deliver to a queue under an AWS-managed key", kms.SQS_KEY_MANAGEMENT,
        {"queues": [{"name": "q", "kms_key": "alias/aws/sqs"}], "topics": [{"name": "t", "subscriptions": [{"protocol": "sqs", "endpoint": "queue:q"}]}]},
        "SNS (sns.amazonaws.com) sends to it, but it is encrypted with the AWS-managed key alias/aws/sqs"),
    Row("eventbridge-to-aws-managed-queue", "EventBridge cannot send to a queue under an AWS-managed key", kms.SQS_KEY_MANAGEMENT,
        {"queues": [{"name": "q", "kms_key": "arn:aws:kms:us-east-1:123456789012:alias/aws/sqs"}], "rules": [_rule_to("queue:q")]},
        "silently drops those deliveries"),
    Row("eventbridge-dlq-aws-managed", "a rule target's DLQ is written by EventBridge", kms.SQS_KEY_MANAGEMENT,
        {"queues": [{"name": "q"}, {"name": "dlq", "kms_key": "alias/aws/sqs"}], "rules": [_rule_to("queue:q", dead_letter="dlq")]},
        "queue 'dlq': EventBridge"),
    Row("key-on-unencrypted", "a KMS key needs encryption on", kms.SQS_KEY_MANAGEMENT,
        {"queues": [{"name": "q", "encrypted": False, "kms_key": "alias/mine"}]}, "needs encrypted: true"),
    Row("sqs-batch-without-window", "a standard queue's BatchSize over 10 needs a batching window",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html",
        {"queues": [{"name": "q", "visibility_timeout": 180}], "functions": [_function(event_sources=[{"source": "queue:q", "batch_size": 50}])]},
        "needs batching_window of 1 s or more"),
    Row("sqs-fifo-batch", "a FIFO queue takes BatchSize 1 to 10", "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html",
        {"queues": [{"name": "q.fifo", "fifo": True, "visibility_timeout": 180}], "functions": [_function(event_sources=[{"source": "queue:q.fifo", "batch_size": 11}])]},
        "batch_size for"),
    Row("sqs-fifo-window", "a FIFO queue takes no batching window", "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html",
        {"queues": [{"name": "q.fifo", "fifo": True, "visibility_timeout": 180}], "functions": [_function(event_sources=[{"source": "queue:q.fifo", "batching_window": 5}])]},
        "no batching window from a FIFO queue"),
    Row("sqs-visibility-below-timeout", "the queue's visibility timeout covers the function timeout",
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html",
        {"queues": [{"name": "q", "visibility_timeout": 10}], "functions": [_function(timeout=30, event_sources=[{"source": "queue:q"}])]},
        "visibility timeout (10 s) is shorter than the function timeout"),
    Row("kinesis-batch-size", "a Kinesis mapping takes BatchSize 1 to 10,000", "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html",
        {"streams": [{"name": "s"}], "functions": [_function(event_sources=[{"source": "stream:s", "batch_size": 10_001}])]},
        "batch_size for stream:s"),
    Row("kinesis-window", "a batching window is at most 300 s", "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html",
        {"streams": [{"name": "s"}], "functions": [_function(event_sources=[{"source": "stream:s", "batching_window": 301}])]},
        "batching_window for stream:s"),
    Row("runtime-blocked", "AWS refuses to create functions past a runtime's block-create date", RUNTIMES,
        {"functions": [_function(runtime="python3.8")]}, "Lambda refuses CreateFunction with runtime 'python3.8' since 2025-02-28"),
    Row("standard-topic-to-fifo-queue", "a standard topic cannot deliver to a FIFO queue", sns.FIFO_MESSAGE_DELIVERY,
        {"queues": [{"name": "q.fifo", "fifo": True}], "topics": [{"name": "t", "subscriptions": [{"protocol": "sqs", "endpoint": "queue:q.fifo"}]}]},
        "a standard topic cannot deliver to the FIFO queue"),
    Row("eventbridge-to-fifo-topic", "EventBridge does not deliver to SNS FIFO topics",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html",
        {"topics": [{"name": "t.fifo", "fifo": True}], "rules": [_rule_to("topic:t.fifo")]}, "does not deliver to SNS FIFO topics"),
    Row("filter-policy-numeric-bound", "SNS numeric bounds are within plus or minus 1e9",
        "https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html",
        {"queues": [{"name": "q"}], "topics": [{"name": "t", "subscriptions": [
            {"protocol": "sqs", "endpoint": "queue:q", "filter_policy": {"n": [{"numeric": ["<", 2e9]}]}}]}]},
        "outside the -1e+09 to 1e+09"),
    Row("pattern-consecutive-wildcards", "EventBridge does not support consecutive wildcards",
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html",
        {"rules": [{"name": "r", "event_pattern": {"detail": {"f": [{"wildcard": "a**"}]}}}]}, "consecutive wildcard characters"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_each_topology_aws_would_refuse_or_drop_is_named_with_its_fix(row: Row) -> None:
    assert row.source.startswith("https://docs.aws.amazon.com/"), "every rule cites its AWS page"
    report = check(Topology.from_dict(row.topology), today=TODAY)
    assert any(row.problem in p for p in report.problems), f"{row.rule}: expected {row.problem!r} in {report.problems}"


def test_a_deprecated_runtime_is_created_with_a_warning_until_its_block_date() -> None:
    topology = Topology.from_dict({"functions": [_function(runtime="python3.9")]})
    report = check(topology, today=TODAY)
    assert report.ok and any("python3.9 is deprecated" in w and "2027-02-01" in w for w in report.warnings)
    assert not check(topology, today=date(2027, 2, 1)).ok, "past its block-create date AWS refuses it"
    assert check(topology, today=date(2025, 1, 1)).warnings == [], "before its deprecation it is plain supported"


def test_services_publishing_get_a_customer_managed_key_and_the_rest_do_not() -> None:
    from eventlab.topology.plan import customer_managed_keys

    topology = Topology.from_yaml(data_dir() / "topologies" / "fanout.yaml")
    assert sorted(customer_managed_keys(topology)) == [
        ("queue", "big-orders"), ("queue", "eu-orders"), ("queue", "ledger.fifo"), ("queue", "orders"), ("topic", "order-events")]
    policy = kms.key_policy("123456789012", "us-east-1", "sns", {"events.amazonaws.com": {"arn:aws:events:us-east-1:123456789012:rule/r"}})
    publisher = [s for s in policy["Statement"] if s.get("Principal", {}).get("Service")]
    assert publisher == [{"Sid": "PublisherEvents", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                          "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
                          "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/r"}}}]
    assert kms.is_aws_managed("alias/aws/sns") and not kms.is_aws_managed("alias/el-x-topic-t") and not kms.is_aws_managed(None)


@pytest.mark.parametrize("path", sorted((data_dir() / "topologies").glob("*.yaml")), ids=lambda p: p.stem)
def test_eventlab_check_passes_on_every_shipped_topology(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(path)]) == 0
    assert "AWS would accept it" in capsys.readouterr().err


def test_eventlab_check_exits_1_with_one_line_per_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"topics": [{"name": "t", "kms_key": "alias/aws/sns"}], "rules": [_rule_to("topic:t")],
                                    "functions": [_function(runtime="python3.8")]}))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and all(line.startswith("bad.yaml: ") for line in out)
    assert any("alias/aws/sns" in line for line in out) and any("python3.8" in line for line in out)


def test_eventlab_check_takes_variables_and_shipped_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "ecommerce", "--var", "function_timeout=60", "--var", "visibility_timeout=360"]) == 0
    assert main(["check", "ecommerce", "--var", "visibility_timeout=10"]) == 1, "shorter than the function timeout"
    assert "visibility timeout" in capsys.readouterr().out
    assert main(["check", "ecommerce", "--var", "nope=1"]) == 1
    assert "unknown variable" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "missing.yaml")]) == 2


def test_apply_refuses_what_aws_would_drop_before_any_call() -> None:
    """topology.apply runs the same checks first: nothing reaches the target."""
    from eventlab.run import Run
    from eventlab.topology import TopologyError, apply

    class NoCalls:
        is_emulated = True
        region = "us-east-1"
        account_id = "000000000000"

        def client(self, service: str) -> object:
            raise AssertionError(f"the check must refuse before any {service} call")

    row = ROWS[0]
    run = Run(NoCalls())  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="AWS-managed key alias/aws/sns"):
        apply(Topology.from_dict(row.topology), run)
    assert run.resources == []
