"""A journal of live runs in the build folder: the backstop for runs whose process was killed.

A run writes an entry when it starts (its id, name prefix, target, and the identity of the
process that owns it) and removes it when it is destroyed. A process killed outright (SIGKILL,
a crash, a kernel that its parent's death ended with ``os._exit``) cannot clean up; its entry
stays, and the next eventlab process that looks (``eventlab run``, ``up``, ``down``, the test
session: see :func:`eventlab.leaks.reap_orphaned_runs`) deletes that run's resources by prefix.
An entry whose owner still runs is never touched.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventlab.locations import build_dir, write_atomically
from eventlab.processes import ProcessIdentity

log = logging.getLogger(__name__)

JOURNAL_DIR_NAME = "runs"


def journal_dir() -> Path:
    return build_dir() / JOURNAL_DIR_NAME


@dataclass(frozen=True)
class JournalEntry:
    """One live run: what to delete (prefix, target) and who is responsible for it (owner)."""

    run_id: str
    prefix: str
    target: dict[str, Any]
    owner: ProcessIdentity
    started_at: float

    def owner_alive(self) -> bool:
        """Whether the owner still runs: its pid with its start time (a process that retitled
        itself is still alive; erring this way only delays a clean-up, never wrongs a live run)."""
        return self.owner.alive(check_cmdline=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "prefix": self.prefix,
            "target": self.target,
            "owner": self.owner.to_json(),
            "started_at": self.started_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> JournalEntry | None:
        try:
            owner = ProcessIdentity.from_json(data["owner"])
            if owner is None:
                return None
            return cls(str(data["run_id"]), str(data["prefix"]), dict(data["target"]), owner, float(data["started_at"]))
        except (KeyError, TypeError, ValueError):
            return None


def _path(run_id: str, folder: Path | None = None) -> Path:
    return (folder or journal_dir()) / f"{run_id}.json"


def add(run_id: str, prefix: str, target: dict[str, Any], *, folder: Path | None = None) -> JournalEntry | None:
    """Record a run that starts now, owned by this process. A journal that cannot be written
    is logged, not fatal: the run itself still cleans up as before."""
    owner = ProcessIdentity.of(os.getpid())
    if owner is None:
        return None
    entry = JournalEntry(run_id, prefix, target, owner, time.time())
    path = _path(run_id, folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(entry.to_json(), indent=2))
    except OSError as error:
        log.warning("could not journal run %s in %s: %s", run_id, path.parent, error)
        return None
    return entry


def remove(run_id: str, *, folder: Path | None = None) -> None:
    """Forget a run: it was destroyed, or its resources were handed on (a deployment)."""
    try:
        _path(run_id, folder).unlink(missing_ok=True)
    except OSError as error:
        log.warning("could not remove run %s from the journal: %s", run_id, error)


def entries(*, folder: Path | None = None) -> list[JournalEntry]:
    """Every journaled run, oldest first; unreadable files are skipped (and logged)."""
    folder = folder or journal_dir()
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = JournalEntry.from_json(json.loads(path.read_text()))
        except (OSError, ValueError):
            entry = None
        if entry is None:
            log.warning("skipping an unreadable journal entry %s", path)
            continue
        found.append(entry)
    return sorted(found, key=lambda e: e.started_at)


def orphans(*, folder: Path | None = None) -> list[JournalEntry]:
    """Journaled runs whose owning process is gone: nobody else will clean them up."""
    return [entry for entry in entries(folder=folder) if not entry.owner_alive()]
