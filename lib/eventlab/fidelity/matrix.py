"""The fidelity matrix: per service and behaviour, AWS's verdict beside each backend's outcome.

Its columns come from the results each backend's last run wrote (``build/fidelity/<backend>.json``,
by the conformance tests, ``python -m eventlab.fidelity`` or notebook 10), each with the date of
that run; a backend appears once it has results. :func:`write` puts the matrix in
``build/fidelity/matrix.json`` and ``matrix.md``. :func:`expected_summary` is what the suite
holds each backend to (its known differences), which the README's summary table shows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventlab.fidelity.differences import KNOWN_DIFFERENCES
from eventlab.fidelity.model import Case
from eventlab.locations import build_dir, locked, write_atomically

OUTCOMES = ("agrees", "differs", "unsupported")
NOT_RUN = "not run"


# Held while a results file is merged and written, and while the matrix is built from them.
RESULTS_LOCK = ".lock"


def matrix_dir() -> Path:
    return build_dir() / "fidelity"


def load_results(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """The latest results document of each backend found in ``folder`` (by backend name)."""
    folder = folder or matrix_dir()
    documents = {}
    for path in sorted(folder.glob("*.json")):
        if path.name == "matrix.json":
            continue
        try:
            document = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(document, dict) and "cases" in document and "backend" in document:
            documents[str(document["backend"])] = document
    return documents


@dataclass
class Matrix:
    """One row per case: AWS's side and each backend's outcome (``not run`` when it has none)."""

    backends: list[str]
    runs: dict[str, dict[str, Any]]  # per backend: written_at, target, counts, failures
    rows: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per backend, how many cases agree, differ, are unsupported (or erred, or were not run)."""
        return {b: dict(Counter(row[b]["outcome"] for row in self.rows)) for b in self.backends}

    def by_service(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per service, per backend, the outcome counts (what the heat map shows)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for row in self.rows:
            for backend in self.backends:
                cell = out.setdefault(row["service"], {}).setdefault(backend, {})
                outcome = row[backend]["outcome"]
                cell[outcome] = cell.get(outcome, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"backends": self.backends, "runs": self.runs, "counts": self.counts(), "rows": self.rows}


def build(cases: Sequence[Case], documents: Mapping[str, Mapping[str, Any]]) -> Matrix:
    """The matrix of ``cases`` against each backend's results document."""
    backends = sorted(documents, key=lambda b: (b != "localstack", b))
    runs = {b: {k: documents[b].get(k) for k in ("written_at", "target", "counts", "failures")} for b in backends}
    by_backend = {b: {entry["id"]: entry for entry in documents[b].get("cases", [])} for b in backends}
    matrix = Matrix(backends=backends, runs=runs)
    for case in cases:
        row: dict[str, Any] = {
            "id": case.id, "service": case.service, "behaviour": case.behaviour, "subject": case.subject,
            "aws": case.verdict, "source": case.source.where, "says": case.source.says,
        }
        for backend in backends:
            entry = by_backend[backend].get(case.id)
            row[backend] = ({"outcome": entry["outcome"], "observed": entry["observed"],
                             "reason": (entry.get("known_difference") or {}).get("reason")}
                            if entry else {"outcome": NOT_RUN, "observed": "", "reason": None})
        matrix.rows.append(row)
    return matrix


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(matrix: Matrix) -> str:
    """The matrix as Markdown: where each column comes from, the counts, then one row per case."""
    lines = ["# Fidelity matrix: AWS beside each backend", ""]
    for backend in matrix.backends:
        run = matrix.runs[backend]
        lines.append(f"- **{backend}**: results of the run at {run.get('written_at')} ({run.get('target')})")
    lines += ["", "| backend | " + " | ".join(OUTCOMES) + " | not run | agreement |", "| --- |" + " --- |" * (len(OUTCOMES) + 2)]
    for backend, counts in matrix.counts().items():
        ran = sum(counts.get(o, 0) for o in (*OUTCOMES, "error"))
        share = f"{100 * counts.get('agrees', 0) / ran:.0f}%" if ran else "-"
        lines.append(f"| {backend} | " + " | ".join(str(counts.get(o, 0)) for o in OUTCOMES) + f" | {counts.get(NOT_RUN, 0)} | {share} |")
    lines += ["", "| service | case | behaviour | AWS | " + " | ".join(matrix.backends) + " | source |",
              "| --- | --- | --- | --- |" + " --- |" * len(matrix.backends) + " --- |"]
    for row in matrix.rows:
        cells = []
        for backend in matrix.backends:
            cell = row[backend]
            cells.append(cell["outcome"] if cell["outcome"] in ("agrees", NOT_RUN) else f"{cell['outcome']}: {_md(cell['observed'])}")
        lines.append(f"| {row['service']} | {row['id']} | {_md(row['behaviour'])} | {_md(row['aws'])} | " + " | ".join(cells) + f" | {row['source']} |")
    return "\n".join(lines) + "\n"


def write(matrix: Matrix, folder: Path | None = None) -> list[Path]:
    """Write ``matrix.json`` and ``matrix.md``; returns their paths."""
    folder = folder or matrix_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "matrix.json", folder / "matrix.md"]
    write_atomically(paths[0], json.dumps(matrix.as_dict(), indent=2) + "\n")
    write_atomically(paths[1], markdown(matrix))
    return paths


def expected_summary(cases: Iterable[Case], backends: Iterable[str]) -> dict[str, dict[str, int]]:
    """What the suite holds each backend to: every case agrees except its known differences."""
    cases = list(cases)
    summary = {}
    for backend in backends:
        table = KNOWN_DIFFERENCES.get(backend, {})
        counts = Counter(table[c.id].outcome if c.id in table else "agrees" for c in cases)
        summary[backend] = {o: counts.get(o, 0) for o in OUTCOMES}
    return summary


def summary_markdown(cases: Iterable[Case], backends: Iterable[str]) -> str:
    """The README's table: cases per service, and per backend the outcomes the suite holds it to."""
    cases = list(cases)
    backends = list(backends)
    services = sorted(Counter(c.service for c in cases).items())
    lines = ["| backend | cases | agrees | differs | unsupported | agreement |", "| --- | --- | --- | --- | --- | --- |"]
    for backend, counts in expected_summary(cases, backends).items():
        total = sum(counts.values())
        lines.append(f"| {backend} | {total} | {counts['agrees']} | {counts['differs']} | {counts['unsupported']} | {100 * counts['agrees'] / total:.0f}% |")
    lines += ["", "Cases per service: " + ", ".join(f"{s} {n}" for s, n in services) + "."]
    return "\n".join(lines)


def write_from_results(cases: Sequence[Case], folder: Path | None = None) -> tuple[Matrix, list[Path]]:
    """Build the matrix from every backend's latest results in ``folder`` and write it."""
    with locked((folder or matrix_dir()) / RESULTS_LOCK):  # not while a results file is half merged
        matrix = build(cases, load_results(folder))
        return matrix, write(matrix, folder)




FAST_PREFIXES = ("events.pattern-syntax.", "events.pattern-match.")


def fast(cases: Iterable[Case]) -> list[Case]:
    """The cases that need no waiting: eventlab's offline validators and TestEventPattern (a
    few seconds in all), for notebook 10's default run. eventlab's own servers' cases that build
    and deliver (the eventbridgev2 server's, a minute in all) are left to ``all``."""
    return [c for c in cases if (c.subject == "eventlab" and not c.creates) or c.id.startswith(FAST_PREFIXES)]


def frame(matrix: Matrix) -> Any:
    """The matrix as a pandas DataFrame: one row per case, one outcome column per backend."""
    import pandas as pd

    return pd.DataFrame([
        {"service": r["service"], "case": r["id"], "behaviour": r["behaviour"], "AWS": r["aws"],
         **{b: r[b]["outcome"] for b in matrix.backends}} for r in matrix.rows
    ]).set_index("case")


def differences(matrix: Matrix) -> Any:
    """The cases some backend does not agree on, with what it does instead and why."""
    import pandas as pd

    rows = []
    for r in matrix.rows:
        for b in matrix.backends:
            cell = r[b]
            if cell["outcome"] not in ("agrees", NOT_RUN):
                rows.append({"case": r["id"], "backend": b, "AWS": r["aws"], "backend does": cell["observed"],
                             "outcome": cell["outcome"], "why": cell["reason"] or "", "AWS source": r["source"]})
    return pd.DataFrame(rows, columns=["case", "backend", "AWS", "backend does", "outcome", "why", "AWS source"]).set_index(["case", "backend"])


def heatmap(matrix: Matrix) -> Any:
    """Per service (rows) and backend (column groups), the share of its cases that agree,
    differ, or are unsupported there; each cell says the count."""
    import matplotlib.pyplot as plt
    import numpy as np

    by_service = matrix.by_service()
    services = sorted(by_service)
    columns = [(b, o) for b in matrix.backends for o in OUTCOMES]
    shares = np.zeros((len(services), len(columns)))
    counts = np.zeros_like(shares, dtype=int)
    for i, service in enumerate(services):
        for j, (backend, outcome) in enumerate(columns):
            cell = by_service[service].get(backend, {})
            ran = sum(cell.get(o, 0) for o in (*OUTCOMES, "error"))
            counts[i, j] = cell.get(outcome, 0)
            shares[i, j] = counts[i, j] / ran if ran else np.nan
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(columns), 0.9 + 0.45 * len(services)))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(len(services)):
        for j in range(len(columns)):
            if not np.isnan(shares[i, j]):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if shares[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(columns)), [f"{b}\n{o}" for b, o in columns], fontsize=8)
    ax.set_yticks(range(len(services)), services)
    ax.set_title("cases per service: agree, differ, unsupported", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.03, label="share of the service's cases")
    fig.tight_layout()
    return fig
