"""Every path side by side: the same open-loop load through each, one tidy table.

The paths are :mod:`eventlab.measure.paths`'s (``sqs``, ``sqs-fifo``, ``sns-sqs``,
``events-sqs``, ``kinesis``, ``kinesis-efo``, ``sqs-lambda``).

Each path gets its own resources and its own load, one path after another (so they do not
compete for the machine); the two Kinesis readers share one stream and one load. Every load
is the same :class:`~eventlab.measure.load.LoadSpec`: open loop, unbatched sends, so latency
counts from the intended send time (coordinated omission corrected).

The ``sqs-lambda`` path runs on the embedded LocalStack only, and is skipped on AWS.

Published AWS figures (with their sources) live in ``data/published_aws_figures.yaml``;
:func:`published_latency` and :func:`beside_published` put them next to local results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from eventlab.locations import data_dir
from eventlab.measure import analysis
from eventlab.measure.load import LoadSpec
from eventlab.measure.paths import ORDERED_PATHS, PATHS, SERVICE, measure, path_groups
from eventlab.measure.results import RunResult
from eventlab.run import Run

log = logging.getLogger(__name__)

# What notebook 07 compares (the two FIFO bus paths are notebook 03's order comparison).
ALL_PATHS: tuple[str, ...] = tuple(p for p in PATHS if p not in ("sns-http", "events-sqs-fifo", "events2-sqs-fifo"))
__all__ = ["ALL_PATHS", "ORDERED_PATHS", "SERVICE", "Comparison", "compare_paths"]
PUBLISHED_FIGURES = "published_aws_figures.yaml"  # in data/


# -- running -----------------------------------------------------------------------------------
@dataclass
class Comparison:
    """What :func:`compare_paths` measured: one :class:`RunResult` per load."""

    spec: LoadSpec
    results: list[RunResult]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """Every figure of :func:`eventlab.measure.analysis.summarize`, one row per path."""
        frames = [r.summary for r in self.results]
        return order_paths(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()

    @property
    def messages(self) -> pd.DataFrame:
        """One row per (path, message) with its latencies, every path together (for CDFs)."""
        frames = [r.messages for r in self.results if len(r.receipts)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def ordering(self) -> pd.DataFrame:
        """Per path and key: messages, inversions, largest reorder distance."""
        frames = [analysis.ordering(r.receipts) for r in self.results if len(r.receipts)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def table(self) -> pd.DataFrame:
        """The tidy comparison: one row per path (see :func:`tidy`)."""
        return tidy(self.summary, self.messages, keys=self.spec.keys)


def order_paths(frame: pd.DataFrame, column: str = "path") -> pd.DataFrame:
    """Rows in :data:`ALL_PATHS` order."""
    rank = {p: i for i, p in enumerate(ALL_PATHS)}
    return frame.sort_values(column, key=lambda s: s.map(lambda p: rank.get(p, len(rank)))).reset_index(drop=True)


def delivered_rate(messages: pd.DataFrame) -> pd.Series:
    """Per path: unique messages delivered per second, from the first intended send to the
    last first arrival (the rate the path kept up with, drain included)."""
    rates = {}
    for path, group in messages.groupby("path"):
        span_s = (group["received_ns"].max() - group["intended_ns"].min()) / 1e9
        rates[path] = group["msg_id"].nunique() / span_s if span_s > 0 else float("nan")
    return pd.Series(rates, name="delivered_per_s", dtype=float)


def tidy(summary: pd.DataFrame, messages: pd.DataFrame, *, keys: int) -> pd.DataFrame:
    """The headline columns of a comparison: latency (corrected, ms), duplicates, ordering,
    loss, delivered throughput and the producer's p99 send delay (how late sends started
    against their schedule: a slow producer call shows here, and in the corrected latency),
    one row per path."""
    if summary.empty:
        return pd.DataFrame()
    table = pd.DataFrame(
        {
            "path": summary["path"],
            "service": summary["path"].map(SERVICE).fillna(summary["path"]),
            "sent": summary["sent"],
            "delivered": summary["delivered"],
            "lost": summary["lost"],
            "duplicates": summary["duplicates"],
            "inversions": summary["inversions"],
            "inversions_per_key": summary["inversions"] / max(1, keys),
            "max_reorder_distance": summary["max_reorder_distance"],
            "p50_ms": summary["latency_p50_ms"],
            "p90_ms": summary["latency_p90_ms"],
            "p99_ms": summary["latency_p99_ms"],
            "max_ms": summary["latency_max_ms"],
            "send_delay_p99_ms": summary["send_delay_p99_ms"],
        }
    )
    table["delivered_per_s"] = table["path"].map(delivered_rate(messages)) if len(messages) else np.nan
    return order_paths(table)


def compare_paths(
    run: Run,
    spec: LoadSpec,
    *,
    paths: Sequence[str] = ALL_PATHS,
    shards: int = 2,
    lambda_batch_size: int = 10,
    timeout: float = 60.0,
    quiet_s: float = 0.5,
    on_path: Callable[[str], None] | None = None,
) -> Comparison:
    """Offer the same load (``spec``) through each path in turn and collect the results.

    For each path, one after another: build it, start its consumers, run the load, wait until every message
    sent has arrived on each of its receipt paths (up to ``timeout`` s) and then ``quiet_s``
    more for late duplicates, then stop the consumers. Missing messages are not an error here:
    they show as ``lost`` in the table. Resources belong to ``run``.
    """
    if spec.mode != "open":
        log.warning("compare_paths: a %s-loop load; latency is then not corrected for coordinated omission", spec.mode)
    results: list[RunResult] = []
    seconds: dict[str, float] = {}
    for group in path_groups(paths):
        started = time.monotonic()
        if on_path:
            on_path(group[0])
        result = measure(
            run, group, spec, shards=shards, lambda_batch_size=lambda_batch_size, timeout=timeout, quiet_s=quiet_s,
            name=f"compare-{group[0]}", parameters={"paths": list(paths)},
        )
        if result is None:
            continue
        results.append(result)
        seconds[group[0]] = round(time.monotonic() - started, 2)
        log.info("compare %s: %d receipts in %.1f s (set-up included)", group[0], len(result.receipts), seconds[group[0]])
    return Comparison(spec, results, seconds)


# -- published figures ------------------------------------------------------------------------
def load_published(path: Path | str | None = None) -> dict[str, Any]:
    """The published AWS figures file, as a mapping (``latency`` and ``other`` lists)."""
    file = Path(path) if path else data_dir() / PUBLISHED_FIGURES
    doc = yaml.safe_load(file.read_text())
    for entry in doc.get("latency", []) + doc.get("other", []):
        if not entry.get("source"):
            raise ValueError(f"{file}: every published figure needs a source: {entry}")
    return dict(doc)


def published_latency(path: Path | str | None = None) -> pd.DataFrame:
    """Published end-to-end latency on AWS (p50/p99 ms), one row per service, with sources."""
    rows = load_published(path)["latency"]
    return pd.DataFrame(rows, columns=["service", "p50_ms", "p99_ms", "local_paths", "setup", "source"])


def published_other(path: Path | str | None = None) -> pd.DataFrame:
    """The other published figures (quotas, retries, propagation delays), with sources."""
    return pd.DataFrame(load_published(path)["other"], columns=["figure", "value", "source"])


def beside_published(table: pd.DataFrame, path: Path | str | None = None) -> pd.DataFrame:
    """Local p50/p99 beside the published AWS p50/p99 for each path that has a counterpart."""
    published = published_latency(path).explode("local_paths").rename(
        columns={"local_paths": "path", "service": "published_service", "p50_ms": "aws_p50_ms", "p99_ms": "aws_p99_ms"}
    )
    local = table[["path", "p50_ms", "p99_ms"]].rename(columns={"p50_ms": "local_p50_ms", "p99_ms": "local_p99_ms"})
    merged = local.merge(published[["path", "published_service", "aws_p50_ms", "aws_p99_ms", "setup", "source"]], on="path", how="left")
    return order_paths(merged)


def plot_beside_published(frame: pd.DataFrame) -> Any:
    """Local p50/p99 beside published AWS p50/p99 per path (log scale): bars, one group per path.

    ``frame`` is :func:`beside_published`'s output. Paths without a published counterpart show
    only their local bars.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(len(frame))
    width = 0.2
    series = [
        ("local_p50_ms", "local p50", "tab:blue", 1.0),
        ("local_p99_ms", "local p99", "tab:blue", 0.5),
        ("aws_p50_ms", "published AWS p50", "tab:orange", 1.0),
        ("aws_p99_ms", "published AWS p99", "tab:orange", 0.5),
    ]
    for i, (column, label, colour, alpha) in enumerate(series):
        ax.bar(x + (i - 1.5) * width, frame[column].astype(float), width, label=label, color=colour, alpha=alpha)
    ax.set_xticks(x, frame["path"], rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig
