"""The measurement toolkit: probes, load, consumers, analysis, emulated quotas, faults, results,
plots, and one ready-made measurement per service.

In one call: ``measure_sqs(run, LoadSpec(rate=200, duration_s=10, warmup_s=2)).summary``.
By hand::

    receipts = ReceiptLog(run.run_id)
    with SqsReceiver(target.client("sqs"), queue.url, receipts, threads=2):
        load = run_load(SqsSender(target.client("sqs"), queue.url), run.run_id, LoadSpec(rate=100, count=500))
        receipts.wait_for(500, timeout=30)
    result = RunResult.build("sqs-100", run.target, load, receipts)
    result.summary      # one row per path: latency percentiles, duplicates, ordering, loss, throttling
"""

from eventlab.measure.analysis import summarize
from eventlab.measure.by_service import (
    measure_eventbridge,
    measure_kinesis,
    measure_sns,
    measure_sqs,
)
from eventlab.measure.consumers import (
    HttpReceiver,
    KinesisEfoReader,
    KinesisPoller,
    LambdaSink,
    SqsReceiver,
)
from eventlab.measure.load import LoadGenerator, LoadSpec, RetryPolicy, run_load
from eventlab.measure.probes import Probe, ProbeFactory, ReceiptLog
from eventlab.measure.quotas import KinesisQuota, QuotaEmulator, SqsFifoQuota, emulate_quotas
from eventlab.measure.results import RunResult
from eventlab.measure.senders import EventBridgeSender, KinesisSender, SnsSender, SqsSender

__all__ = [
    "EventBridgeSender",
    "HttpReceiver",
    "KinesisEfoReader",
    "KinesisPoller",
    "KinesisQuota",
    "KinesisSender",
    "LambdaSink",
    "LoadGenerator",
    "LoadSpec",
    "Probe",
    "ProbeFactory",
    "QuotaEmulator",
    "ReceiptLog",
    "RetryPolicy",
    "RunResult",
    "SnsSender",
    "SqsFifoQuota",
    "SqsReceiver",
    "SqsSender",
    "emulate_quotas",
    "measure_eventbridge",
    "measure_kinesis",
    "measure_sns",
    "measure_sqs",
    "run_load",
    "summarize",
]
