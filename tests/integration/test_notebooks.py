"""Every notebook, executed by papermill against the session's embedded emulator (its ``target``
parameter names the session's backend).

Outputs go to build/test-notebooks/<backend>, never over the sources. A failing check fails the test
with the notebook's name, the cell and the error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from eventlab import workbook
from eventlab.locations import build_dir
from eventlab.runtime import EmulatorProcess

pytestmark = [pytest.mark.integration, pytest.mark.notebook]
NOTEBOOKS = workbook.discover()
PARAMS = [pytest.param(n, id=n.stem) for n in NOTEBOOKS]


@pytest.mark.parametrize("notebook", PARAMS)
def test_notebook_runs_and_its_checks_hold(
    notebook: Path, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTLAB_ENDPOINT_URL", emulator.endpoint_url)
    backend = emulator.backend.key
    result = workbook.execute(notebook, build_dir() / "test-notebooks" / backend, parameters={"target": backend})
    if not result.ok:
        pytest.fail(workbook.describe_failure(result), pytrace=False)
    assert Path(result.output).exists() and Path(result.output) != notebook
    assert result.figures, f"{notebook.name} recorded no figures"
    assert os.environ["EVENTLAB_ENDPOINT_URL"] == emulator.endpoint_url


def test_run_all_writes_the_index_figures_and_html(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVENTLAB_ENDPOINT_URL", emulator.endpoint_url)
    first = workbook.discover()[:1]
    results = workbook.run_all(first, tmp_path, parameters={"target": emulator.backend.key})
    assert [r.ok for r in results] == [True]
    index = (tmp_path / "index.html").read_text()
    assert f'href="{first[0].stem}.html"' in index and "round trip, send then receive" in index and ">ms<" in index
    assert f"{len(results[0].checks)} / {len(results[0].checks)} checks" in index and results[0].checks
    assert (tmp_path / f"{first[0].stem}.html").exists()
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures[0]["notebook"] == first[0].stem and figures[0]["figures"]["messages"] > 0
