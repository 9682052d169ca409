"""Deployments that outlive the command that made them (``eventlab deploy`` / ``destroy``).

A deployment is a run whose resources are meant to stay: its record (pattern, run id, target,
outputs) is kept in ``build/deployments/<pattern>.json`` so that a later ``eventlab destroy``
can find everything by the run's name prefix and delete it, from another process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eventlab.leaks import Leak, delete_leaks, find_leaks
from eventlab.locations import build_dir
from eventlab.run import Run
from eventlab.target import Target


@dataclass(frozen=True)
class DeploymentRecord:
    pattern: str
    run_id: str
    target: dict[str, Any]
    outputs: dict[str, str]
    created_at: float

    @property
    def prefix(self) -> str:
        return Run.prefix_for(self.run_id)


def _path(pattern: str) -> Path:
    folder = build_dir() / "deployments"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{pattern}.json"


def load(pattern: str) -> DeploymentRecord | None:
    path = _path(pattern)
    return DeploymentRecord(**json.loads(path.read_text())) if path.exists() else None


def deploy(pattern: str, target: Target, build: Callable[[Run], dict[str, str]]) -> DeploymentRecord:
    """Build a pattern under a new run and record it; on failure, delete what was built."""
    existing = load(pattern)
    if existing is not None:
        raise RuntimeError(
            f"{pattern} is already deployed (run {existing.run_id}); `eventlab destroy {pattern}` first"
        )
    run = Run(target)
    try:
        outputs = build(run)
    except BaseException:
        run.destroy()
        raise
    record = DeploymentRecord(pattern, run.run_id, target.describe(), outputs, time.time())
    _path(pattern).write_text(json.dumps(asdict(record), indent=2))
    run.release()  # the deployment record owns the resources now, not this process's run
    return record


def destroy(pattern: str, target: Target) -> tuple[list[Leak], list[tuple[Leak, str]]]:
    """Delete everything under the deployment's prefix, then its record (if nothing failed)."""
    record = load(pattern)
    if record is None:
        raise RuntimeError(f"{pattern} is not deployed (no {_path(pattern)})")
    deleted, failed = delete_leaks(target, record.prefix)
    if not failed and not find_leaks(target, record.prefix):
        _path(pattern).unlink()
    return deleted, failed
