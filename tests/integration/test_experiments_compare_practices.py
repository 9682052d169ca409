"""Experiments on the embedded LocalStack, at small sizes: they count right and clean up.

Assertions are on counts (delivered, lost, duplicates, side effects, refusals), never on timings.
"""

from __future__ import annotations

import pytest

from eventlab.experiments import compare, practices
from eventlab.measure.load import LoadSpec
from eventlab.run import Run

pytestmark = pytest.mark.integration


def test_compare_paths_gives_one_row_per_path_with_every_message_delivered(run: Run) -> None:
    spec = LoadSpec(rate=50, count=20, keys=2, warmup_count=4)
    seen: list[str] = []
    comparison = compare.compare_paths(run, spec, paths=["events-sqs", "sqs-fifo", "sns-sqs"], on_path=seen.append)
    table = comparison.table()
    assert seen == ["sqs-fifo", "sns-sqs", "events-sqs"]  # ALL_PATHS order
    assert table["path"].tolist() == ["sqs-fifo", "sns-sqs", "events-sqs"]
    assert (table["sent"] == 20).all() and (table["delivered"] == 20).all() and (table["lost"] == 0).all()
    assert table.set_index("path").loc["sqs-fifo", "inversions"] == 0
    assert (table["p50_ms"] > 0).all()
    assert set(comparison.messages["path"]) == set(table["path"])
    assert comparison.ordering.groupby("path")["messages"].sum().eq(20).all()
    provenance = comparison.results[0].provenance
    assert provenance["emulator_version"].startswith({"localstack": "2026.3", "ministack": "1.5"}[provenance["backend"]])
    assert len(comparison.summary) == 3 and set(comparison.seconds) == set(table["path"])


def test_compare_kinesis_readers_share_one_load_and_lambda_reports_to_the_sink(run: Run) -> None:
    spec = LoadSpec(rate=40, count=12, keys=3)
    comparison = compare.compare_paths(run, spec, paths=["kinesis", "kinesis-efo", "sqs-lambda"], shards=1)
    table = comparison.table().set_index("path")
    assert list(table.index) == ["kinesis", "kinesis-efo", "sqs-lambda"]
    assert len(comparison.results) == 2  # one load for both Kinesis readers, one for Lambda
    assert (table["delivered"] == 12).all() and (table["lost"] == 0).all()
    assert table.loc["kinesis", "inversions"] == 0 and table.loc["kinesis-efo", "inversions"] == 0


def test_idempotency_store_runs_each_side_effect_once(run: Run) -> None:
    frame = practices.idempotency_experiment(run, messages=8, lose_every=3)
    plain, guarded = frame.loc["without idempotency store"], frame.loc["with idempotency store"]
    for row in (plain, guarded):
        assert row["deliveries"] == row["copies_sent"] > 8
        assert row["sqs_message_ids"] == row["deliveries"]
    assert plain["side_effects"] == plain["deliveries"] and plain["extra_side_effects"] == plain["duplicate_deliveries"] > 0
    assert guarded["side_effects"] == 8 and guarded["extra_side_effects"] == 0


def test_dlq_captures_poison_and_without_it_poison_stays_unaccounted(run: Run) -> None:
    frame = practices.dlq_experiment(run, messages=10, poison_every=5, max_receive_count=2)
    with_dlq, without = frame.loc["with DLQ"], frame.loc["without DLQ"]
    assert with_dlq["poison"] == without["poison"] == 2
    assert with_dlq["delivered"] == without["delivered"] == 8
    assert with_dlq["in_dlq"] == 2 and with_dlq["unaccounted"] == 0 and with_dlq["still_in_queue"] == 0
    assert without["in_dlq"] == 0 and without["unaccounted"] == 2 and without["still_in_queue"] == 2
    assert without["poison_receives"] >= 4


def test_backoff_policies_under_an_emulated_fifo_quota(run: Run) -> None:
    frame = practices.backoff_experiment(run, messages=30, producers=6, quota_calls_per_s=15)
    none_ = frame.loc["no retries"]
    assert none_["failed"] > 0 and none_["retries"] == 0 and none_["accepted"] + none_["failed"] == 30
    for policy in ("fixed backoff", "exponential, full jitter"):
        row = frame.loc[policy]
        assert row["accepted"] == 30 and row["failed"] == 0 and row["retries"] == row["throttled_attempts"] > 0
    assert (frame["throttled_attempts"] == frame["emulated_refusals"]).all()
    assert (frame["delivered"] == frame["accepted"]).all() and (frame["lost"] == 0).all()


def test_long_polling_makes_no_empty_receives(run: Run) -> None:
    frame = practices.polling_experiment(run, messages=10, rate=20, long_wait_s=5, short_pause_s=0.05)
    short, long_ = frame.loc["short polling"], frame.loc["long polling"]
    assert short["delivered"] == long_["delivered"] == 10
    assert long_["empty_receives"] == 0 < short["empty_receives"]
    assert long_["receive_calls"] == long_["delete_calls"]  # every long poll came back with messages
    assert long_["idle_receives_per_s"] == pytest.approx(1 / 5)
    cost = practices.polling_cost(frame)
    assert cost.loc["long polling", "idle_cost_usd"] < cost.loc["short polling", "idle_cost_usd"]


def test_an_idle_long_poll_is_held_for_its_wait_and_a_short_poll_is_not(run: Run) -> None:
    idle = practices.idle_polling_experiment(run, seconds=4, long_wait_s=2, short_pause_s=0.05)
    short, long_ = idle.loc["short polling"], idle.loc["long polling"]
    assert short["receive_calls"] == short["empty_receives"] > 10  # nothing to receive, many answers
    assert 2 <= long_["receive_calls"] == long_["empty_receives"] <= 3  # 4 s of 2-s polls, each empty
    assert long_["mean_empty_call_s"] >= 1.5 and short["mean_empty_call_s"] < 0.5  # the service held the long poll
    assert long_["receives_per_s"] < short["receives_per_s"]


def test_queues_topics_and_streams_report_their_encryption_and_the_stored_queue_policy_is_least_privilege(run: Run) -> None:
    frame = practices.encryption_at_rest(run)
    assert frame["encrypted"].all(), frame["encryption"].to_dict()
    assert frame.attrs["queue_policy_findings"] == [], frame.attrs["queue_policy"]
