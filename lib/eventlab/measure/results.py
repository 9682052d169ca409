"""Results: the tidy tables of a run and a JSON record of what produced them.

A :class:`RunResult` holds one row per probe sent (``sends``), one row per receipt
(``receipts``), one row per (path, message) with its latencies (``messages``) and the
per-path ``summary``; ``provenance`` says where and how it ran: target, LocalStack version,
machine, git commit, parameters, time. ``save`` writes ``<name>-<target>-<timestamp>``
``.json`` (provenance, summary and figures) beside ``-sends.csv`` and ``-receipts.csv``; plots
are made afterwards from the saved files (see :mod:`eventlab.measure.plots`).

A result renders its own headline figures (:meth:`RunResult.figures`; :func:`figures_of` for a
saved one), and this module alone reads the saved format back (:func:`read_saved`): the
benchmark runner and its report only ask.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from eventlab.measure import analysis
from eventlab.measure.load import LoadResult
from eventlab.measure.probes import ReceiptLog
from eventlab.measure.quotas import QuotaEmulator
from eventlab.target import Target

log = logging.getLogger(__name__)

# The headline figures of a result (of its first receipt path), and which direction is better.
FIGURES: dict[str, Literal["lower", "higher"]] = {
    "latency_p50_ms": "lower",
    "latency_p99_ms": "lower",
    "send_delay_p99_ms": "lower",
    "throughput_msg_s": "higher",
    "duplicate_rate": "lower",
    "inversions": "lower",
    "lost": "lower",
}


def git_commit(where: Path | None = None) -> dict[str, Any]:
    """The commit of the checkout ``where`` (default: this package's), and whether it is dirty."""
    cwd = where or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError) as error:
        log.info("no git commit for the results: %s", error)
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        # other processes on a shared machine change every timing: keep the load with the result
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def provenance(target: Target, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a result records about what produced it."""
    version = None
    try:
        version = target.emulator_version()
    except Exception as error:  # noqa: BLE001 - provenance must not fail a run
        version = f"unknown ({error})"
    return {
        "target": target.describe(),
        "backend": target.backend,
        "emulator_version": version,
        # kept for results written before there were two backends
        "localstack_version": version if target.backend == "localstack" else None,
        "machine": machine(),
        "git": git_commit(),
        "parameters": parameters or {},
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


@dataclass
class RunResult:
    """Everything one measurement produced, as tidy tables plus provenance."""

    name: str
    sends: pd.DataFrame
    receipts: pd.DataFrame
    provenance: dict[str, Any]
    dlq_ids: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=dict)
    quota_events: pd.DataFrame = field(default_factory=pd.DataFrame)
    receipt_paths: list[str] = field(default_factory=list)
    """The paths the measurement expected receipts on: each has a summary row, also when nothing arrived."""

    @classmethod
    def build(
        cls,
        name: str,
        target: Target,
        load: LoadResult | list[LoadResult],
        receipts: ReceiptLog,
        *,
        dlq_ids: set[str] | None = None,
        quotas: QuotaEmulator | None = None,
        parameters: dict[str, Any] | None = None,
        receipt_paths: list[str] | None = None,
    ) -> RunResult:
        loads = load if isinstance(load, list) else [load]
        sends = pd.concat([lr.frame() for lr in loads], ignore_index=True)
        calls: dict[str, int] = {}
        for lr in loads:
            for k, v in lr.calls.items():
                calls[k] = calls.get(k, 0) + v
        params = {"load": [lr.spec.as_dict() for lr in loads], **(parameters or {})}
        events = pd.DataFrame([e.__dict__ for e in quotas.events]) if quotas else pd.DataFrame()
        return cls(
            name, sends, receipts.to_frame(), provenance(target, params), set(dlq_ids or ()), calls, events,
            list(receipt_paths or ()),
        )

    @property
    def messages(self) -> pd.DataFrame:
        """One row per (path, message): first receipt, number of receipts, latencies (ns)."""
        return analysis.latency_table(self.sends, self.receipts)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per path: latency percentiles (ms), duplicates, ordering, loss, throttling."""
        return analysis.summarize(self.sends, self.receipts, dlq_ids=self.dlq_ids, calls=self.calls, paths=self.receipt_paths)

    def summary_by_path(self, sources: Mapping[str, str] | None = None) -> pd.DataFrame:
        """The summary, one row per receipt path, each judged only against its own sends,
        indexed by path. ``sources`` maps a receipt path to the send path that feeds it when the
        names differ (one SNS load, read on ``sns-sqs`` and ``sns-http``: ``{"sns-sqs": "sns"}``);
        without it this is :attr:`summary` by path. A path on which nothing arrived has its row
        too, every message lost (see :func:`eventlab.measure.analysis.report_paths`)."""
        sources = sources or {}
        expected = set(self.receipt_paths) | set(self.receipts["path"].unique())
        fed = {sources.get(path, path) for path in expected}
        unread = set(self.sends["path"].unique()) - fed if fed <= set(self.sends["path"]) else set()
        rows = []
        for path in sorted(expected | unread):
            sends = self.sends[self.sends["path"] == sources.get(path, path)]
            if sends.empty:  # a receipt path with no sends of its name reads the whole load
                sends = self.sends
            receipts = self.receipts[self.receipts["path"] == path]
            rows.append(analysis.summarize(sends, receipts, paths=[path]))
        return pd.concat(rows, ignore_index=True).set_index("path")

    def figures(self) -> dict[str, float]:
        """The headline figures (:data:`FIGURES`) of the first receipt path, as the benchmark
        compares them; a figure nothing measured (latency, when every message was lost) is absent."""
        return figures_of(self.to_json())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provenance": self.provenance,
            "summary": json.loads(self.summary.to_json(orient="records")),
            "calls": self.calls,
            "dlq": len(self.dlq_ids),
            "quota_refusals": len(self.quota_events),
            "receipt_paths": self.receipt_paths,
        }

    def save(self, directory: Path | str) -> Path:
        """Write the JSON record and the CSV tables; returns the JSON path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        stem = f"{self.name}-{self.provenance['target']['kind']}-{stamp}"
        self.sends.to_csv(directory / f"{stem}-sends.csv", index=False)
        self.receipts.to_csv(directory / f"{stem}-receipts.csv", index=False)
        out = directory / f"{stem}.json"
        out.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        log.info("results written to %s", out)
        return out

    @classmethod
    def load(cls, json_path: Path | str) -> RunResult:
        """Read a saved result back (tables from the CSVs beside the JSON)."""
        json_path = Path(json_path)
        doc = json.loads(json_path.read_text())
        stem = json_path.with_suffix("")
        sends = pd.read_csv(f"{stem}-sends.csv", keep_default_na=False, dtype={"msg_id": str, "key": str, "error": str})
        receipts = pd.read_csv(f"{stem}-receipts.csv", keep_default_na=False, dtype={"msg_id": str, "key": str, "source": str})
        return cls(
            doc["name"], sends, receipts, doc["provenance"], set(), doc.get("calls", {}),
            receipt_paths=list(doc.get("receipt_paths", [])),
        )


# -- saved results, read back -------------------------------------------------------------------
def figures_of(document: Mapping[str, Any]) -> dict[str, float]:
    """The headline figures of a result as :meth:`RunResult.to_json` wrote it: those of its first
    receipt path, with the throughput over the load's duration (a benchmark's ``duration``
    parameter, else its load's ``duration_s``)."""
    (row,) = document["summary"][:1] or [{}]
    parameters = document["provenance"]["parameters"]
    duration = float(parameters.get("duration") or parameters["load"][0].get("duration_s") or 0)
    figures = {name: float(row[name]) for name in FIGURES if row.get(name) is not None and not math.isnan(float(row[name]))}
    if duration > 0 and "delivered" in row:
        figures["throughput_msg_s"] = float(row["delivered"]) / duration
    return figures


def name_of(document: Mapping[str, Any]) -> str:
    """What was measured (a benchmark workload's name, or an experiment's label)."""
    return str(document["name"])


def target_of(document: Mapping[str, Any]) -> str:
    """Where it ran: ``localstack`` or ``aws``."""
    return str(document["provenance"]["target"]["kind"])


def session_of(document: Mapping[str, Any]) -> str:
    """The bench session it belongs to ("" for a result made outside ``eventlab bench``)."""
    return str(document["provenance"]["parameters"].get("session", ""))


def read_saved(folder: Path, *, name: str | None = None, target: str | None = None, session: str | None = None) -> list[dict[str, Any]]:
    """The results saved in ``folder`` (oldest first), filtered by name, target and bench
    session; each with the ``file`` it was read from."""
    found = []
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text())
        if (name and name_of(document) != name) or (target and target_of(document) != target):
            continue
        if session and session_of(document) != session:
            continue
        document["file"] = str(path)
        found.append(document)
    return sorted(found, key=lambda d: d["provenance"]["time"])


def trend(documents: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per saved result: what was measured, where, when, in which session, its figures."""
    rows = [
        {"workload": name_of(d), "target": target_of(d), "time": pd.Timestamp(d["provenance"]["time"]),
         "session": session_of(d), **figures_of(d)}
        for d in documents
    ]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["workload", "target", "time", "session", *FIGURES])
