"""Offline pieces of the SQS experiments: per-path summaries and the DLQ parsers."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import pytest

from eventlab.experiments import sqs as experiments
from eventlab.measure.probes import Receipt, SendRecord
from eventlab.measure.results import RunResult


def _result() -> RunResult:
    sends, receipts = [], []
    for path in ("a", "b"):
        for i in range(4):
            msg = f"{path}{i}"
            sends.append(asdict(SendRecord(path=path, msg_id=msg, key="k", seq=i, intended_ns=i * 1000,
                                           start_ns=i * 1000, end_ns=i * 1000 + 1, ok=True, attempts=1)))
            if (path, i) != ("b", 3):  # one probe of path b never arrives
                receipts.append(asdict(Receipt(path=path, consumer="c", run_id="r", msg_id=msg, key="k", seq=i,
                                               intended_ns=i * 1000, received_ns=i * 1000 + 5_000_000)))
    return RunResult("w", pd.DataFrame(sends), pd.DataFrame(receipts), provenance={})


def test_each_path_is_judged_by_its_own_sends() -> None:
    table = _result().summary_by_path()
    assert table.loc["a", ["sent", "delivered", "lost"]].tolist() == [4, 4, 0]
    assert table.loc["b", ["sent", "delivered", "lost"]].tolist() == [4, 3, 1]


def test_the_library_summary_also_judges_each_path_by_its_own_sends() -> None:
    summary = _result().summary.set_index("path")
    assert summary.loc["a", ["sent", "delivered", "lost"]].tolist() == [4, 4, 0]
    assert summary.loc["b", ["sent", "delivered", "lost"]].tolist() == [4, 3, 1]


def test_receipt_paths_can_map_to_another_send_path() -> None:
    result = _result()
    result.receipts.loc[result.receipts["path"] == "b", "path"] = "b-behind"
    table = result.summary_by_path({"b-behind": "b"})
    assert table.loc["b-behind", ["sent", "delivered", "lost"]].tolist() == [4, 3, 1]


def test_amount_parsers() -> None:
    assert experiments.tolerant_amount({"amount": "12,50"}) == 12.5
    assert experiments.strict_amount({"amount": "12.50"}) == 12.5
    with pytest.raises(ValueError):
        experiments.strict_amount({"amount": "12,50"})


def test_a_path_that_received_nothing_is_in_the_table_as_lost() -> None:
    result = _result()
    result.receipts = result.receipts[result.receipts["path"] == "a"]
    table = result.summary_by_path()
    assert table.loc["b", ["sent", "delivered", "lost"]].tolist() == [4, 0, 4]
    assert pd.isna(table.loc["b", "latency_p50_ms"])
    # an expected receipt path fed by another send path (an SNS subscriber) that got nothing
    result.receipt_paths = ["a", "b", "b-http"]
    table = result.summary_by_path({"b-http": "b"})
    assert table.loc["b-http", ["sent", "delivered", "lost"]].tolist() == [4, 0, 4]


def _buffer() -> experiments.BufferReport:
    timeline = pd.DataFrame({"t_s": [0.0, 1.0, 2.0, 3.0, 4.0], "visible": [0, 2, 5, 9, 0], "in_flight": [0, 0, 0, 1, 0]})
    return experiments.BufferReport(
        scenario="s", sent=10, delivered=10, duplicates=0, lost=0, timeline=timeline,
        phases={"stop": 0.9, "back": 3.1}, sends_s=[0.1, 0.5, 1.2, 1.4, 1.6, 2.2, 2.4, 2.6, 2.8, 3.0],
        receipts_s=[0.2, 0.6, 3.2, 3.3, 3.3, 3.4, 3.4, 3.5, 3.5, 3.6], intake_limit=5.0,
    )


def test_a_buffer_report_reads_the_depth_between_phases() -> None:
    report = _buffer()
    assert report.depth_between("stop", "back").tolist() == [2, 5, 9]
    assert report.depth_rise("stop", "back") == 7
    assert report.sent_between("stop", "back") == 8 and report.received_between("stop", "back") == 0
    assert report.peak_depth == 9 and report.final_depth == 0
    assert report.summary()["peak_depth"] == 9


def test_a_buffer_report_bins_what_was_sent_and_received() -> None:
    rates = _buffer().rates(bin_s=1.0)
    assert rates["t_s"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert rates["sent_per_s"].tolist() == [2.0, 3.0, 4.0, 1.0, 0.0]
    assert rates["received_per_s"].tolist() == [2.0, 0.0, 0.0, 8.0, 0.0]
    assert len(_buffer().plot().axes) == 2


def test_error_codes_lose_the_query_protocol_prefix() -> None:
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "Message": "x"}}, "SendMessageBatch")
    assert experiments.error_code(error) == "TooManyEntriesInBatchRequest"


def test_a_burst_consumer_takes_one_to_ten_messages_per_receive() -> None:
    with pytest.raises(ValueError, match="1 to 10"):
        experiments.burst_buffering(None, per_receive=11)  # type: ignore[arg-type]  # refused before any call


def test_the_no_delay_delivery_policy_retries_at_once() -> None:
    from eventlab.experiments import sns

    policy = sns.no_delay_retries(2)["healthyRetryPolicy"]
    assert policy["numRetries"] == policy["numNoDelayRetries"] == 2
    assert policy["numMinDelayRetries"] == policy["numMaxDelayRetries"] == 0
