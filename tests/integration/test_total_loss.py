"""A path on which nothing arrives, measured for real: every message is reported lost, the
benchmark notebook's steps (summary row, saved result, plot, figures) all work, and the
baseline compare calls it a regression."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventlab import bench
from eventlab.measure import paths, plots
from eventlab.measure.consumers import SqsReceiver
from eventlab.measure.load import LoadSpec
from eventlab.measure.probes import ReceiptLog
from eventlab.measure.results import figures_of
from eventlab.run import Run

pytestmark = pytest.mark.integration


def test_a_path_that_delivers_nothing_is_total_loss_and_a_regression(
    run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def deaf_receiver(client: Any, queue_url: str, receipts: ReceiptLog, **kwargs: Any) -> SqsReceiver:
        # consumes and deletes every message, but records them in a log nobody reads
        return SqsReceiver(client, queue_url, ReceiptLog("someone-else"), **kwargs)

    monkeypatch.setattr(paths, "SqsReceiver", deaf_receiver)
    result = paths.measure(run, "sqs", LoadSpec(rate=50, count=20), timeout=2, quiet_s=0.2, name="w")
    assert result is not None
    row = result.summary.iloc[0]  # the benchmark notebook's IndexError, before
    assert row["path"] == "sqs"
    assert (row["sent"], row["delivered"], row["lost"], row["measured"]) == (20, 0, 20, 0)
    plots.latency_cdf(result.messages)
    saved = json.loads(result.save(tmp_path).read_text())
    assert saved["summary"][0]["latency_p50_ms"] is None
    saved["provenance"]["parameters"]["duration"] = 1  # as the benchmark notebook records it
    figures = figures_of(saved)
    assert figures["lost"] == 20 and figures["throughput_msg_s"] == 0 and "latency_p50_ms" not in figures
    baseline = bench.Baseline("w", "localstack", {"lost": [0.0, 0.0], "throughput_msg_s": [50.0, 49.0], "latency_p50_ms": [5.0, 6.0]})
    verdicts = {c.figure: c.verdict for c in bench.compare(baseline, [saved, saved])}
    assert verdicts == {"lost": "regression", "throughput_msg_s": "regression", "latency_p50_ms": "regression"}
