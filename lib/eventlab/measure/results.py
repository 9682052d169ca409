"""Results: the tidy tables of a run and a JSON record of what produced them.

A :class:`RunResult` holds one row per probe sent (``sends``), one row per receipt
(``receipts``), one row per (path, message) with its latencies (``messages``) and the
per-path ``summary``; ``provenance`` says where and how it ran: target, LocalStack version,
machine, git commit, parameters, time. ``save`` writes ``<workload>-<target>-<timestamp>``
``.json`` (provenance and summary) beside ``-sends.csv`` and ``-receipts.csv``; plots are made
afterwards from the saved files (see :mod:`eventlab.measure.plots`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from eventlab.measure import analysis
from eventlab.measure.load import LoadResult
from eventlab.measure.probes import ReceiptLog
from eventlab.measure.quotas import QuotaEmulator
from eventlab.target import Target

log = logging.getLogger(__name__)


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
    if target.is_emulated:
        from eventlab.runtime import localstack_version

        try:
            version = localstack_version()
        except Exception as error:  # noqa: BLE001 - provenance must not fail a run
            version = f"unknown ({error})"
    return {
        "target": target.describe(),
        "localstack_version": version,
        "machine": machine(),
        "git": git_commit(),
        "parameters": parameters or {},
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


@dataclass
class RunResult:
    """Everything one measurement produced, as tidy tables plus provenance."""

    workload: str
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
        workload: str,
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
            workload, sends, receipts.to_frame(), provenance(target, params), set(dlq_ids or ()), calls, events,
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

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
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
        stem = f"{self.workload}-{self.provenance['target']['kind']}-{stamp}"
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
            doc["workload"], sends, receipts, doc["provenance"], set(), doc.get("calls", {}),
            receipt_paths=list(doc.get("receipt_paths", [])),
        )
