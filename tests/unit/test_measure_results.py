"""Results tables, their save/load round trip, and plots on the Agg canvas (no LocalStack)."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
from matplotlib.figure import Figure

from eventlab.measure import plots
from eventlab.measure.load import LoadResult, LoadSpec
from eventlab.measure.probes import Probe, ReceiptLog, SendLog, SendRecord
from eventlab.measure.results import RunResult, git_commit, machine

MS = 1_000_000


def _result() -> RunResult:
    sends = SendLog()
    receipts = ReceiptLog("r")
    for i in range(50):
        t = 1_000 * MS + i * 10 * MS
        sends.extend([SendRecord("q", f"m{i}", f"k{i % 2}", i // 2, t, t + MS, t + 2 * MS, True, 1, warmup=i < 5)])
        order = i if i % 7 else i + 2  # a few out of order
        receipts.record(Probe("r", f"m{i}", f"k{i % 2}", i // 2, t), path="sqs", consumer="c", received_ns=t + (5 + order % 4) * MS)
    load = LoadResult(LoadSpec(rate=100, count=50), "q", 0, 1, sends, Counter(calls=50))
    sends_df = load.frame()
    return RunResult("unit", sends_df, receipts.to_frame(), {"target": {"kind": "localstack"}, "parameters": {}}, calls=dict(load.calls))


def test_summary_and_messages_tables() -> None:
    result = _result()
    summary = result.summary
    assert list(summary["path"]) == ["sqs"]
    assert summary.iloc[0]["measured"] == 45 and summary.iloc[0]["warmup_discarded"] == 5
    messages = result.messages
    assert len(messages) == 50 and {"latency_ns", "latency_uncorrected_ns", "receipts"} <= set(messages.columns)


def test_save_and_load_round_trip(tmp_path) -> None:
    result = _result()
    path = result.save(tmp_path)
    assert path.name.startswith("unit-localstack-") and path.suffix == ".json"
    doc = json.loads(path.read_text())
    assert doc["summary"][0]["path"] == "sqs"
    again = RunResult.load(path)
    pd.testing.assert_frame_equal(again.summary, result.summary, check_dtype=False)


def test_plots_render_on_agg(tmp_path) -> None:
    result = _result()
    figures = [
        plots.latency_cdf(result.messages),
        plots.latency_cdf(result.messages, corrected=False),
        plots.latency_histogram(result.messages),
        plots.throughput_over_time(result.sends, result.receipts),
        plots.reorder_scatter(result.receipts),
    ]
    for i, fig in enumerate(figures):
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / f"{i}.png")
        assert (tmp_path / f"{i}.png").stat().st_size > 1000


def test_provenance_parts() -> None:
    assert machine()["cores"] >= 1
    commit = git_commit()
    assert commit["commit"] is None or len(commit["commit"]) == 40
