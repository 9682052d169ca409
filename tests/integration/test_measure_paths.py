"""Probes through every path on the embedded LocalStack: each consumer records every probe.

Counts are small: these check that the measurement is right, not how fast the emulator is.
"""

from __future__ import annotations

import json

import pytest

from eventlab.measure import analysis
from eventlab.measure.consumers import (
    HttpReceiver,
    KinesisEfoReader,
    KinesisPoller,
    LambdaSink,
    SqsReceiver,
)
from eventlab.measure.load import LoadSpec, run_load
from eventlab.measure.probes import ProbeFactory, ReceiptLog
from eventlab.measure.results import RunResult
from eventlab.measure.senders import EventBridgeSender, KinesisSender, SnsSender, SqsSender
from eventlab.measure.sink import report_receipts
from eventlab.run import Run
from eventlab.services import events, kinesis, sns, sqs

pytestmark = pytest.mark.integration
RELEASES = {"localstack": "2026.3", "ministack": "1.5"}  # the locked releases


def test_sqs_open_loop_batched_threads_two_receivers(run: Run, tmp_path) -> None:
    queue = sqs.create_queue(run, "probe")
    client = run.target.client("sqs")
    receipts = ReceiptLog(run.run_id)
    spec = LoadSpec(rate=200, count=120, batch=5, threads=2, warmup_count=20, keys=3)
    with SqsReceiver(client, queue.url, receipts, threads=2):
        load = run_load(SqsSender(client, queue.url, batch=True), run.run_id, spec)
        assert receipts.wait_for(120, timeout=30)
    result = RunResult.build("sqs-200", run.target, load, receipts)
    row = result.summary.iloc[0]
    assert row["sent"] == 120 and row["delivered"] == 120 and row["lost"] == 0
    assert row["measured"] == 100 and row["warmup_discarded"] == 20
    assert row["latency_p50_ms"] > 0
    assert load.calls["calls"] == 24  # 120 probes in batches of 5
    saved = result.save(tmp_path)
    doc = json.loads(saved.read_text())
    assert doc["provenance"]["target"]["kind"] == doc["provenance"]["backend"] == run.target.backend
    assert doc["provenance"]["emulator_version"].startswith(RELEASES[run.target.backend])
    assert doc["provenance"]["machine"]["cores"] >= 1
    assert doc["provenance"]["parameters"]["load"][0]["rate"] == 200
    again = RunResult.load(saved)
    assert len(again.receipts) == len(result.receipts)


def test_fifo_queue_keeps_order_per_key_and_closed_loop(run: Run) -> None:
    queue = sqs.create_queue(run, "ordered", fifo=True)
    client = run.target.client("sqs")
    receipts = ReceiptLog(run.run_id)
    with SqsReceiver(client, queue.url, receipts):
        load = run_load(SqsSender(client, queue.url), run.run_id, LoadSpec(mode="closed", count=40, keys=4))
        assert receipts.wait_for(40, timeout=30)
    summary = analysis.summarize(load.frame(), receipts.to_frame())
    assert summary.iloc[0]["inversions"] == 0 and summary.iloc[0]["duplicates"] == 0
    assert analysis.ordering(receipts.to_frame())["messages"].tolist() == [10, 10, 10, 10]


def test_sns_fans_out_to_a_queue_and_an_http_subscriber(run: Run) -> None:
    topic = sns.create_topic(run, "fan")
    queue = sqs.create_queue(run, "fan-q")
    sns.subscribe_queue(run, topic, queue, raw_message_delivery=True)
    receipts = ReceiptLog(run.run_id)
    with HttpReceiver(receipts) as http:
        sns.subscribe(run, topic, "http", http.url)
        http.wait_confirmed(topic.arn)
        with SqsReceiver(run.target.client("sqs"), queue.url, receipts, path="sns-sqs"):
            load = run_load(SnsSender(run.target.client("sns"), topic.arn, batch=True), run.run_id, LoadSpec(rate=100, count=30, batch=10))
            assert receipts.wait_for(30, timeout=30, path="http")
            assert receipts.wait_for(30, timeout=30, path="sns-sqs")
    summary = analysis.summarize(load.frame(), receipts.to_frame()).set_index("path")
    assert set(summary.index) == {"http", "sns-sqs"}
    assert (summary["delivered"] == 30).all() and (summary["lost"] == 0).all()


def test_eventbridge_to_a_queue(run: Run) -> None:
    bus = events.create_event_bus(run, "probes")
    queue = sqs.create_queue(run, "eb-q")
    rule = events.put_rule(run, bus, "all-probes", event_pattern={"source": ["eventlab.probe"]})
    sqs.allow_senders(run, queue, service="events.amazonaws.com", source_arns=[rule.arn])
    events.put_targets(run, rule, [{"Id": "q", "Arn": queue.arn}])
    receipts = ReceiptLog(run.run_id)
    with SqsReceiver(run.target.client("sqs"), queue.url, receipts, path="events-sqs"):
        load = run_load(EventBridgeSender(run.target.client("events"), bus.name, batch=True), run.run_id, LoadSpec(rate=100, count=30, batch=10))
        assert receipts.wait_for(30, timeout=30)
    row = analysis.summarize(load.frame(), receipts.to_frame()).iloc[0]
    assert row["delivered"] == 30 and row["lost"] == 0


def test_kinesis_polling_and_enhanced_fan_out(run: Run) -> None:
    stream = kinesis.create_stream(run, "probes", shard_count=2)
    client = run.target.client("kinesis")
    receipts = ReceiptLog(run.run_id)
    efo = KinesisEfoReader(run, stream.arn, stream.name, receipts)
    with KinesisPoller(client, stream.name, receipts, interval_s=0.2), efo:
        load = run_load(KinesisSender(client, stream.name, batch_size=10), run.run_id, LoadSpec(rate=100, count=40, batch=10, keys=4))
        # LocalStack's SubscribeToShard sleeps 3 s after every empty read (kinesis/provider.py)
        assert receipts.wait_for(40, timeout=30, path="kinesis")
        assert receipts.wait_for(40, timeout=30, path="kinesis-efo")
    summary = analysis.summarize(load.frame(), receipts.to_frame()).set_index("path")
    assert summary.loc["kinesis", "delivered"] == 40
    assert summary.loc["kinesis-efo", "delivered"] == 40
    assert (summary["inversions"] == 0).all()  # one shard per key keeps order


def test_lambda_sink_records_what_a_handler_reports(run: Run) -> None:
    receipts = ReceiptLog(run.run_id)
    factory = ProbeFactory(run.run_id)
    probes = [factory.make(0) for _ in range(3)]
    sqs_event = {"Records": [{"body": p.to_json(), "eventSource": "aws:sqs"} for p in probes]}
    with HttpReceiver(receipts) as http:
        sink = LambdaSink(http)
        report_receipts(sink.environment()["EVENTLAB_SINK_URL"], sqs_event, consumer="fn")
    frame = receipts.to_frame()
    assert frame["path"].tolist() == ["lambda"] * 3 and set(frame["msg_id"]) == {p.msg_id for p in probes}
