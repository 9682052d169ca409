"""Consumers that record a receipt (with its time) for every probe that reaches them.

- :class:`SqsReceiver`: long-polling receivers (any number of threads), with a pluggable
  handler, partial batch responses, processing time and crash points for fault injection.
- :class:`KinesisPoller`: shared-throughput readers, one thread per shard, polling
  GetRecords at a set interval (AWS advises at least 200 ms; five reads/s per shard in all).
- :class:`KinesisEfoReader`: enhanced fan-out, RegisterStreamConsumer + SubscribeToShard.
- :class:`HttpReceiver`: a local server on 127.0.0.1 that records probes POSTed to it; it is
  also an SNS HTTP subscriber (it confirms subscriptions by fetching the SubscribeURL) and the
  Lambda sink (``POST /receipts`` from a handler, in the format of :mod:`eventlab.measure.sink`).

Each records into a shared :class:`~eventlab.measure.probes.ReceiptLog` and is a context
manager: ``with SqsReceiver(...) as rx:`` starts it and stops it (threads joined) on exit.
"""

from eventlab.measure.consumers.base import Consumer
from eventlab.measure.consumers.http import HttpReceiver, LambdaSink
from eventlab.measure.consumers.kinesis import KinesisEfoReader, KinesisPoller
from eventlab.measure.consumers.sqs import Handler, SqsMessage, SqsReceiver, per_item, probe_ids

__all__ = [
    "Consumer",
    "Handler",
    "HttpReceiver",
    "KinesisEfoReader",
    "KinesisPoller",
    "LambdaSink",
    "SqsMessage",
    "SqsReceiver",
    "per_item",
    "probe_ids",
]
