"""Plots from result tables: latency CDF per path, histograms, throughput, reorder scatter.

Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas (no pyplot, no
display needed), so ``fig.savefig(...)`` works anywhere. In a notebook, run
``%matplotlib inline`` once and a figure returned as a cell's last value is shown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eventlab.measure import analysis


def _figure(width: float = 7, height: float = 4) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def latency_cdf(messages: pd.DataFrame, *, corrected: bool = True, log_x: bool = True) -> Figure:
    """Cumulative distribution of latency per path (ms), warm-up excluded."""
    fig, ax = _figure()
    column = "latency_ns" if corrected else "latency_uncorrected_ns"
    drawn = 0
    measured = messages[~messages["warmup"].astype(bool)] if len(messages) else messages
    for path, group in measured.groupby("path") if len(measured) else ():
        values = np.sort(group[column].dropna().to_numpy() / 1e6)
        if len(values):
            ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post", label=f"{path} (n={len(values)})")
            drawn += 1
    ax.set_xlabel("latency (ms, " + ("from intended send time" if corrected else "from actual send") + ")")
    ax.set_ylabel("fraction of messages")
    if not drawn:  # every message lost: say so rather than draw an empty chart
        ax.text(0.5, 0.5, "no message arrived", ha="center", va="center", transform=ax.transAxes)
        return fig
    if log_x:
        ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def latency_histogram(messages: pd.DataFrame, *, bins: int = 50) -> Figure:
    """Histogram of latency per path (ms), warm-up excluded."""
    fig, ax = _figure()
    for path, group in messages[~messages["warmup"].astype(bool)].groupby("path"):
        ax.hist(group["latency_ns"] / 1e6, bins=bins, alpha=0.5, label=str(path))
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("messages")
    ax.legend()
    return fig


def throughput_over_time(sends: pd.DataFrame, receipts: pd.DataFrame, *, bin_s: float = 1.0) -> Figure:
    """Messages per second sent (accepted) and received per path, over the run."""
    fig, ax = _figure()
    t0 = min(sends["intended_ns"].min(), receipts["received_ns"].min()) if len(receipts) else sends["intended_ns"].min()

    def plot(frame: pd.DataFrame, column: str, label: str) -> None:
        if frame.empty:
            return
        seconds = ((frame[column] - t0) / 1e9 // bin_s) * bin_s
        series = seconds.value_counts().sort_index() / bin_s
        ax.plot(series.index, series.values, marker=".", label=label)

    plot(sends[sends["ok"].astype(bool)], "end_ns", "sent (accepted)")
    for path, group in receipts.groupby("path"):
        plot(group, "received_ns", f"received: {path}")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("messages/s")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def reorder_scatter(receipts: pd.DataFrame, *, path: str | None = None) -> Figure:
    """Sequence number against arrival position, per key: a diagonal line means in order."""
    fig, ax = _figure()
    df = receipts if path is None else receipts[receipts["path"] == path]
    first = analysis.first_receipts(df)
    for key, group in first.groupby("key"):
        ax.scatter(np.arange(len(group)), group["seq"], s=6, label=str(key))
    ax.set_xlabel("arrival position within key")
    ax.set_ylabel("sequence number")
    if first["key"].nunique() <= 10:
        ax.legend(title="key")
    return fig
