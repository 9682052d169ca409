"""The workbook: execute the numbered notebooks with papermill and collect the figures they record.

Each notebook's last cell checks its claims and calls :func:`record` with its figures. The
runner gives every notebook the same LocalStack endpoint, writes executed copies (never over
the sources), gathers the figures into one JSON file and links it all from an HTML index.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eventlab import parameters as notebook_parameters
from eventlab import report
from eventlab.fidelity.checks import expect
from eventlab.locations import build_dir, project_root
from eventlab.target import Target

log = logging.getLogger(__name__)

NOTEBOOK_RE = re.compile(r"^\d\d-[\w-]+\.ipynb$")
FIGURES_ENV = "EVENTLAB_FIGURES_DIR"
NOTEBOOK_TIMEOUT = 900  # seconds a cell may run (papermill takes an int)


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def discover(folder: Path | None = None) -> list[Path]:
    """The numbered notebooks (``NN-title.ipynb``) in order."""
    folder = folder or notebooks_dir()
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_RE.match(p.name))


class NotebookError(ValueError):
    """A notebook that cannot be run (missing, or not a notebook); the message lists what exists."""


def find_notebooks(names: Sequence[str | Path]) -> list[Path]:
    """The notebooks named (paths to ``.ipynb`` files), each checked to exist; the numbered
    notebooks when none is named."""
    if not names:
        return discover()
    found, problems = [], []
    for name in names:
        path = Path(name)
        if path.suffix != ".ipynb":
            problems.append(f"{name} is not a notebook (an .ipynb file)")
        elif not path.is_file():
            problems.append(f"no notebook {name}" + (f" in {Path.cwd()}" if not path.is_absolute() else ""))
        else:
            found.append(path)
    if problems:
        known = ", ".join(_shown(p) for p in discover()) or "none"
        raise NotebookError(f"{'; '.join(problems)}. The workbook's notebooks: {known}")
    return found


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check_parameters(notebooks: Sequence[Path], parameters: Mapping[str, Any]) -> dict[Path, dict[str, Any]]:
    """Each notebook's parameters, checked against the notebooks' parameters cells and converted
    to their types (see :mod:`eventlab.parameters`); raises ParameterError before anything runs."""
    return notebook_parameters.check(parameters, notebooks)


def figures_dir() -> Path:
    """Where notebooks write their figures: set by the runner, else the build folder."""
    path = Path(os.environ[FIGURES_ENV]) if os.environ.get(FIGURES_ENV) else build_dir() / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(
    notebook: str,
    figures: Mapping[str, Any],
    *,
    checks: Sequence[str | Check] = (),
    known_differences: Sequence[str] = (),
    table: Sequence[Figure] = (),
    backend: str | None = None,
) -> Path:
    """Record a notebook's figures, the claims it checked (each a :class:`Check`, or a claim that
    passed), the known differences of its backend it met instead (:mod:`eventlab.fidelity.checks`)
    and its key figures with units (``table``) as JSON; returns the file written.

    Called from each notebook's last cell, usually through :meth:`Checks.record`.
    """
    path = figures_dir() / f"{notebook}.json"
    payload = {
        "notebook": notebook,
        "recorded_at": time.time(),
        "backend": backend,
        "figures": dict(figures),
        "checks": [asdict(c if isinstance(c, Check) else Check(claim=c, passed=True)) for c in checks],
        "known_differences": list(known_differences),
        "table": [asdict(f) for f in table],
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    log.info("recorded %d figure(s) for %s in %s", len(figures), notebook, path)
    return path


@dataclass(frozen=True)
class Check:
    """One claim a notebook checks, and how it went; ``known_difference`` names the backend's
    recorded difference when the claim cannot hold there (then ``passed`` means the difference did)."""

    claim: str
    passed: bool
    detail: str = ""
    known_difference: str | None = None


@dataclass(frozen=True)
class Figure:
    """A key figure of a notebook, with its unit, and the figure AWS publishes for it if any."""

    name: str
    value: Any
    unit: str
    aws: str | None = None  # the published AWS figure, in words ("typically under 1 s")
    source: str | None = None  # the AWS page it comes from
    path: str | None = None  # the measured path (experiments.compare), whose published figures the page shows


class ChecksFailed(AssertionError):
    """Some of a notebook's claims did not hold: each is named, with what was seen."""


class Checks:
    """A notebook's checks cell: every claim is judged, all are recorded, then any failure raises.

    Unlike a row of ``assert`` statements, one failing claim does not hide the others: the
    results page shows ``N / M checks`` with each claim::

        checks = Checks("01-sqs", tgt)
        checks.that(row["lost"] == 0, "a standard queue loses no message", f"lost {row['lost']}")
        checks.case("sqs.fifo.order", inversions == 0, "a FIFO queue delivers each group in order")
        checks.figure("delivery latency p50, standard queue", 12.5, "ms")
        checks.record({"latency_ms": ...})
    """

    def __init__(self, notebook: str, target: Target | None = None) -> None:
        self.notebook = notebook
        self.target = target
        self.checks: list[Check] = []
        self.table: list[Figure] = []

    def that(self, holds: bool, claim: str, detail: str = "") -> bool:
        """Judge one claim about the service (``holds``); ``detail`` says what was seen."""
        self.checks.append(Check(claim=claim, passed=bool(holds), detail=detail))
        return bool(holds)

    def case(self, case_id: str, holds: bool, claim: str, detail: str = "") -> bool:
        """Judge a claim a conformance case covers: it must hold unless the backend has a known
        difference for ``case_id``, and then it must not (a backend that now agrees fails until
        its row is removed)."""
        if self.target is None:
            return self.that(holds, claim, detail)
        agrees, line, problem = expect(self.target, case_id, holds, claim)
        self.checks.append(Check(claim=claim, passed=agrees, detail=detail if agrees or line is None else problem,
                                 known_difference=line))
        return agrees

    def figure(self, name: str, value: Any, unit: str, *, aws: str | None = None, source: str | None = None,
               path: str | None = None) -> None:
        """A key figure for the results page: its value, unit and, if AWS publishes one, AWS's
        (in words with ``source``, or by the measured ``path`` in data/published_aws_figures.yaml)."""
        self.table.append(Figure(name=name, value=value, unit=unit, aws=aws, source=source, path=path))

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def known_differences(self) -> list[str]:
        return [c.known_difference for c in self.checks if c.known_difference]

    def record(self, figures: Mapping[str, Any] | None = None) -> Path:
        """Write the record (figures, every check, the table), show the known differences met,
        then raise :class:`ChecksFailed` naming each claim that did not hold."""
        backend = self.target.backend if self.target is not None else None
        path = record(self.notebook, figures or {f.name: f.value for f in self.table}, checks=self.checks,
                      known_differences=self.known_differences, table=self.table, backend=backend)
        for line in self.known_differences:
            log.warning("%s", line)
        if not self.checks:
            raise ChecksFailed(f"{self.notebook} checked nothing: a checks cell judges at least one claim")
        if self.failures:
            lines = "\n".join(f"- {c.claim}" + (f": {c.detail}" if c.detail else "") for c in self.failures)
            raise ChecksFailed(f"{len(self.failures)} of {len(self.checks)} checks of {self.notebook} failed:\n{lines}")
        log.info("%s: %d / %d checks passed", self.notebook, len(self.checks), len(self.checks))
        return path


@dataclass
class NotebookResult:
    """How one notebook's execution went."""

    notebook: str
    output: str
    ok: bool
    seconds: float
    error: str | None = None
    failed_cell: int | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)  # Check fields, as recorded
    table: list[dict[str, Any]] = field(default_factory=list)  # Figure fields, as recorded
    backend: str | None = None


class NotebookFailed(AssertionError):
    """A notebook raised, or one of its checks failed; the message names the notebook and the cell."""


def execute(
    notebook: Path,
    output_dir: Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    timeout: int = NOTEBOOK_TIMEOUT,
) -> NotebookResult:
    """Execute one notebook with papermill into ``output_dir``; never raises for a failing cell.

    Its parameters are checked against its parameters cell first: ParameterError, and nothing
    runs, when it cannot take them."""
    checked = check_parameters([notebook], parameters or {})[notebook]
    return _execute(notebook, output_dir, checked, timeout)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """Set one environment variable for the block, then put back what was there (or nothing)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _execute(notebook: Path, output_dir: Path, parameters: Mapping[str, Any], timeout: int) -> NotebookResult:
    import papermill
    from nbclient.exceptions import DeadKernelError

    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / notebook.name
    started, since = time.monotonic(), time.time()
    try:
        with _environment(FIGURES_ENV, str(output_dir / "figures")):  # the kernel inherits it
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=dict(parameters),
                kernel_name="python3",
                cwd=str(notebook.parent),
                progress_bar=False,
                execution_timeout=timeout,
            )
    except papermill.PapermillExecutionError as error:
        return NotebookResult(
            notebook=notebook.stem,
            output=str(output),
            ok=False,
            seconds=round(time.monotonic() - started, 2),
            error=f"{error.ename}: {error.evalue}",
            failed_cell=error.cell_index,
            **_recorded(output_dir, notebook.stem, since),  # a checks cell records before it raises
        )
    except DeadKernelError:
        # Killed (by a signal, the OOM killer) or crashed: its run is swept from the journal.
        return NotebookResult(
            notebook=notebook.stem,
            output=str(output),
            ok=False,
            seconds=round(time.monotonic() - started, 2),
            error="the kernel died (killed or crashed) while the notebook ran",
        )
    return NotebookResult(
        notebook=notebook.stem,
        output=str(output),
        ok=True,
        seconds=round(time.monotonic() - started, 2),
        **_recorded(output_dir, notebook.stem, since),
    )


def _recorded(output_dir: Path, stem: str, since: float) -> dict[str, Any]:
    """What a notebook recorded during this execution (none from an earlier one), as
    :class:`NotebookResult` fields."""
    path = output_dir / "figures" / f"{stem}.json"
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    if doc.get("recorded_at", 0) < since:
        return {}
    return {"figures": doc.get("figures", {}), "checks": doc.get("checks", []), "table": doc.get("table", []),
            "backend": doc.get("backend")}


def describe_failure(result: NotebookResult) -> str:
    """One line that names the notebook, the cell and the error."""
    return f"{result.notebook}.ipynb, cell {result.failed_cell}: {result.error} (see {result.output})"


def run_all(
    notebooks: Sequence[Path],
    output_dir: Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    html_index: bool = True,
) -> list[NotebookResult]:
    """Execute notebooks in order, then write ``figures.json`` and ``index.html`` beside them.

    ``parameters`` go to every notebook, as each one's types; a name must be declared by at
    least one of them and a value must suit every notebook that declares it (ParameterError,
    before any notebook runs)."""
    checked = check_parameters(notebooks, parameters or {})
    results = []
    for notebook in notebooks:
        log.info("executing %s", notebook.name)
        result = _execute(notebook, output_dir, checked[notebook], NOTEBOOK_TIMEOUT)
        level = logging.INFO if result.ok else logging.ERROR
        log.log(level, "%s: %s in %.1f s", notebook.name, "ok" if result.ok else describe_failure(result), result.seconds)
        results.append(result)
    (output_dir / "figures.json").write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))
    if html_index:
        report.write_index(results, output_dir, notebooks_dir())
    return results
