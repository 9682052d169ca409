"""The same consumer in another process: what it needs, as plain data, and the rebuild there.

Only consumers whose whole behaviour is in their settings travel: plain SQS receivers (no
handler, no injected crash or processing time: those live in this process's code and state) and
Kinesis pollers. Enhanced fan-out readers (a consumer registered under the run) and the HTTP
sinks (a server on this machine's loopback) stay where they were built.
"""

from __future__ import annotations

from typing import Any

from eventlab.measure.consumers.base import Consumer
from eventlab.measure.consumers.kinesis import KinesisPoller
from eventlab.measure.consumers.sqs import SqsReceiver
from eventlab.measure.probes import ReceiptLog
from eventlab.target import Target


def address(consumer: Any) -> dict[str, Any] | None:
    """What another process needs to run the same consumer with clients of its own; None when
    it cannot move (see the module's docstring)."""
    if isinstance(consumer, SqsReceiver):
        plain = consumer.handler is None and consumer.crash_after is None and not consumer.processing_s and consumer.delete
        if not plain:
            return None
        return {
            "kind": "sqs", "address": consumer.queue_url, "path": consumer.path, "threads": consumer.n_threads,
            "wait_s": consumer.wait_s, "max_messages": consumer.max_messages, "visibility_timeout": consumer.visibility_timeout,
        }
    if isinstance(consumer, KinesisPoller):
        return {
            "kind": "kinesis", "address": consumer.stream_name, "path": consumer.path, "interval_s": consumer.interval_s,
            "limit": consumer.limit, "start": consumer.start_type,
        }
    return None


def rebuild(target: Target, receipts: ReceiptLog, *, kind: str, address: str, **settings: Any) -> Consumer:
    """The consumer an :func:`address` describes, on ``target``'s clients, recording into ``receipts``."""
    if kind == "sqs":
        return SqsReceiver(target.client("sqs"), address, receipts, **settings)
    if kind == "kinesis":
        return KinesisPoller(target.client("kinesis"), address, receipts, **settings)
    raise ValueError(f"no consumer of kind {kind!r} can be rebuilt")
