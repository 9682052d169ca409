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


def test_fifo_order_report_counts_every_message_processed_once(run: Run) -> None:
    fifo = experiments.processing_order(run, fifo=True, messages=30, keys=3, consumers=3)
    assert fifo.sent == 30 and fifo.processed_distinct == 30 and fifo.processed_repeats == 0
    assert fifo.summary()["processed"] == 30


def test_batch_limits_are_the_services(run: Run) -> None:
    limits = experiments.batch_limits(run)
    assert limits.over_limit_entries == 11 and limits.over_limit_error == "TooManyEntriesInBatchRequest"
    assert limits.accepted == limits.depth_after_send == limits.received == 10
    assert limits.largest_receive > 1 and limits.receive_calls >= 1


def test_a_consumer_outage_leaves_the_messages_in_the_queue(run: Run) -> None:
    report = experiments.consumer_outage(run, rate=20, before_s=0.5, outage_s=1.5, after_s=0.5)
    assert report.sent == 50 and report.delivered == 50 and report.lost == 0 and report.duplicates == 0
    assert report.received_between("consumer stopped", "consumer back") == 0
    sent = report.sent_between("consumer stopped", "consumer back")
    assert sent > 0 and report.depth_rise("consumer stopped", "consumer back") >= sent // 2
    assert report.final_depth == 0
    assert report.plot().axes  # the picture draws


def test_a_burst_waits_in_the_queue_while_the_consumer_keeps_its_pace(run: Run) -> None:
    report = experiments.burst_buffering(run, burst=40, intake=20.0)
    assert report.delivered == 40 and report.lost == 0 and report.duplicates == 0
    assert report.peak_depth >= 20 and report.final_depth == 0
    rates = report.rates(bin_s=1.0)
    assert rates["sent_per_s"].sum() == 40 and rates["received_per_s"].sum() == 40
    assert report.plot().axes


def test_fifo_deduplication_scenarios_deliver_what_aws_documents(run: Run) -> None:
    table = experiments.fifo_deduplication(run)
    assert len(table) == 5 and table["case"].str.startswith("sqs.fifo.").all()
    assert (table["delivered"] == table["aws_delivers"]).all(), table.to_string()


def test_message_sizes_on_a_default_queue(run: Run) -> None:
    sizes = experiments.message_sizes(run)
    over_old, at_max, over_max = (sizes.loc[n] for n in (experiments.OLD_MAX_MESSAGE + 1, experiments.MAX_MESSAGE, experiments.MAX_MESSAGE + 1))
    assert over_old["accepted"] and over_old["received_bytes"] == experiments.OLD_MAX_MESSAGE + 1
    assert at_max["accepted"] and at_max["received_bytes"] == experiments.MAX_MESSAGE
    assert not over_max["accepted"] and over_max["error"]
    assert (sizes["default MaximumMessageSize"] == experiments.MAX_MESSAGE).all()
