"""Experiments without an emulator: path grouping, the tidy table, published figures, costs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from eventlab.experiments import compare, practices
from eventlab.measure.load import RetryPolicy


def test_path_groups_share_one_kinesis_load_and_reject_unknown_paths() -> None:
    assert compare.path_groups(["kinesis-efo", "sqs", "kinesis"]) == [("sqs",), ("kinesis", "kinesis-efo")]
    assert compare.path_groups(compare.ALL_PATHS)[-2:] == [("kinesis", "kinesis-efo"), ("sqs-lambda",)]
    with pytest.raises(ValueError, match="unknown path"):
        compare.path_groups(["sqs", "carrier-pigeon"])


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": ["kinesis", "sqs"],
            "sent": [4, 4], "delivered": [4, 3], "lost": [0, 1], "duplicates": [0, 2],
            "inversions": [0, 2], "max_reorder_distance": [0, 1],
            "latency_p50_ms": [100.0, 5.0], "latency_p90_ms": [150.0, 8.0],
            "latency_p99_ms": [190.0, 9.0], "latency_max_ms": [200.0, 10.0],
            "send_delay_p99_ms": [1.0, 0.5],
        }
    )


def _messages() -> pd.DataFrame:
    s = 1_000_000_000
    return pd.DataFrame(
        {
            "path": ["sqs"] * 3 + ["kinesis"] * 4,
            "msg_id": ["a", "b", "c", "a", "b", "c", "d"],
            "intended_ns": [0, s // 2, s, 0, s // 2, s, 3 * s // 2],
            "received_ns": [10, s // 2 + 10, s + 10, s, s, s, 2 * s],
        }
    )


def test_tidy_orders_paths_and_computes_delivered_rate() -> None:
    table = compare.tidy(_summary(), _messages(), keys=2)
    assert table["path"].tolist() == ["sqs", "kinesis"]  # ALL_PATHS order, not input order
    sqs = table.set_index("path").loc["sqs"]
    assert sqs["service"] == "SQS standard" and sqs["inversions_per_key"] == 1.0 and sqs["lost"] == 1
    assert sqs["delivered_per_s"] == pytest.approx(3 / ((1_000_000_010) / 1e9))
    assert table.set_index("path").loc["kinesis", "delivered_per_s"] == pytest.approx(2.0)
    assert compare.tidy(pd.DataFrame(), pd.DataFrame(), keys=1).empty


def test_every_published_figure_names_its_source_and_maps_to_paths() -> None:
    latency = compare.published_latency()
    assert latency["source"].str.len().gt(0).all()
    mapped = {p for paths in latency["local_paths"] for p in paths}
    assert mapped <= set(compare.ALL_PATHS)
    assert {"sqs", "sqs-fifo", "sns-sqs", "events-sqs", "kinesis", "kinesis-efo"} <= mapped
    row = latency.set_index("service").loc["SQS FIFO"]
    assert (row["p50_ms"], row["p99_ms"]) == (28.1, 645)
    other = compare.published_other()
    assert other["source"].str.len().gt(0).all() and len(other) >= 5


def test_a_published_figure_without_a_source_is_refused(tmp_path) -> None:
    bad = tmp_path / "figures.yaml"
    bad.write_text("latency:\n  - service: X\n    p50_ms: 1\n    p99_ms: 2\n    local_paths: [sqs]\nother: []\n")
    with pytest.raises(ValueError, match="needs a source"):
        compare.load_published(bad)


def test_beside_published_matches_local_paths_and_leaves_the_rest_blank() -> None:
    table = pd.DataFrame({"path": ["sqs-lambda", "sqs", "unknown"], "p50_ms": [1.0, 2.0, 3.0], "p99_ms": [4.0, 5.0, 6.0]})
    beside = compare.beside_published(table).set_index("path")
    assert beside.loc["sqs", "aws_p50_ms"] == 16.2 and beside.loc["sqs-lambda", "aws_p99_ms"] == 105
    assert math.isnan(beside.loc["unknown", "aws_p50_ms"])
    fig = compare.plot_beside_published(beside.reset_index())
    assert len(fig.axes[0].containers) == 4


def test_retry_policies_and_fixed_backoff() -> None:
    policies = practices.retry_policies(max_attempts=7, delay_s=0.3)
    assert list(policies) == ["no retries", "fixed backoff", "exponential, full jitter"]
    assert policies["no retries"].max_attempts == 1
    fixed = policies["fixed backoff"]
    assert isinstance(fixed, practices.FixedBackoff) and isinstance(fixed, RetryPolicy)
    assert fixed.max_attempts == 7 and {fixed.backoff(n) for n in range(1, 6)} == {0.3}
    jitter = policies["exponential, full jitter"]
    assert all(0 <= jitter.backoff(n) <= min(jitter.cap_s, jitter.base_s * 2 ** (n - 1)) for n in range(1, 10))


def test_polling_cost_is_requests_times_the_stated_price() -> None:
    polling = pd.DataFrame(
        {"requests_per_message": [4.0, 3.0], "idle_receives_per_s": [10.0, 0.05]}, index=["short polling", "long polling"]
    )
    cost = practices.polling_cost(polling, price_per_million=0.5, messages_per_month=2_000_000, consumers=2)
    assert cost.loc["short polling", "busy_cost_usd"] == pytest.approx(4 * 2 * 0.5)
    assert cost.loc["long polling", "idle_requests_per_month"] == pytest.approx(0.05 * practices.SECONDS_PER_MONTH * 2)
    assert cost.loc["short polling", "idle_cost_usd"] == pytest.approx(10 * practices.SECONDS_PER_MONTH * 2 * 0.5 / 1e6)
    assert (cost["price_per_million_usd"] == 0.5).all()
    assert practices.ratio(cost, "idle_cost_usd", "short polling", "long polling") == pytest.approx(200)
    assert not cost["idle_measured"].any()


def test_polling_cost_bills_the_measured_idle_rate_when_given() -> None:
    polling = pd.DataFrame(
        {"requests_per_message": [4.0, 3.0], "idle_receives_per_s": [10.0, 0.05]}, index=["short polling", "long polling"]
    )
    idle = pd.DataFrame({"receives_per_s": [12.0, 0.2]}, index=["short polling", "long polling"])
    cost = practices.polling_cost(polling, idle, price_per_million=0.5)
    assert cost["idle_measured"].all()
    assert cost.loc["long polling", "idle_requests_per_month"] == pytest.approx(0.2 * practices.SECONDS_PER_MONTH)
    assert cost.loc["short polling", "idle_cost_usd"] == pytest.approx(12 * practices.SECONDS_PER_MONTH * 0.5 / 1e6)
    with pytest.raises(ValueError, match="no idle measurement for short polling"):
        practices.polling_cost(polling, idle.loc[["long polling"]])


QUEUE = "arn:aws:sqs:us-east-1:123456789012:el-abcdefgh-orders"
TOPIC = "arn:aws:sns:us-east-1:123456789012:el-abcdefgh-paid"


def test_policy_findings_name_each_grant_beyond_least_privilege() -> None:
    from eventlab import policies

    assert practices.policy_findings(policies.document(*policies.may_read_from(QUEUE)), [QUEUE]) == []
    broad = policies.document(
        {"Effect": "Allow", "Action": ["sqs:*"], "Resource": [QUEUE]},
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [QUEUE.replace("orders", "other")]},
        {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": [QUEUE]},
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": QUEUE},
        {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": QUEUE,
         "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC.replace("paid", "old")}}},
        policies.allow_sms_publish(),
    )
    findings = practices.policy_findings(broad, [QUEUE], sources=[TOPIC])
    assert findings == [
        "statement 1: wildcard action 'sqs:*'",
        "statement 2: wildcard resource '*'",
        f"statement 3: {QUEUE.replace('orders', 'other')} is not among what the principal is wired to",
        f"statement 4: sns:Publish is not an action of sqs, the service of {QUEUE}",
        "statement 5: a service grant without an aws:SourceArn condition",
        "statement 6: principal '*' is not one AWS service",
        f"statement 6: source {TOPIC.replace('paid', 'old')} is not wired to this resource",
        "statement 7: NotResource ['arn:aws:sns:*:*:*'] grants every other resource",
    ]
    assert practices.policy_findings(policies.document(policies.allow_sms_publish()), [], sms=True) == []
    granted = policies.merge(None, "sqs:SendMessage", QUEUE, {"sns.amazonaws.com": [TOPIC]})
    assert practices.policy_findings(granted, [QUEUE], sources=[TOPIC]) == []


def test_every_policy_generated_for_the_article_topology_is_least_privilege() -> None:
    from eventlab.locations import project_root
    from eventlab.topology.model import Topology

    table = practices.least_privilege(Topology.from_yaml(project_root() / "data/topologies/ecommerce.yaml"))
    assert {"function inventory", "rule order-placed", "sqs shipping", "sns order-paid"} <= set(table.index)
    assert table["findings"].map(len).sum() == 0, table[table["findings"].map(len) > 0]["findings"].to_dict()
    assert not any("*" in a for actions in table["actions"] for a in actions)
