"""Regression benchmarks: workloads (YAML), repeated papermill runs, and a noise-aware compare.

What load to run (a workload, ``benchmarks/workloads/*.yaml``, named after its parameters)
is kept apart from where it runs (the target, one switch) and from the code (the benchmark
notebook ``benchmarks/benchmark.ipynb``, whose parameters are the workload's keys). Each run
writes ``data/results/<workload>-<target>-<timestamp>.json``.

A figure has moved only if it moved beyond the noise: each workload runs ``repeats`` times,
and :func:`compare` bootstraps a confidence interval for the ratio of the current mean to the
baseline mean. A regression is a change that is confidently worse than the threshold; a
change inside the interval is reported as noise, not as news.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from eventlab import workbook
from eventlab.locations import data_dir, project_root
from eventlab.measure import results
from eventlab.measure.load import LoadSpec

log = logging.getLogger(__name__)

WORKLOAD_KEYS = ("path", "rate", "size", "batch", "keys", "producers", "duration", "target", "cluster")
DEFAULT_THRESHOLD = 0.25  # the emulator on a shared machine is noisy: 25% before anything is news
CONFIDENCE = 0.95


class BenchError(ValueError):
    """A workload, set or baseline that cannot be used; the message names the problem and the fix."""


def benchmarks_dir() -> Path:
    return project_root() / "benchmarks"


def results_dir() -> Path:
    path = Path(os.environ.get("EVENTLAB_RESULTS_DIR") or data_dir() / "results")
    path.mkdir(parents=True, exist_ok=True)
    return path


def baselines_dir() -> Path:
    return data_dir() / "baselines"


# -- workloads -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """One load to run: the benchmark notebook's parameters."""

    path: str
    rate: int
    size: int = 256
    batch: int = 1
    keys: int = 1
    producers: int = 1
    duration: int = 5
    target: str = "localstack"
    cluster: str = ""  # a Dask scheduler's address (tcp://host:8786); "" a local cluster when producers > 1

    @property
    def name(self) -> str:
        """The name a workload file must have: its parameters, target and cluster aside (switches)."""
        return f"{self.path}-r{self.rate}-s{self.size}-b{self.batch}-k{self.keys}-p{self.producers}-d{self.duration}s"

    def parameters(self, **overrides: Any) -> dict[str, Any]:
        return {**asdict(self), **overrides}

    def load_spec(self, *, warmup_s: float = 0.0) -> LoadSpec:
        """The load the benchmark notebook offers for this workload (all producers together)."""
        return LoadSpec(rate=self.rate, duration_s=self.duration, batch=self.batch, keys=self.keys, size=self.size, warmup_s=warmup_s)


def benchmark_notebook() -> Path:
    """The notebook that measures one workload once; its parameters cell types the workloads."""
    return benchmarks_dir() / "benchmark.ipynb"


def load_workload(path: str | Path) -> Workload:
    """Read a workload file; its keys must be the notebook's parameters, its values must suit the
    notebook's parameters cell (types, ranges, the path's name), and its name must match."""
    from eventlab.parameters import ParameterError, check

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise BenchError(f"cannot read workload {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not YAML"
        raise BenchError(f"cannot read workload {path}: {problem}{where}") from error
    if not isinstance(data, dict):
        raise BenchError(f"{path.name}: a workload is a mapping of {', '.join(WORKLOAD_KEYS)}")
    unknown = sorted(set(data) - set(WORKLOAD_KEYS))
    if unknown:
        raise BenchError(f"{path.name}: unknown key(s) {unknown}; a workload has {list(WORKLOAD_KEYS)}")
    missing = [key for key in ("path", "rate") if key not in data]
    if missing:
        raise BenchError(f"{path.name}: a workload needs {' and '.join(missing)}")
    notebook = benchmark_notebook()
    try:
        values = check(data, [notebook])[notebook]
    except ParameterError as error:
        raise BenchError(f"{path.name}: {error}") from error
    workload = Workload(**{key: values[key] for key in data})  # type: ignore[arg-type]
    if path.stem != workload.name:
        raise BenchError(f"{path.name}: a workload is named after its parameters; call it {workload.name}.yaml")
    return workload


def find_workload(name: str) -> Path:
    """A workload by name or path."""
    candidate = Path(name)
    if candidate.suffix == ".yaml" and candidate.exists():
        return candidate
    path = benchmarks_dir() / "workloads" / f"{name.removesuffix('.yaml')}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (benchmarks_dir() / "workloads").glob("*.yaml"))
        raise BenchError(f"no workload {name!r} (a name from benchmarks/workloads or a .yaml file); known: {', '.join(known)}")
    return path


def workload_set(name: str) -> list[Path]:
    """The workloads of a named set in ``benchmarks/sets.yaml`` (``smoke``: CI; ``full``: on demand)."""
    sets = yaml.safe_load((benchmarks_dir() / "sets.yaml").read_text())
    if name not in sets:
        raise BenchError(f"no workload set {name!r} in benchmarks/sets.yaml; known: {', '.join(sorted(sets))}")
    return [find_workload(w) for w in sets[name]]


def read_results(
    workload: str | None = None, target: str | None = None, session: str | None = None, folder: Path | None = None
) -> list[dict[str, Any]]:
    """Saved results (oldest first), filtered by workload, target and bench session."""
    return results.read_saved(folder or results_dir(), name=workload, target=target, session=session)


# -- baselines and compare -------------------------------------------------------------------
@dataclass
class Baseline:
    workload: str
    target: str
    figures: dict[str, list[float]]
    provenance: dict[str, Any] = field(default_factory=dict)
    incomplete: int = 0
    """Repeats left out because a producer died mid-run (not saved: such a baseline is refused)."""

    @classmethod
    def from_results(cls, documents: Sequence[Mapping[str, Any]]) -> Baseline:
        """The figures of saved results (the repeats of one workload), as a baseline; an
        incomplete repeat has no figures, and is counted."""
        if not documents:
            raise ValueError("a baseline needs at least one result")
        figures: dict[str, list[float]] = {}
        for doc in documents:
            for name, value in results.figures_of(doc).items():
                figures.setdefault(name, []).append(value)
        first = documents[0]
        incomplete = sum(results.is_incomplete(doc) for doc in documents)
        return cls(results.name_of(first), results.target_of(first), figures, first["provenance"], incomplete)

    @staticmethod
    def path_for(workload: str, target: str) -> Path:
        return baselines_dir() / f"{workload}-{target}.json"

    def save(self) -> Path:
        """Write the baseline; refused when a repeat lost messages or was incomplete (a baseline must not)."""
        if self.incomplete:
            raise BenchError(
                f"{self.workload}: {self.incomplete} repeat(s) incomplete (a producer's worker died mid-run); "
                "a baseline must be whole: record it again"
            )
        lossy = [value for value in self.figures.get("lost", []) if value > 0]
        if lossy:
            raise BenchError(
                f"{self.workload}: {len(lossy)} repeat(s) lost messages ({', '.join(f'{v:g}' for v in lossy)}); "
                "a baseline must lose none: find why (the results in data/results) and record it again"
            )
        path = self.path_for(self.workload, self.target)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = asdict(self)
        del document["incomplete"]
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        return path

    @classmethod
    def load(cls, workload: str, target: str) -> Baseline | None:
        path = cls.path_for(workload, target)
        return cls(**json.loads(path.read_text())) if path.exists() else None


@dataclass(frozen=True)
class Change:
    """One figure against its baseline."""

    figure: str
    baseline_mean: float
    current_mean: float
    ratio: float | None
    low: float | None
    high: float | None
    verdict: Literal["regression", "improvement", "unchanged"]

    def describe(self) -> str:
        if math.isnan(self.current_mean):
            return f"{self.figure}: {self.baseline_mean:.3g} -> not measured ({self.verdict})"
        if self.ratio is None:
            return f"{self.figure}: {self.baseline_mean:g} -> {self.current_mean:g} ({self.verdict})"
        return (
            f"{self.figure}: {self.baseline_mean:.3g} -> {self.current_mean:.3g} "
            f"(x{self.ratio:.2f}, {CONFIDENCE:.0%} CI x{self.low:.2f}..x{self.high:.2f}): {self.verdict}"
        )


def bootstrap_ratio(baseline: Sequence[float], current: Sequence[float], *, samples: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """Ratio of means, current / baseline, with a percentile bootstrap confidence interval."""
    rng = np.random.default_rng(seed)
    b, c = np.asarray(baseline, dtype=float), np.asarray(current, dtype=float)
    b_means = rng.choice(b, size=(samples, len(b)), replace=True).mean(axis=1)
    c_means = rng.choice(c, size=(samples, len(c)), replace=True).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = c_means / b_means
    ratios = ratios[np.isfinite(ratios)]
    alpha = (1 - CONFIDENCE) / 2
    return float(c.mean() / b.mean()), float(np.quantile(ratios, alpha)), float(np.quantile(ratios, 1 - alpha))


def compare_figure(name: str, baseline: Sequence[float], current: Sequence[float], *, threshold: float = DEFAULT_THRESHOLD) -> Change:
    """Judge one figure: a regression only when the whole confidence interval is worse than the
    threshold in the figure's bad direction."""
    better = results.FIGURES.get(name, "lower")
    b_mean, c_mean = float(np.mean(baseline)), float(np.mean(current))
    if name == "lost" and c_mean > 0:
        return Change(name, b_mean, c_mean, None, None, None, "regression")  # losing messages is never noise
    if b_mean == 0:  # e.g. no inversions in the baseline: any now is a change of kind, not degree
        verdict = "unchanged" if c_mean == 0 else "regression" if better == "lower" else "improvement"
        return Change(name, b_mean, c_mean, None, None, None, verdict)
    ratio, low, high = bootstrap_ratio(baseline, current)
    if better == "lower":
        verdict = "regression" if low > 1 + threshold else "improvement" if high < 1 - threshold else "unchanged"
    else:
        verdict = "regression" if high < 1 - threshold else "improvement" if low > 1 + threshold else "unchanged"
    return Change(name, b_mean, c_mean, ratio, low, high, verdict)


def compare(baseline: Baseline, documents: Sequence[Mapping[str, Any]], *, threshold: float = DEFAULT_THRESHOLD) -> list[Change]:
    """Every figure of ``results`` (the repeats of one workload) against its baseline.

    A figure the baseline has and no repeat measured (latency, when nothing arrived) is a
    regression: the path stopped delivering, which is worse than any slowdown."""
    current = Baseline.from_results(documents).figures
    changes = []
    for name in results.FIGURES:
        if name not in baseline.figures:
            continue
        if name in current:
            changes.append(compare_figure(name, baseline.figures[name], current[name], threshold=threshold))
        else:
            b_mean = float(np.mean(baseline.figures[name]))
            changes.append(Change(name, b_mean, math.nan, None, None, None, "regression"))
    return changes


# -- running -----------------------------------------------------------------------------------
def new_session() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def run_workload(
    workload_path: Path,
    *,
    repeats: int,
    session: str,
    output_dir: Path,
    overrides: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Execute the benchmark notebook ``repeats`` times with the workload's parameters; returns the
    saved results. The target (and LocalStack's endpoint) come from ``overrides``/the environment."""
    workload = load_workload(workload_path)
    notebook = benchmark_notebook()
    params = workload.parameters(**(overrides or {}))
    for repeat in range(repeats):
        folder = output_dir / f"{workload.name}-{params['target']}-{session}-r{repeat}"
        result = workbook.execute(
            notebook, folder, parameters={**params, "workload": workload.name, "session": session, "repeat": repeat}
        )
        if not result.ok:
            raise RuntimeError(f"benchmark {workload.name} repeat {repeat} failed: {workbook.describe_failure(result)}")
        log.info("%s repeat %d: %s", workload.name, repeat, result.figures)
    return read_results(workload.name, params["target"], session)


def summary_lines(workload: str, changes: Iterable[Change]) -> list[str]:
    return [f"{workload}: {change.describe()}" for change in changes]


def run_set(
    paths: Sequence[Path],
    *,
    repeats: int,
    session: str,
    output_dir: Path,
    target: str = "localstack",
    overrides: Mapping[str, Any] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    update_baseline: bool = False,
    report: bool = True,
    say: Callable[[str], None] = log.info,
) -> int:
    """Run each workload ``repeats`` times and compare it with its baseline (or, with
    ``update_baseline``, record the baselines); then the report notebook. Says each verdict in a
    line (the CLI prints them) and returns the number of regressions beyond the noise."""
    regressions = 0
    parameters = {"target": target, **(overrides or {})}
    for path in paths:
        workload = load_workload(path)
        documents = run_workload(path, repeats=repeats, session=session, output_dir=output_dir, overrides=parameters)
        incomplete = [d["file"] for d in documents if results.is_incomplete(d)]
        if incomplete and not update_baseline:  # a producer died: its repeat has no figures to compare
            say(f"{workload.name}: {len(incomplete)} repeat(s) incomplete, a producer's worker died: {', '.join(incomplete)} (regression)")
            regressions += 1
        if update_baseline:
            say(f"{workload.name}: baseline written to {Baseline.from_results(documents).save()}")
            continue
        baseline = Baseline.load(workload.name, target)
        if baseline is None:
            say(f"{workload.name}: no baseline for {target} yet (eventlab bench --update-baseline)")
            lost = [results.figures_of(d).get("lost", 0.0) for d in documents]
            if any(lost):  # losing messages is a regression, baseline or not
                say(f"{workload.name}: lost messages in the repeats: {', '.join(f'{n:g}' for n in lost)} (regression)")
                regressions += 1
            continue
        changes = compare(baseline, documents, threshold=threshold)
        for line in summary_lines(workload.name, changes):
            say(line)
        regressions += sum(c.verdict == "regression" for c in changes)
    if report:
        done = workbook.execute(benchmarks_dir() / "report.ipynb", output_dir, parameters={"session": session})
        say(f"report: {done.output}" if done.ok else f"report failed: {workbook.describe_failure(done)}")
    return regressions
