"""The workbook runner: what it changes for a notebook's kernel, it puts back."""

from __future__ import annotations

import os
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
