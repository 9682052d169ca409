"""Run conformance cases on a target and write what each backend did as JSON.

Each case runs in a :class:`~eventlab.run.Run` of its own (created and destroyed here, or the
one a test passes in), so every resource it makes has a unique name and is deleted after it.
The results go to ``build/fidelity/<backend>.json``: one entry per case with AWS's verdict
and source, what the backend did, the outcome, and the known difference it matched.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import urllib.request
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventlab.fidelity.differences import known_difference
from eventlab.fidelity.matrix import RESULTS_LOCK, matrix_dir
from eventlab.fidelity.model import Case, Outcome, Result, Unsupported, judge
from eventlab.locations import locked, write_atomically
from eventlab.run import Run
from eventlab.target import Target

log = logging.getLogger(__name__)

FIXES_STATUS_PATH = "/_eventlab/fixes"  # answered by eventlab_localstack.fixes inside LocalStack


def backend_of(target: Target) -> str:
    """The backend a target reaches, by the name the known-differences table uses."""
    return target.kind


def run_case(case: Case, run: Run) -> Result:
    """Run one case's check on ``run`` and judge what the backend did."""
    backend = backend_of(run.target)
    known = known_difference(backend, case.id)
    started = time.monotonic()
    outcome: Outcome
    try:
        observed = case.check(run)
        outcome = "agrees" if observed == case.verdict else "differs"
    except Unsupported as missing:
        observed, outcome = str(missing), "unsupported"
    except Exception as error:
        seconds = time.monotonic() - started
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        log.debug("case %s crashed", case.id, exc_info=True)
        return Result(case, backend, "error", detail, seconds, known, f"{case.id}: the check failed on {backend}: {detail}")
    seconds = time.monotonic() - started
    return Result(case, backend, outcome, observed, seconds, known, judge(case, backend, observed, outcome, known))


def run_cases(target: Target, cases: Iterable[Case]) -> list[Result]:
    """Run cases one after another, each in its own run (deleted afterwards, also on failure)."""
    results = []
    for case in cases:
        with Run(target) as run:
            results.append(run_case(case, run))
        log.info("%s: %s (%s)", case.id, results[-1].outcome, results[-1].observed)
    return results


def localstack_fixes(target: Target) -> list[str] | None:
    """The eventlab fixes the emulator behind ``target`` applied, or None when it does not say."""
    if not target.is_emulated or not target.endpoint_url:
        return None
    try:
        with urllib.request.urlopen(target.endpoint_url + FIXES_STATUS_PATH, timeout=3) as reply:
            return list(json.loads(reply.read())["applied"])
    except (OSError, ValueError, KeyError) as error:
        log.info("the emulator at %s does not say which fixes it applied: %s", target.endpoint_url, error)
        return None


def results_path(backend: str) -> Path:
    return matrix_dir() / f"{backend}.json"


def document(results: Sequence[Result], backend: str, *, target: Target | None = None) -> dict[str, Any]:
    """The results of one backend as the JSON document the runner writes."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    meta: dict[str, Any] = {"backend": backend, "written_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if target is not None:
        meta["target"] = target.describe()
        if backend == "localstack":
            meta["localstack_fixes"] = localstack_fixes(target)
    return {**meta, "counts": counts, "failures": sum(not r.ok for r in results), "cases": [r.as_dict() for r in results]}


def write_results(results: Sequence[Result], backend: str, *, target: Target | None = None, path: Path | None = None,
                  merge: bool = False) -> Path:
    """Write ``build/fidelity/<backend>.json``; returns its path. It is replaced, unless ``merge``:
    then the cases run now replace their earlier entries and the other entries stay (a partial
    run, such as notebook 10's, keeps a full run's other results)."""
    out = path or results_path(backend)
    written = document(results, backend, target=target)
    with locked(out.parent / RESULTS_LOCK):  # parallel test workers and kernels merge into one file
        write_atomically(out, json.dumps(_merged(out, written) if merge else written, indent=2) + "\n")
    return out


def _merged(out: Path, written: dict[str, Any]) -> dict[str, Any]:
    """``written`` with the entries of ``out`` for the cases it does not hold."""
    if out.exists():
        try:
            earlier = json.loads(out.read_text()).get("cases", [])
        except ValueError:
            earlier = []
        now = {entry["id"] for entry in written["cases"]}
        entries = [e for e in earlier if e.get("id") not in now] + written["cases"]
        counts: dict[str, int] = {}
        for entry in entries:
            counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
        written = {**written, "counts": counts, "failures": sum(not e["ok"] for e in entries), "cases": entries}
    return written
