"""Topology validation, offline: every problem is found before the first AWS call."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlab.topology import (
    PatternError,
    QueueSpec,
    RuleSpec,
    RuleTargetSpec,
    SubscriptionSpec,
    TopicSpec,
    Topology,
    TopologyError,
    validate,
    validate_event_pattern,
    validate_filter_policy,
)
from eventlab.topology.filters import validate_schedule

DATA = Path(__file__).resolve().parents[2] / "data" / "topologies"


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["shop"], "detail": {"total": [{"numeric": [">", 0, "<=", 100]}]}},
        {"detail": {"sku": [{"prefix": "AB-"}, {"suffix": "-X"}, {"wildcard": "A*Z"}]}},
        {"detail": {"state": [{"anything-but": ["cancelled", "void"]}]}},
        {"detail": {"state": [{"anything-but": {"prefix": "test-"}}]}},
        {"detail": {"coupon": [{"exists": False}], "ip": [{"cidr": "10.0.0.0/8"}]}},
        {"detail": {"name": [{"equals-ignore-case": "alice"}, {"prefix": {"equals-ignore-case": "bo"}}]}},
        {"detail": {"$or": [{"a": [1]}, {"b": [None, True]}]}},
    ],
)
def test_every_eventbridge_operator_is_accepted(pattern: dict) -> None:
    validate_event_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({}, "non-empty"),
        ({"source": "shop"}, "source: a match must be an array"),
        ({"source": []}, "empty array"),
        ({"detail": {"sku": [{"prefix": 1}]}}, "detail.sku[0]: 'prefix' takes a string"),
        ({"detail": {"n": [{"numeric": ["~", 1]}]}}, "numeric operator"),
        ({"detail": {"n": [{"numeric": [">", 5, "<", 1]}]}}, "not below high"),
        ({"detail": {"n": [{"numeric": ["<", 5, ">", 1]}]}}, "numeric range"),
        ({"detail": {"x": [{"exists": "yes"}]}}, "true or false"),
        ({"detail": {"x": [{"cidr": "not-an-ip"}]}}, "cidr"),
        ({"detail": {"x": [{"regex": "a.*"}]}}, "unknown operator 'regex'"),
        ({"detail": {"x": [{"prefix": "a", "suffix": "b"}]}}, "exactly one key"),
        ({"detail": {"$or": [{"a": [1]}]}}, "at least two"),
        ({"detail": {"x": [["nested"]]}}, "nested"),
    ],
)
def test_malformed_event_patterns_name_the_path(pattern: dict, message: str) -> None:
    with pytest.raises(PatternError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_event_pattern(pattern)


def test_filter_policy_limits_and_scope() -> None:
    validate_filter_policy({"color": ["red"], "size": [{"numeric": [">=", 10]}]})
    validate_filter_policy({"order": {"total": [{"numeric": [">", 100]}]}}, "MessageBody")
    with pytest.raises(PatternError, match="nested keys need filter_policy_scope MessageBody"):
        validate_filter_policy({"order": {"total": [1]}})
    with pytest.raises(PatternError, match="at most 5"):
        validate_filter_policy({k: ["x"] for k in "abcdef"})
    with pytest.raises(PatternError, match="at most 150"):
        validate_filter_policy({"a": list(range(10)), "b": list(range(10)), "c": list(range(2))})
    validate_filter_policy({"a": [None]})  # AWS: "Match value must be String, number, true, false, or null"
    with pytest.raises(PatternError, match="scope"):
        validate_filter_policy({"a": ["x"]}, "Headers")


@pytest.mark.parametrize("good", ["rate(1 minute)", "rate(5 minutes)", "cron(0 12 * * ? *)"])
def test_schedules_accepted(good: str) -> None:
    validate_schedule(good)


@pytest.mark.parametrize("bad", ["rate(1 minutes)", "rate(0 minutes)", "every 5 minutes", "cron(0 12 * * ?)"])
def test_schedules_refused(bad: str) -> None:
    with pytest.raises(PatternError, match="rate"):
        validate_schedule(bad)


def _problems(topology: Topology) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        validate(topology)
    return caught.value.problems


def test_fifo_names_and_flags_must_agree() -> None:
    problems = _problems(Topology(queues=[QueueSpec("orders", fifo=True), QueueSpec("ledger.fifo")]))
    assert any("'orders': a FIFO queue's name must end in '.fifo'" in p for p in problems)
    assert any("'ledger.fifo': only FIFO queues end in '.fifo'" in p for p in problems)


def test_dead_letter_queues_must_exist_match_and_not_loop() -> None:
    problems = _problems(
        Topology(
            queues=[
                QueueSpec("a", dead_letter="missing"),
                QueueSpec("b.fifo", fifo=True, dead_letter="c"),
                QueueSpec("c"),
                QueueSpec("d", dead_letter="e"),
                QueueSpec("e", dead_letter="d"),
            ]
        )
    )
    assert any("unknown dead-letter queue 'missing'" in p for p in problems)
    assert any("its DLQ 'c' must be FIFO" in p for p in problems)
    assert any("form a loop" in p for p in problems)


def test_all_problems_are_reported_at_once() -> None:
    topology = Topology(
        queues=[QueueSpec("q", visibility_timeout=50_000, receive_wait_time=25), QueueSpec("fifo.fifo", fifo=True)],
        topics=[
            TopicSpec(
                "t.fifo",
                fifo=True,
                subscriptions=[
                    SubscriptionSpec("sqs", "queue:q"),
                    SubscriptionSpec("sqs", "queue:nope"),
                    SubscriptionSpec("http", "ftp://x", raw_message_delivery=False),
                    SubscriptionSpec("sqs", "queue:fifo.fifo", filter_policy={"a": "b"}),
                ],
            )
        ],
        rules=[
            RuleSpec("r", bus="nobus", event_pattern={"source": ["x"]}, targets=[RuleTargetSpec("1", "queue:fifo.fifo")]),
            RuleSpec("s", event_pattern={"source": ["x"]}, schedule="rate(1 minute)"),
            RuleSpec("k", event_pattern={"source": ["x"]}, targets=[RuleTargetSpec("1", "table:orders")]),
        ],
    )
    problems = _problems(topology)
    expected = [
        "visibility_timeout=50000 is outside",
        "receive_wait_time=25 is outside",
        "unknown queue 'nope'",
        "URL starting with http://",
        "filter policy: a: a match must be an array",
        "unknown bus 'nobus'",
        "a FIFO queue target needs message_group_id",
        "exactly one of event_pattern or schedule",
        "kind must be one of",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), f"missing problem: {fragment}\n{problems}"


def test_yaml_unknown_keys_are_errors_not_ignored(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("queues:\n  - name: q\n    visibilty_timeout: 30\n")
    with pytest.raises(TopologyError, match=r"unknown key.*visibilty_timeout"):
        Topology.from_yaml(path)


def test_a_fifo_topic_may_feed_a_standard_queue_but_not_the_reverse() -> None:
    """SNS FIFO topics deliver to standard queues too ("Amazon SNS message delivery for FIFO
    topics"); a standard topic cannot deliver to a FIFO queue."""
    queues = [QueueSpec("q"), QueueSpec("f.fifo", fifo=True)]
    validate(Topology(queues=queues, topics=[TopicSpec("t.fifo", fifo=True, subscriptions=[
        SubscriptionSpec("sqs", "queue:q"), SubscriptionSpec("sqs", "queue:f.fifo")])]))
    problems = _problems(Topology(queues=queues, topics=[TopicSpec("s", subscriptions=[SubscriptionSpec("sqs", "queue:f.fifo")])]))
    assert any("a standard topic cannot deliver to the FIFO queue 'f.fifo'" in p for p in problems), problems


@pytest.mark.parametrize("path", sorted(DATA.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_topologies_are_valid(path: Path) -> None:
    validate(Topology.from_yaml(path))
