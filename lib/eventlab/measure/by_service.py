"""Ready-made measurements, one call per service, for notebooks: :func:`eventlab.measure.paths.measure`
with each service's options spelled out::

    result = measure_sqs(run, LoadSpec(rate=200, duration_s=10, warmup_s=2))
    result.summary
"""

from __future__ import annotations

from eventlab.measure.load import LoadSpec, RetryPolicy
from eventlab.measure.paths import measure
from eventlab.measure.quotas import KinesisQuota, SqsFifoQuota
from eventlab.measure.results import RunResult
from eventlab.run import Run


def _measured(result: RunResult | None) -> RunResult:
    assert result is not None, "these paths run on every target"
    return result


def measure_sqs(
    run: Run,
    spec: LoadSpec,
    *,
    fifo: bool = False,
    receivers: int = 2,
    sqs_fifo_quota: SqsFifoQuota | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 60,
    name: str | None = None,
) -> RunResult:
    """Producer -> SQS queue (standard or FIFO) -> ``receivers`` long-polling threads; an
    emulated FIFO quota if given."""
    path = "sqs-fifo" if fifo else "sqs"
    return _measured(measure(
        run, path, spec, receivers=receivers, sqs_fifo_quota=sqs_fifo_quota, retry=retry, timeout=timeout,
        name=name or f"{path}-{spec.mode}", parameters={"fifo": fifo, "receivers": receivers},
    ))


def measure_sns(
    run: Run,
    spec: LoadSpec,
    *,
    to_queue: bool = True,
    to_http: bool = True,
    receivers: int = 1,
    timeout: float = 60,
    name: str | None = None,
) -> RunResult:
    """Producer -> SNS topic -> an SQS queue (raw delivery) and/or a local HTTP subscriber."""
    if not (to_queue or to_http):
        raise ValueError("measure_sns: subscribe at least one of to_queue or to_http.")
    group = [p for p, wanted in (("sns-sqs", to_queue), ("sns-http", to_http)) if wanted]
    return _measured(measure(
        run, group, spec, receivers=receivers, timeout=timeout, name=name or f"sns-{spec.mode}",
        parameters={"to_queue": to_queue, "to_http": to_http},
    ))


def measure_eventbridge(run: Run, spec: LoadSpec, *, timeout: float = 60, name: str | None = None) -> RunResult:
    """Producer -> custom bus -> rule -> SQS queue -> a receiver (probes as event ``detail``)."""
    return _measured(measure(run, "events-sqs", spec, timeout=timeout, name=name or f"events-{spec.mode}"))


def measure_kinesis(
    run: Run,
    spec: LoadSpec,
    *,
    shards: int = 1,
    polling: bool = True,
    efo: bool = True,
    poll_interval_s: float = 0.2,
    quota: KinesisQuota | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 60,
    name: str | None = None,
) -> RunResult:
    """Producer -> stream -> shared-throughput pollers and/or an enhanced fan-out consumer; an
    emulated per-shard quota (``KinesisQuota().scaled(0.1)``) if given."""
    if not (polling or efo):
        raise ValueError("measure_kinesis: choose polling, efo or both.")
    group = [p for p, wanted in (("kinesis", polling), ("kinesis-efo", efo)) if wanted]
    return _measured(measure(
        run, group, spec, shards=shards, poll_interval_s=poll_interval_s, kinesis_quota=quota, retry=retry,
        timeout=timeout, name=name or f"kinesis-{spec.mode}", parameters={"shards": shards, "poll_interval_s": poll_interval_s},
    ))
