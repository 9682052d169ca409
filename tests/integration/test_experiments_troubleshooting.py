"""The troubleshooting scenarios of notebook 08 on the embedded LocalStack: each reproduced,
diagnosed and fixed; assertions on counts and verdicts only."""

from __future__ import annotations

import json

import pytest

from eventlab.experiments import troubleshooting as trouble
from eventlab.idempotency import IdempotencyStore
from eventlab.run import Run

pytestmark = pytest.mark.integration


def test_queue_policy_for_another_topic_is_diagnosed_and_fixed(run: Run) -> None:
    case = trouble.queue_policy_scenario(run)
    assert not case.admitted_before and case.admitted_after and case.arrived_after == 1
    # LocalStack 2026.3.0 does not evaluate queue policies: the wrong policy still delivers.
    # If this starts failing, the emulator began enforcing them: update notebook 08's prose.
    assert case.arrived_before == 1 and not case.enforced


def test_event_pattern_mismatch_is_found_field_by_field(run: Run) -> None:
    case = trouble.event_pattern_scenario(run)
    assert case.arrived_before == 0 and case.arrived_after == 1
    assert case.diagnosis_before["matches"].to_dict() == {
        "(whole pattern)": False, "source": True, "detail-type": False, "detail.total": False,
    }
    assert case.diagnosis_after["matches"].all()


def test_attribute_scoped_filter_misses_a_body_field_until_rescoped(run: Run) -> None:
    case = trouble.filter_scope_scenario(run)
    assert (case.arrived_before, case.arrived_after) == (0, 1)
    assert case.scope_before == "MessageAttributes" and case.scope_after == "MessageBody"
    # the diagnosis reads the message as SNS delivered it: its one attribute, and the body
    assert case.attributes_seen == {"source": "checkout"} and json.loads(case.body_seen)["event_type"] == "order_paid"
    assert case.diagnosis.loc["event_type", "in body"] and not case.diagnosis.loc["event_type", "in attributes"]


def test_duplicates_and_their_two_fixes(run: Run) -> None:
    # processing 3 s: LocalStack re-queues expired in-flight messages only once a second
    short = trouble.duplicate_side_effects(run, label="short", visibility_s=1, processing_s=3.0, messages=4)
    store = IdempotencyStore.create(run, "charges")
    idem = trouble.duplicate_side_effects(run, label="idem", visibility_s=1, processing_s=3.0, messages=4, store=store)
    long = trouble.duplicate_side_effects(run, label="long", visibility_s=6, processing_s=3.0, messages=4)
    assert short.duplicates >= 4 and short.side_effects > 4
    assert idem.duplicates > 0 and idem.side_effects == 4
    assert long.duplicates == 0 and long.side_effects == 4


def test_partition_key_decides_order(run: Run) -> None:
    result = trouble.partition_key_ordering(run, orders=2, steps=8, shards=2)
    table = result.table
    assert len(result.receipts) == 32 and len(result.plot().axes) == 2
    random_keys = table[table["variant"] == "random key"]
    by_id = table[table["variant"] == "order id as key"]
    assert random_keys["inversions"].sum() > 0
    assert (by_id["inversions"] == 0).all() and (by_id["shards_used"] == 1).all()
    assert (table["messages"] == 8).all()


def test_emulated_throttling_loses_records_without_retries_and_none_with(run: Run) -> None:
    # A shard of 10 records/s (one second's worth of burst) offered 60 at 300/s: refusals unless
    # the 6 calls take over 5 s, however busy the machine; 60 attempts outlast the 5 s of refill.
    result = trouble.kinesis_throttling(run, records=60, rate=300, quota_factor=0.01, retry_attempts=60)
    table, errors = result.table, result.errors
    assert table.loc["no retries", "failed_sends"] > 0
    assert table.loc["no retries", "failed_sends"] == table.loc["no retries", "quota_refusals"]
    assert table.loc["backoff + jitter", "accepted"] == 60 and table.loc["backoff + jitter", "failed_sends"] == 0
    assert errors and all("emulated by eventlab" in e for e in errors)
    assert set(result.sends) == {"no retries", "backoff + jitter"} and result.plot().axes


def test_queue_gauges_alarm_through_sns_and_a_correlation_id_is_traced(run: Run) -> None:
    obs = trouble.observability_scenario(run, backlog=3, lag_s=1.5)
    gauges = obs.gauges.set_index(["phase", "metric", "resource"])["value"]
    queue, dlq = obs.alarms.loc[obs.alarms.index[0], "queue_or_stream"], obs.alarms.loc[obs.alarms.index[2], "queue_or_stream"]
    assert gauges[("backlog", trouble.QUEUE_DEPTH, queue)] == 4  # three orders and the poison one, as SQS counts them
    assert gauges[("backlog", trouble.OLDEST_AGE, queue)] >= 1.5  # from the messages' SentTimestamp
    assert gauges[("drained", trouble.QUEUE_DEPTH, queue)] == 0 and gauges[("drained", trouble.QUEUE_DEPTH, dlq)] == 1
    assert obs.poison_in_dlq == 1
    # CloudWatch evaluated each alarm on the published figures and SNS carried the transitions to the inbox
    assert (obs.alarms["evaluated_by"] == "CloudWatch evaluation").all(), obs.alarms["states"].to_dict()
    depth, age, in_dlq = obs.alarms["states"]
    assert depth[-2:] == ["ALARM", "OK"] and "ALARM" in age and in_dlq[-1] == "ALARM", obs.alarms["states"].to_dict()
    assert all("ALARM" in n for n in obs.alarms["notified"]), obs.alarms["notified"].to_dict()
    assert obs.read_back[f"{trouble.QUEUE_DEPTH} {queue}"] == {"Maximum": 4, "Minimum": 0}  # what CloudWatch kept of the two phases
    # the reader ran lag_s behind the puts: the records' arrival timestamps say so
    assert 1500 <= obs.iterator_age_ms < 30_000
    # one order's correlation id went through every hop, carried by SQS and by Kinesis
    assert obs.trace["hop"].tolist() == list(trouble.HOPS)
    assert obs.all_lines == 3 * 3
