"""Find (and delete) what is left under a run's name prefix: a deletion order and a loop over the
kinds the services declare; and clean up after runs whose process died (:func:`reap_orphaned_runs`,
from the run journal)."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from eventlab import journal  # importing the services declares every resource kind
from eventlab.journal import JournalEntry
from eventlab.run import (
    KINDS,
    RUN_PREFIX,
    Leak,
    Resource,
    Run,
    TeardownReport,
    find_leftovers,
    is_gone,
)
from eventlab.runtime import EMULATORS, EmulatorError
from eventlab.target import Target, TargetError

log = logging.getLogger(__name__)

# A run's prefix, el-<run id>: run ids are 8 lowercase letters or digits (run.new_run_id), and
# anything after them narrows the search further (el-ab12cd34-orders).
_RUN_PREFIX_RE = re.compile(rf"^{RUN_PREFIX}-[a-z0-9][a-z0-9-]{{7}}")


class LeakPrefixError(ValueError):
    """A prefix that is not a run's: searching (or deleting) under it would reach other runs."""


def check_prefix(prefix: str) -> str:
    """``prefix`` if it names one run (``el-`` and an 8-character run id), else LeakPrefixError."""
    if not _RUN_PREFIX_RE.match(prefix):
        raise LeakPrefixError(
            f"prefix {prefix!r} is not a run's: give el-<run id>, the run id being the 8 letters or "
            "digits every name of the run carries (e.g. el-ab12cd34; notebooks print it, and "
            "`eventlab deploy` prints its run_id); a shorter prefix would reach other runs' resources"
        )
    return prefix


# Deletion by kind, in an order that removes users before what they use (a kind that can be
# found by prefix must have its place here: a unit test checks that every one has).
DELETION_ORDER = (
    "schemas:registry",
    "eventbridgev2:subscriber",
    "pipes:pipe",
    "scheduler:schedule",
    "scheduler:schedule-group",
    "sns:subscription",
    "lambda:event-source-mapping",
    "events:rule",
    "events:archive",
    "events:bus",
    "eventbridgev2:bus",
    "lambda:function",
    "cloudwatch:alarm",
    "sns:topic",
    "sqs:queue",
    "firehose:delivery-stream",
    "kinesis:stream",
    "s3:bucket",
    "kms:key",
    "iam:role",
    "logs:log-group",
)
# What each kind's services module says about finding and deleting it, by kind.
CHECKS: dict[str, Callable[[Target, str], Iterable[str]]] = {k.name: k.find for k in KINDS.values() if k.find}
DELETERS: dict[str, Callable[[Target, str], object]] = {
    name: KINDS[name].delete for name in DELETION_ORDER if KINDS[name].delete  # type: ignore[misc]
}


def find_leaks(target: Target, prefix: str) -> list[Leak]:
    """Every resource whose name starts with ``prefix`` (a run's), across the services eventlab
    uses; a service that cannot be listed (no permission on AWS) is logged and skipped."""
    return find_leftovers(target, check_prefix(prefix))


def delete_leaks(target: Target, prefix: str) -> tuple[list[Leak], list[tuple[Leak, str]]]:
    """Delete everything under ``prefix`` (e.g. a deployment, or a run that was killed).

    Returns what was deleted and what could not be, with the reason. Deletions that AWS
    finishes asynchronously (streams, delivery streams) may show up as leaks for a while.
    """
    deleted: list[Leak] = []
    failed: list[tuple[Leak, str]] = []
    for leak in sorted(find_leaks(target, prefix), key=lambda item: DELETION_ORDER.index(item.kind)):
        try:
            DELETERS[leak.kind](target, leak.name)
        except ClientError as error:
            if not is_gone(error):
                failed.append((leak, str(error)))
                continue
        deleted.append(leak)
    return deleted, failed


def destroy_run(run: Run) -> TeardownReport:
    """Delete what a run made: with a live run through its ledger; for a run rebuilt from its id
    alone (``Run(target, run_id=...)``) by its name prefix. A sender identity a run verified is
    deleted only through the ledger: by name there is no telling it from one that existed before."""
    if run.resources:
        return run.destroy()
    deleted, failed = delete_leaks(run.target, run.prefix)

    def found(leak: Leak) -> Resource:
        return Resource(kind=leak.kind, name=leak.name, arn=leak.name, delete=lambda: None)

    return TeardownReport(deleted=[found(leak) for leak in deleted], failed=[(found(leak), why) for leak, why in failed])


@dataclass
class Reaped:
    """What :func:`reap_orphaned_runs` did with one journaled run whose process is gone."""

    entry: JournalEntry
    deleted: list[Leak] = field(default_factory=list)
    failed: list[tuple[Leak, str]] = field(default_factory=list)
    # Why nothing was deleted (its emulator is gone, it is on AWS and that was not allowed, ...).
    note: str = ""

    def __str__(self) -> str:
        owner = f"pid {self.entry.owner.pid}"
        if self.note:
            return f"run {self.entry.prefix} (its process, {owner}, ended): {self.note}"
        failed = f", {len(self.failed)} could not be deleted" if self.failed else ""
        return (
            f"run {self.entry.prefix} (its process, {owner}, ended without cleaning up): "
            f"deleted {len(self.deleted)} resource(s){failed}"
        )


def _answers(endpoint_url: str, timeout: float = 1.0) -> bool:
    """True when something accepts connections at the endpoint (the emulator still runs)."""
    if not endpoint_url:
        return False
    parts = urlsplit(endpoint_url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


def _other_backend_answers(kind: str, endpoint_url: str) -> str | None:
    """The name of another backend that now answers at the endpoint of a run on ``kind`` (its
    emulator stopped and another took the port: the run's resources went with the first)."""
    for name, emulator in EMULATORS.items():
        if name != kind and emulator.backend.health(endpoint_url, timeout=1.0) is not None:
            return emulator.backend.name
    return None


def _aws_leaks_command(entry: JournalEntry) -> str:
    env = ["EVENTLAB_TARGET=aws"]
    if entry.target.get("profile"):
        env.append(f"EVENTLAB_AWS_PROFILE={entry.target['profile']}")
    if entry.target.get("region"):
        env.append(f"EVENTLAB_AWS_REGION={entry.target['region']}")
    return f"{' '.join(env)} eventlab leaks {entry.prefix} --delete"


def reap_orphaned_runs(*, allow_aws: bool = False, folder: Path | None = None) -> list[Reaped]:
    """Delete what journaled runs left behind when their process died without cleaning up.

    Runs whose owner is alive are never touched. On an emulator that has stopped there is
    nothing left to delete (its state was in memory), so the entry is just dropped. Runs on AWS
    are cleaned only with ``allow_aws`` (a command that was itself asked to use AWS); otherwise
    they are reported with the command that cleans them, and kept in the journal.
    """
    results = []
    for entry in journal.orphans(folder=folder):
        kind = str(entry.target.get("kind"))
        endpoint = str(entry.target.get("endpoint_url") or "")
        if kind in EMULATORS and not _answers(endpoint):
            journal.remove(entry.run_id, folder=folder)
            results.append(Reaped(entry, note="its emulator has stopped, and its resources with it"))
            continue
        other = _other_backend_answers(kind, endpoint) if kind in EMULATORS else None
        if other is not None:
            journal.remove(entry.run_id, folder=folder)
            results.append(Reaped(entry, note=f"its emulator has stopped, and its resources with it ({other} holds the port now)"))
            continue
        if kind == "aws" and not allow_aws:
            note = f"it may have left resources in AWS; delete them with `{_aws_leaks_command(entry)}`"
            log.warning("run %s (pid %d, ended): %s", entry.prefix, entry.owner.pid, note)
            results.append(Reaped(entry, note=note))
            continue
        if kind not in (*EMULATORS, "aws"):
            results.append(Reaped(entry, note=f"unknown target kind {kind!r}; left in the journal"))
            continue
        try:
            target = Target.from_description(entry.target, announce=True)
            deleted, failed = delete_leaks(target, entry.prefix)
        except (ClientError, BotoCoreError, EmulatorError, TargetError) as error:
            results.append(Reaped(entry, note=f"could not be cleaned up now ({error}); will retry later"))
            continue
        if not failed:
            journal.remove(entry.run_id, folder=folder)
        results.append(Reaped(entry, deleted=deleted, failed=failed))
        log.info("%s", results[-1])
    return results


def forget_prefix(prefix: str) -> None:
    """Drop the journal entries of ``prefix`` whose owner is gone (their resources were deleted
    by hand, ``eventlab leaks PREFIX --delete``)."""
    for entry in journal.orphans():
        if entry.prefix == prefix:
            journal.remove(entry.run_id)
