"""Lambda reading SQS over time, for notebook 05: batching windows, batch sizes and concurrency.

Each experiment builds a queue and a function (the ``batch_probe`` handler, which logs when each
invocation started and ended and what it was given) joined by an event source mapping, sends
messages, and reads the probe's lines back from CloudWatch Logs: what the mapping did is seen
from the function's side, as on AWS.

- :func:`batching_window_experiment`: the same trickle of messages to a mapping without and with
  a batching window; the window gathers more messages into each invocation.
- :func:`burst_experiment`: a burst of messages to a slow function with batch size 1 and 10:
  invocations per message, and how many invocations ran at once (AWS starts with five
  concurrent batches and scales out from there).
- :func:`mapping_settings`: a mapping's batching settings, as Lambda reports them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from eventlab.handlers import handler_dir
from eventlab.run import Run
from eventlab.services import lambda_, sqs
from eventlab.waiting import until

log = logging.getLogger(__name__)

PROBE = "batch_probe"  # the handler folder, and the key of its log lines
SETTINGS = ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "State")
SQS_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
BATCHING = "https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventsourcemapping.html#invocation-eventsourcemapping-batching"
AWS_START_CONCURRENCY = 5  # "Lambda starts processing five batches at a time" (SQS_SCALING)


@dataclass(frozen=True)
class ProbeMapping:
    """A queue read by the probe function through one event source mapping."""

    queue: sqs.Queue
    function: lambda_.Function
    mapping: lambda_.EventSourceMapping


def deploy_probe(run: Run, base: str, *, batch_size: int = 10, window: int = 0, sleep_s: float = 0.0,
                 timeout: int = 10) -> ProbeMapping:
    """A queue, the probe function (each invocation takes ``sleep_s``) and a mapping with this
    batch size and batching window; the queue's visibility timeout is 6x the function's, as
    Lambda's SQS guide recommends."""
    queue = sqs.create_queue(run, base, encrypted=False, attributes={"VisibilityTimeout": 6 * timeout})
    function = lambda_.create_function(run, base, handler_dir(PROBE), timeout=timeout,
                                       environment={"SLEEP_SECONDS": str(sleep_s)},
                                       description="eventlab batch probe (notebook 05)")
    lambda_.invoke(run, function, {"Records": []})  # warm: a cold start would hold the first batch back
    mapping = lambda_.create_event_source_mapping(run, function, queue.arn, batch_size=batch_size,
                                                  maximum_batching_window=window)
    return ProbeMapping(queue=queue, function=function, mapping=mapping)


def mapping_settings(run: Run, uuid: str) -> dict[str, Any]:
    """What GetEventSourceMapping says of a mapping's batching (missing fields as None)."""
    reply = run.target.client("lambda").get_event_source_mapping(UUID=uuid)
    return {name: reply.get(name) for name in SETTINGS}


def invocations(run: Run, probe: ProbeMapping) -> list[dict[str, Any]]:
    """The probe's invocations so far, from its log lines: start, end (epoch seconds), size, bodies."""
    rows = []
    for line in lambda_.filter_log_events(run, probe.function, PROBE):
        start = line.find("{")
        try:
            row = json.loads(line[start:])[PROBE] if start >= 0 else None
        except (ValueError, KeyError, TypeError):
            row = None
        if isinstance(row, dict) and row.get("size"):  # not the warming invocation
            rows.append(row)
    return sorted(rows, key=lambda r: r["start"])


def wait_for_messages(run: Run, probe: ProbeMapping, count: int, timeout: float) -> list[dict[str, Any]]:
    """The invocations once they carried ``count`` records in all (or what came within ``timeout``)."""
    seen: list[dict[str, Any]] = []

    def done() -> bool:
        seen[:] = invocations(run, probe)
        return sum(r["size"] for r in seen) >= count

    if not until(done, timeout=timeout, interval=0.5):
        log.warning("%s: %d of %d records within %.0f s", probe.function.name, sum(r["size"] for r in seen), count, timeout)
    return seen


def max_concurrency(rows: Sequence[dict[str, Any]]) -> int:
    """The most invocations running at one instant, from their [start, end] intervals."""
    edges = sorted([(r["start"], 1) for r in rows] + [(r["end"], -1) for r in rows], key=lambda e: (e[0], e[1]))
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def send(run: Run, queue: sqs.Queue, count: int, *, interval_s: float = 0.0, tag: str = "m") -> float:
    """Send ``count`` messages, one every ``interval_s`` (0: all at once, in batches of 10);
    returns when the first was sent (epoch seconds, the clock the probe logs with)."""
    client = run.target.client("sqs")
    bodies = [f"{tag}-{n}" for n in range(count)]
    first = time.time()
    if interval_s <= 0:
        for start in range(0, count, 10):
            chunk = bodies[start:start + 10]
            client.send_message_batch(QueueUrl=queue.url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)])
        return first
    for n, body in enumerate(bodies):
        if n:
            time.sleep(interval_s)
        client.send_message(QueueUrl=queue.url, MessageBody=body)
    return first


def summary(rows: Sequence[dict[str, Any]], messages: int) -> dict[str, Any]:
    """One variant's figures: invocations, records per invocation, concurrency, records seen."""
    sizes = [r["size"] for r in rows]
    delivered = {b for r in rows for b in r["bodies"]}
    return {
        "messages": messages,
        "delivered": len(delivered),
        "invocations": len(rows),
        "invocations_per_message": round(len(rows) / messages, 3) if messages else None,
        "mean_batch": round(sum(sizes) / len(sizes), 2) if sizes else 0.0,
        "max_batch": max(sizes, default=0),
        "max_concurrency": max_concurrency(rows),
        "span_s": round(rows[-1]["end"] - rows[0]["start"], 2) if rows else None,
    }


def batching_window_experiment(run: Run, *, windows: Sequence[int] = (0, 3), messages: int = 6,
                               interval_s: float = 0.4) -> pd.DataFrame:
    """A trickle (one message every ``interval_s``) to one mapping per batching window, all at
    once; one row per window with its figures (:func:`summary`), the settings read back, and
    ``first_wait_s``: how long after the first message was sent the first invocation started
    (AWS holds a batch that is not full until the window ends, counted from its first record)."""
    probes = {w: deploy_probe(run, f"window{w}", batch_size=10, window=w) for w in windows}
    with ThreadPoolExecutor(len(probes)) as pool:
        firsts = dict(zip(windows, pool.map(lambda w: send(run, probes[w].queue, messages, interval_s=interval_s, tag=f"w{w}"), windows), strict=True))
    rows = []
    for w, probe in probes.items():
        seen = wait_for_messages(run, probe, messages, timeout=max(windows) + 2 * interval_s * messages + 20)
        settings = mapping_settings(run, probe.mapping.uuid)
        rows.append({"window_s": w, "BatchSize": settings["BatchSize"],
                     "MaximumBatchingWindowInSeconds": settings["MaximumBatchingWindowInSeconds"], **summary(seen, messages),
                     "first_wait_s": round(seen[0]["start"] - firsts[w], 2) if seen else None})
    return pd.DataFrame(rows).set_index("window_s")


def burst_experiment(run: Run, *, batch_sizes: Sequence[int] = (1, 10), messages: int = 12,
                     sleep_s: float = 0.3) -> tuple[pd.DataFrame, dict[int, list[dict[str, Any]]]]:
    """A burst of ``messages`` sent at once to a function that takes ``sleep_s`` per invocation,
    one mapping per batch size; the table (one row per batch size) and each one's invocations."""
    probes = {b: deploy_probe(run, f"burst{b}", batch_size=b, sleep_s=sleep_s) for b in batch_sizes}
    with ThreadPoolExecutor(len(probes)) as pool:
        list(pool.map(lambda b: send(run, probes[b].queue, messages, tag=f"b{b}"), batch_sizes))
    rows, seen = [], {}
    for b, probe in probes.items():
        seen[b] = wait_for_messages(run, probe, messages, timeout=messages * (sleep_s + 1) + 20)
        rows.append({"batch_size": b, **summary(seen[b], messages)})
    return pd.DataFrame(rows).set_index("batch_size"), seen


def timeline(seen: dict[int, list[dict[str, Any]]]) -> pd.DataFrame:
    """Every invocation of :func:`burst_experiment` as a row (batch size, start and end in
    seconds from that variant's first start, records, and a lane: invocations that overlap in
    time get different lanes, so the lanes in use at an instant are the concurrency)."""
    rows = []
    for b, invoked in seen.items():
        t0 = min((r["start"] for r in invoked), default=0.0)
        free_at: list[float] = []  # per lane, when its last invocation ended
        for r in sorted(invoked, key=lambda r: r["start"]):
            lane = next((i for i, end in enumerate(free_at) if end <= r["start"]), len(free_at))
            if lane == len(free_at):
                free_at.append(r["end"])
            free_at[lane] = r["end"]
            rows.append({"batch_size": b, "start_s": r["start"] - t0, "end_s": r["end"] - t0, "size": r["size"], "lane": lane})
    return pd.DataFrame(rows, columns=["batch_size", "start_s", "end_s", "size", "lane"])


def plot_timeline(frame: pd.DataFrame) -> Any:
    """The burst's invocations (:func:`timeline`) as bars, one row of bars per lane and one panel
    per batch size; each bar is labelled with the records its batch carried."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sizes = sorted(frame["batch_size"].unique())
    fig = Figure(figsize=(8, 1.0 + 1.2 * max(len(sizes), 1)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(len(sizes), 1), 1, sharex=True, squeeze=False)[:, 0]
    for axis, b in zip(axes, sizes, strict=False):
        part = frame[frame["batch_size"] == b]
        for _, r in part.iterrows():
            axis.broken_barh([(r["start_s"], r["end_s"] - r["start_s"])], (r["lane"] - 0.4, 0.8), color="tab:blue", alpha=0.7)
            axis.text(r["start_s"] + 0.01, r["lane"], str(int(r["size"])), va="center", fontsize=7, color="white")
        axis.set_ylabel(f"batch size {b}\nlane", fontsize="small")
        axis.set_yticks(range(int(part["lane"].max()) + 1 if len(part) else 1))
        axis.grid(True, axis="x", alpha=0.3)
    axes[-1].set_xlabel("seconds since the first invocation started (label: records in the batch)")
    return fig
