"""The results page of a workbook run (``build/workbook/index.html``): what each notebook checked
and measured, readable at a glance.

Per notebook: its status, ``N / M checks`` with the claim each checks (and the backend's known
difference where it has one), its key figures with units and the backend they were measured
on, AWS's published figure beside a local one, and thumbnails of its plots. Everything is one
static page with its images beside it: no script, no asset from the network.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jinja2

from eventlab.experiments.compare import load_published

log = logging.getLogger(__name__)

TEMPLATE = "index.html.j2"
THUMBNAILS_PER_NOTEBOOK = 4
THUMBNAIL_WIDTH = 360  # pixels


class NotebookResult(Protocol):
    """What the page reads of an executed notebook (:class:`eventlab.workbook.NotebookResult`)."""

    notebook: str
    output: str
    ok: bool
    seconds: float
    error: str | None
    failed_cell: int | None
    figures: dict[str, Any]
    checks: list[dict[str, Any]]
    table: list[dict[str, Any]]
    backend: str | None


@dataclass
class Row:
    """One key figure on the page: what it is, its value with unit, and AWS's figure if published."""

    name: str
    value: str
    unit: str
    aws: str | None = None
    source: str | None = None


@dataclass
class Card:
    """One notebook on the page."""

    notebook: str
    title: str
    link: str
    ok: bool
    seconds: float
    failure: str | None
    backend: str | None
    checks: list[dict[str, Any]]
    rows: list[Row]
    thumbnails: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(bool(c.get("passed")) for c in self.checks)


def show(value: Any) -> str:
    """A figure's value as a reader wants it: a few significant digits, JSON for anything else."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return json.dumps(value, default=str, separators=(", ", ": "))


def published_by_path(published: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """The published AWS latency for each measured path: (``p50 … ms, p99 … ms (setup)``, source)."""
    out = {}
    for entry in published.get("latency", []):
        text = f"p50 {show(entry['p50_ms'])} ms, p99 {show(entry['p99_ms'])} ms ({entry.get('setup', entry['service'])})"
        for path in entry.get("local_paths", []):
            out[path] = (text, entry["source"])
    return out


def rows_of(result: NotebookResult, published: Mapping[str, tuple[str, str]]) -> list[Row]:
    """The key figures a notebook recorded with units; one that recorded only figures (no table)
    shows them flattened, without units."""
    rows = []
    for figure in result.table:
        aws, source = figure.get("aws"), figure.get("source")
        if figure.get("path") in published and not aws:
            aws, source = published[figure["path"]]
        rows.append(Row(str(figure["name"]), show(figure["value"]), str(figure.get("unit") or ""), aws, source))
    if rows:
        return rows
    for name, value in _flatten(result.figures):
        rows.append(Row(name, show(value), ""))
    return rows


def _flatten(figures: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and len(out) < 40:
            out.extend(_flatten(value, f"{name} · "))
        else:
            out.append((name, value))
    return out


def title_of(notebook: Path) -> str:
    """A notebook's first Markdown heading, else its name."""
    try:
        cells = json.loads(notebook.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return notebook.stem
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return notebook.stem


def thumbnails(executed: Path, folder: Path, limit: int = THUMBNAILS_PER_NOTEBOOK) -> list[str]:
    """Small PNGs of the plots in an executed notebook, written to ``folder``; their names."""
    from PIL import Image

    try:
        cells = json.loads(executed.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return []
    names: list[str] = []
    for cell in cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if not data or len(names) >= limit:
                continue
            image = Image.open(io.BytesIO(base64.b64decode("".join(data) if isinstance(data, list) else data)))
            image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH))
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{executed.stem}-{len(names) + 1}.png"
            image.save(folder / name)
            names.append(f"{folder.name}/{name}")
    return names


def failure_of(result: NotebookResult) -> str | None:
    """Where a failed notebook stopped, and why."""
    if result.ok:
        return None
    where = f"cell {result.failed_cell}: " if result.failed_cell is not None else ""
    return f"{where}{result.error or 'failed'}"


def write_index(results: Sequence[NotebookResult], output_dir: Path, sources: Path) -> Path:
    """The results page for ``results`` (executed notebooks in ``output_dir``, their sources in
    ``sources``), with each notebook also as HTML beside it; returns the page's path."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    published = published_by_path(load_published())
    cards = []
    for result in results:
        executed = Path(result.output)
        link = executed.name
        if executed.exists():
            body, _ = exporter.from_filename(str(executed))
            page = executed.with_suffix(".html")
            page.write_text(body)
            link = page.name
        source = sources / f"{result.notebook}.ipynb"
        cards.append(Card(
            notebook=result.notebook,
            title=title_of(source if source.exists() else executed),
            link=link,
            ok=result.ok,
            seconds=result.seconds,
            failure=failure_of(result),
            backend=result.backend,
            checks=result.checks,
            rows=rows_of(result, published),
            thumbnails=thumbnails(executed, output_dir / "thumbnails") if executed.exists() else [],
        ))
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("eventlab", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    backends = sorted({c.backend for c in cards if c.backend})
    page = environment.get_template(TEMPLATE).render(
        cards=cards,
        backends=backends,
        passed=sum(c.ok for c in cards),
        checks_passed=sum(c.passed for c in cards),
        checks_total=sum(len(c.checks) for c in cards),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    index = output_dir / "index.html"
    index.write_text(page)
    log.info("results page: %s (%d notebooks)", index, len(cards))
    return index
