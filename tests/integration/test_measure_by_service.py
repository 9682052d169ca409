"""The one-call measurements that notebooks use, with small counts."""

from __future__ import annotations

import pytest

from eventlab.measure import plots
from eventlab.measure.by_service import (
    measure_eventbridge,
    measure_kinesis,
    measure_sns,
    measure_sqs,
)
from eventlab.measure.load import LoadSpec, RetryPolicy
from eventlab.measure.quotas import KinesisQuota
from eventlab.run import Run

pytestmark = pytest.mark.integration


def test_measure_sqs_and_sns_and_eventbridge(run: Run) -> None:
    spec = LoadSpec(rate=100, count=30, batch=10, warmup_count=10)
    for result in (measure_sqs(run, spec), measure_sns(run, spec), measure_eventbridge(run, spec)):
        summary = result.summary
        assert (summary["lost"] == 0).all() and (summary["delivered"] == 30).all(), summary
        assert (summary["measured"] == 20).all()
    plots.latency_cdf(result.messages)


def test_measure_kinesis_with_an_emulated_quota_throttles_reads_and_writes(run: Run) -> None:
    result = measure_kinesis(
        run, LoadSpec(rate=300, count=100, batch=10, threads=2), efo=False, poll_interval_s=0.05,
        # a shard of 30 records/s and one read/s: far below what the emulator sustains, so the
        # refusals do not depend on how fast this machine is today
        quota=KinesisQuota(records_per_s=30, reads_per_s=1),
        retry=RetryPolicy(max_attempts=40, cap_s=0.5, seed=5),
    )
    row = result.summary.iloc[0]
    assert row["delivered"] == 100 and row["lost"] == 0
    refusals = result.quota_events.groupby("operation")["records"].sum()
    assert refusals.get("PutRecords", 0) > 0  # 100 records against 30/s plus a 30-record burst
    assert refusals.get("GetRecords", 0) > 0  # polled at 20/s against 1 read/s
    assert result.provenance["parameters"]["kinesis_quota"]["emulated"] is True
