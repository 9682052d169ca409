"""Emulated quotas on the embedded LocalStack: accepted throughput is capped, and it costs retries.

Assertions are on counts and ratios from recorded events, never on how long anything took.
"""

from __future__ import annotations

import pytest

from eventlab.measure import analysis
from eventlab.measure.consumers import KinesisPoller, SqsReceiver
from eventlab.measure.load import LoadSpec, RetryPolicy, run_load
from eventlab.measure.probes import ReceiptLog
from eventlab.measure.quotas import KinesisQuota, SqsFifoQuota, emulate_quotas
from eventlab.measure.senders import KinesisSender, SqsSender
from eventlab.run import Run
from eventlab.services import kinesis, sqs
from eventlab.target import Target

pytestmark = pytest.mark.integration


def _max_in_window(times_ns: list[tuple[int, int]], window_ns: int) -> int:
    """Largest number of admitted records within any window of ``window_ns`` (sliding)."""
    best = total = start = 0
    for end in range(len(times_ns)):
        total += times_ns[end][1]
        while times_ns[end][0] - times_ns[start][0] >= window_ns:
            total -= times_ns[start][1]
            start += 1
        best = max(best, total)
    return best


def test_kinesis_shard_quota_caps_accepted_records_and_costs_retries(run: Run) -> None:
    stream = kinesis.create_stream(run, "capped", shard_count=1)
    client = run.target.client("kinesis")
    # A shard of 30 records/s: a tenth of the rate offered, so that the sender outruns it by far
    # however slow the machine (at 100 records/s, a busy machine's sender sometimes did not).
    quota = KinesisQuota().scaled(0.03)
    receipts = ReceiptLog(run.run_id)
    with emulate_quotas(run.target, client, kinesis=quota) as emulator:
        load = run_load(
            KinesisSender(client, stream.name, batch_size=10),
            run.run_id,
            LoadSpec(rate=300, count=300, batch=10, threads=3, keys=3),  # 10x what the shard takes
            # enough attempts for the last record to wait its turn (300 records at 30/s: ~9 s)
            retry=RetryPolicy(max_attempts=100, base_s=0.05, cap_s=0.5, seed=1),
        )
        # the emulator's clock, read under the bucket's lock: exact, however busy the machine
        admitted = sorted((int(e.at * 1e9), e.records) for e in emulator.admitted)
        refused = emulator.throttled("kinesis", "PutRecords")
    with KinesisPoller(client, stream.name, receipts, interval_s=0.2):
        assert receipts.wait_for(300, timeout=30)

    sends = load.frame()
    figures = analysis.throttling(sends, load.calls)
    row = analysis.summarize(sends, receipts.to_frame()).iloc[0]
    assert row["delivered"] == 300 and row["lost"] == 0 and row["duplicates"] == 0
    # every record refused by the quota was retried, and the retries are what it cost
    assert figures["throttled_attempts"] == refused > 0
    assert figures["retries"] == refused
    assert figures["partial_calls"] > 0  # PutRecords answered with per-record failures
    assert figures["backoff_s"] > 0
    # accepted throughput is capped: after the bucket's one-second burst, the records admitted
    # per second of the admitting span stay at the quota (a ratio of recorded events)
    assert sum(n for _, n in admitted) == 300
    span_s = (admitted[-1][0] - admitted[0][0]) / 1e9
    steady_rate = (300 - quota.records_per_s) / span_s
    assert steady_rate <= 1.05 * quota.records_per_s
    assert _max_in_window(admitted, 1_000_000_000) <= 2 * quota.records_per_s


def test_sqs_fifo_quota_throttles_calls_and_nothing_is_lost(run: Run) -> None:
    queue = sqs.create_queue(run, "capped", fifo=True)
    client = run.target.client("sqs")
    receipts = ReceiptLog(run.run_id)
    with emulate_quotas(run.target, client, sqs_fifo=SqsFifoQuota().scaled(0.1)) as emulator:  # 30 calls/s
        with SqsReceiver(client, queue.url, receipts):
            load = run_load(
                SqsSender(client, queue.url), run.run_id,
                LoadSpec(mode="closed", count=90, threads=2, keys=2),
                retry=RetryPolicy(max_attempts=30, base_s=0.02, cap_s=0.5, seed=2),
            )
            assert receipts.wait_for(90, timeout=30)
    sends = load.frame()
    figures = analysis.throttling(sends, load.calls)
    assert emulator.throttled("sqs", "SendMessage") == figures["throttled_attempts"] > 0
    assert figures["throttled_calls"] == figures["throttled_attempts"]
    assert figures["failed_sends"] == 0
    assert analysis.summarize(sends, receipts.to_frame()).iloc[0]["lost"] == 0
    assert not client.meta.events._emitter._unique_id_handlers or all(
        not k.startswith(emulator._uid) for k in client.meta.events._emitter._unique_id_handlers
    )


def test_quotas_are_off_for_aws() -> None:
    import boto3

    fake_aws = Target(kind="aws", region="eu-west-1", session=boto3.Session(region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"))
    emulator = emulate_quotas(fake_aws, fake_aws.client("kinesis"))
    assert not emulator.enabled and not emulator._installed
