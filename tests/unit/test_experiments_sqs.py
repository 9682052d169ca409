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
