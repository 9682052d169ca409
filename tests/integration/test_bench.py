"""The smoke set of benchmarks, run as CI runs it: papermill, repeats, results, compare.

The verdicts are not asserted (timings on a shared machine are noise); what is asserted is
that every run delivered everything, wrote its result, and was compared figure by figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlab import bench
from eventlab.locations import build_dir
from eventlab.measure.results import FIGURES
from eventlab.runtime import EmulatorProcess

pytestmark = pytest.mark.integration


def test_smoke_set_runs_and_compares(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVENTLAB_ENDPOINT_URL", emulator.endpoint_url)
    monkeypatch.setenv("EVENTLAB_RESULTS_DIR", str(tmp_path))
    session = bench.new_session()
    for path in bench.workload_set("smoke"):
        workload = bench.load_workload(path)
        results = bench.run_workload(path, repeats=2, session=session, output_dir=build_dir() / "test-bench")
        assert len(results) == 2
        for doc in results:
            assert Path(doc["file"]).name.startswith(f"{workload.name}-localstack-")
            (row,) = doc["summary"]
            assert row["lost"] == 0 and row["delivered"] == row["sent"] > 0
            assert doc["provenance"]["parameters"]["session"] == session
        baseline = bench.Baseline.load(workload.name, "localstack")
        assert baseline is not None, f"commit a baseline for {workload.name}"
        changes = bench.compare(baseline, results)
        assert {c.figure for c in changes} == set(FIGURES)
        assert all(c.verdict in ("regression", "improvement", "unchanged") for c in changes)
        json.dumps([c.__dict__ for c in changes])
