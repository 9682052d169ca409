"""The workbook runner: what it changes for a notebook's kernel, it puts back."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from eventlab import workbook

ROOT = Path(__file__).resolve().parents[2]


def test_executing_a_notebook_puts_the_environment_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """workbook.execute tells the kernel where to write figures; the caller's environment is as it was."""
    monkeypatch.delenv(workbook.FIGURES_ENV, raising=False)
    seen: list[str] = []

    def execute(*args: object, **kwargs: object) -> None:
        seen.append(os.environ[workbook.FIGURES_ENV])

    monkeypatch.setattr("papermill.execute_notebook", execute)
    workbook._execute(ROOT / "notebooks" / "00-getting-started.ipynb", tmp_path, {}, 60)
    assert seen == [str(tmp_path / "figures")] and workbook.FIGURES_ENV not in os.environ
    monkeypatch.setenv(workbook.FIGURES_ENV, "/somewhere/else")
    workbook._execute(ROOT / "notebooks" / "00-getting-started.ipynb", tmp_path, {}, 60)
    assert os.environ[workbook.FIGURES_ENV] == "/somewhere/else"


def _target(backend: str) -> object:
    """A stand-in with what Checks reads of a Target."""
    return type("T", (), {"backend": backend, "kind": backend})()


def test_checks_judge_every_claim_record_them_all_then_fail_naming_each(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One failing claim does not hide the next: all are recorded (N / M), then the failures are named."""
    monkeypatch.setenv(workbook.FIGURES_ENV, str(tmp_path))
    checks = workbook.Checks("99-sample", _target("localstack"))
    checks.that(True, "a queue keeps every message")
    checks.that(False, "FIFO delivers in order", "2 inversions")
    checks.that(False, "no leaks", "left: queue")
    checks.figure("latency p50", 12.5, "ms", aws="tens of ms", source="https://docs.aws.amazon.com/")
    with pytest.raises(workbook.ChecksFailed) as failed:
        checks.record()
    assert "2 of 3 checks of 99-sample failed" in str(failed.value)
    assert "FIFO delivers in order: 2 inversions" in str(failed.value) and "no leaks: left: queue" in str(failed.value)
    doc = json.loads((tmp_path / "99-sample.json").read_text())
    assert [c["passed"] for c in doc["checks"]] == [True, False, False] and doc["backend"] == "localstack"
    assert doc["table"] == [{"name": "latency p50", "value": 12.5, "unit": "ms", "aws": "tens of ms",
                             "source": "https://docs.aws.amazon.com/", "path": None}]
    assert doc["figures"] == {"latency p50": 12.5}, "without figures of its own, the table's values are the figures"


def test_a_checks_cell_that_checks_nothing_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(workbook.FIGURES_ENV, str(tmp_path))
    with pytest.raises(workbook.ChecksFailed, match="checked nothing"):
        workbook.Checks("99-empty").record({"x": 1})


def test_a_case_with_a_known_difference_must_still_differ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """On a backend with a known difference the claim must not hold (and the line says what AWS does);
    a backend that now agrees fails until the row goes; a backend without one must hold."""
    from eventlab.fidelity.differences import KNOWN_DIFFERENCES

    monkeypatch.setenv(workbook.FIGURES_ENV, str(tmp_path))
    case_id = next(iter(KNOWN_DIFFERENCES["ministack"]))
    differing = workbook.Checks("99-case", _target("ministack"))
    assert differing.case(case_id, False, "the claim AWS makes") is True
    assert differing.known_differences and "AWS:" in differing.known_differences[0]
    differing.record()
    agreeing = workbook.Checks("99-case", _target("ministack"))
    assert agreeing.case(case_id, True, "the claim AWS makes") is False
    with pytest.raises(workbook.ChecksFailed, match="remove it from KNOWN_DIFFERENCES"):
        agreeing.record()
    other = next(b for b in ("localstack", "ministack") if case_id not in KNOWN_DIFFERENCES.get(b, {}))
    assert workbook.Checks("99-case", _target(other)).case(case_id, False, "the claim AWS makes") is False


def test_a_failed_notebook_keeps_what_its_checks_cell_recorded_but_not_an_older_record(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    stale = tmp_path / "figures" / "00-getting-started.json"
    stale.write_text(json.dumps({"recorded_at": 0, "figures": {"old": 1}, "checks": []}))

    def execute(*args: object, **kwargs: object) -> None:
        stale.write_text(json.dumps({"recorded_at": time.time(), "figures": {"new": 2},
                                     "checks": [{"claim": "c", "passed": False}], "backend": "ministack"}))

    monkeypatch.setattr("papermill.execute_notebook", execute)
    result = workbook._execute(ROOT / "notebooks" / "00-getting-started.ipynb", tmp_path, {}, 60)
    assert result.figures == {"new": 2} and result.checks == [{"claim": "c", "passed": False}] and result.backend == "ministack"
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: None)
    assert workbook._execute(ROOT / "notebooks" / "00-getting-started.ipynb", tmp_path, {}, 60).figures == {}
