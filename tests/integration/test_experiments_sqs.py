"""The SQS experiments behind notebook 01, small, on the embedded LocalStack: counts only."""

from __future__ import annotations

import pytest

from eventlab.experiments import sqs as experiments
from eventlab.run import Run
from eventlab.services import sqs

pytestmark = pytest.mark.integration


def test_latency_summary_judges_each_path_by_its_own_sends(run: Run) -> None:
    result = experiments.latency_standard_vs_fifo(run, messages=30, rate=100, keys=3, warmup=5)
    table = result.summary_by_path()
    assert list(table.index) == ["fifo", "standard"]
    assert (table["sent"] == 30).all() and (table["delivered"] == 30).all() and (table["lost"] == 0).all()
    assert (table["measured"] == 25).all()
    assert table.loc["fifo", "inversions"] == 0


def test_fifo_groups_are_processed_in_order_by_concurrent_consumers(run: Run) -> None:
    fifo = experiments.processing_order(run, fifo=True, messages=40, keys=2, consumers=3)
    assert fifo.processed_inversions == 0 and fifo.received_inversions == 0 and fifo.duplicates == 0
    assert fifo.processed["messages"].tolist() == [20, 20]


def test_concurrent_consumers_of_a_standard_queue_finish_out_of_order(run: Run) -> None:
    standard = experiments.processing_order(run, fifo=False, messages=80, keys=2, consumers=4)
    assert standard.processed_inversions > 0
    assert int(standard.processed["messages"].sum()) == 80


def test_poison_message_reaches_the_dlq_and_is_redriven(run: Run) -> None:
    report = experiments.poison_to_dlq_and_back(run, good=2, max_receive_count=2)
    assert report.receive_counts == [1, 2] and report.in_dlq == 1
    assert report.dlq_view["body"].str.contains("o-poison").tolist() == [True]
    assert report.redrive.status == "COMPLETED" and report.redrive.moved == 1
    assert report.processed_after_fix == ["o-poison"] and report.dlq_left == 0


def test_redrive_by_hand_when_the_api_is_missing(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    client = run.target.client("sqs")
    dlq = sqs.create_queue(run, "hand-dlq")
    source = sqs.create_queue(run, "hand-src")
    client.send_message(QueueUrl=dlq.url, MessageBody="m")

    def missing(**_: object) -> None:
        raise ClientError({"Error": {"Code": "UnsupportedOperation", "Message": "no"}}, "StartMessageMoveTask")

    monkeypatch.setattr(client, "start_message_move_task", missing)
    result = sqs.redrive(run, dlq, source)
    assert result.method == "receive-send-delete" and result.moved == 1
    assert sqs.wait_for_count(run, source, 1, timeout=5) == 1
    assert sqs.approximate_count(run, dlq) == 0


def test_batching_divides_calls_by_ten(run: Run) -> None:
    table = experiments.batching_calls(run, messages=30)
    assert table.loc["one at a time", "send_calls"] == 30
    assert table.loc["batches of 10", "send_calls"] == 3
    assert (table["messages"] == 30).all()
