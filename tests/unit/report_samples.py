"""Executed-notebook stand-ins for the results page's tests: records as a checks cell writes them,
and a notebook with a plot in its outputs."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from eventlab.workbook import NotebookResult


def plot_png() -> str:
    """A small line plot, base64-encoded as a notebook output holds it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 3))
    figure.add_subplot().plot([0, 1, 2, 3], [3, 1, 2, 0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def executed_notebook(folder: Path, stem: str, title: str, *, plot: bool = True) -> Path:
    """An executed notebook file: a heading, and a cell whose output is a plot."""
    outputs = [{"output_type": "display_data", "data": {"image/png": plot_png()}, "metadata": {}}] if plot else []
    cells = [{"cell_type": "markdown", "id": "heading", "metadata": {}, "source": [f"# {title}\n", "Some prose."]},
             {"cell_type": "code", "id": "plot", "metadata": {}, "execution_count": 1, "source": "plot()", "outputs": outputs}]
    path = folder / f"{stem}.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def results(folder: Path) -> list[NotebookResult]:
    """Two notebooks: one passed every check with figures and a plot; one failed a check."""
    first = executed_notebook(folder, "01-sqs", "SQS: queues, ordering and redelivery")
    second = executed_notebook(folder, "04-kinesis", "Kinesis: shards and order", plot=False)
    return [
        NotebookResult(
            notebook="01-sqs", output=str(first), ok=True, seconds=41.2, backend="ministack",
            checks=[{"claim": "a standard queue loses no message", "passed": True, "detail": "", "known_difference": None},
                    {"claim": "FIFO delivers each group in order", "passed": True, "detail": "",
                     "known_difference": "known difference on ministack (sqs.x): AWS: refused"}],
            table=[{"name": "delivery latency p50, standard queue", "value": 3.21, "unit": "ms", "aws": None,
                    "source": None, "path": "sqs"},
                   {"name": "messages sent", "value": 200, "unit": "messages", "aws": None, "source": None, "path": None}],
            figures={"latency_ms": {"p50": 3.21}},
        ),
        NotebookResult(
            notebook="04-kinesis", output=str(second), ok=False, seconds=60.0, backend="ministack",
            error="ChecksFailed: 1 of 2 checks of 04-kinesis failed", failed_cell=31,
            checks=[{"claim": "more shards admit more records", "passed": False, "detail": "1 shard 500/s, 2 shards 500/s",
                     "known_difference": None},
                    {"claim": "order holds within a shard", "passed": True, "detail": "", "known_difference": None}],
            figures={"shards": 2, "throttled": {"one": 12, "two": 0}},
        ),
    ]
