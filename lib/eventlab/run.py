"""A run: one unique name prefix and tag set, and a ledger of everything created under it.

Every resource eventlab creates is named ``<prefix>-<base>`` and tagged with the run id, and
is recorded with the call that deletes it. ``destroy()`` (or leaving ``with Run(...)``, also
on an exception) deletes exactly what the run created, newest first, and a leak check then
looks for anything left under the prefix.

What a leak check looks for is declared by the services: each ``services/<service>.py``
registers its resource kinds (:func:`resource_kind`) with how to find what is left of them under
a prefix and how to delete it. This module only loops over them (:func:`find_leftovers`).

A new run is also written to the journal of live runs (:mod:`eventlab.journal`) until it is
destroyed, so that a run whose process is killed is still cleaned up by the next eventlab process.
"""

from __future__ import annotations

import atexit
import logging
import re
import secrets
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from botocore.exceptions import BotoCoreError, ClientError

from eventlab import interrupts, journal
from eventlab.target import Target

log = logging.getLogger(__name__)

RUN_PREFIX = "el"
TAG_RUN = "eventlab:run"
TAG_PROJECT = "eventlab:project"
_ALPHABET = string.ascii_lowercase + string.digits
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# What a resource's base name may be (the run prefix and suffixes such as ".fifo" are added);
# every service's own naming rule allows it.
BASE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]*"

# Error codes that mean "already gone": deleting again is success, not a failure.
GONE_CODES = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",
        "NotFoundException",
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NoSuchBucket",
    }
)


@dataclass(frozen=True)
class ResourceKind:
    """One kind of resource eventlab creates (``sqs:queue``): the name its ledger entries carry
    and, for a kind whose names carry the run prefix, how to find what is left of it under a
    prefix (names) and how to delete one of those by name."""

    name: str
    find: Callable[[Target, str], Iterable[str]] | None = None
    delete: Callable[[Target, str], object] | None = None

    def __str__(self) -> str:
        return self.name


KINDS: dict[str, ResourceKind] = {}
"""Every kind a services module declared, by name (``eventlab.services`` imports them all)."""


def resource_kind(
    name: str,
    find: Callable[[Target, str], Iterable[str]] | None = None,
    delete: Callable[[Target, str], object] | None = None,
) -> ResourceKind:
    """Declare a resource kind (once, from its services module) and return it."""
    kind = ResourceKind(name, find, delete)
    if KINDS.get(name, kind) != kind:
        raise ValueError(f"resource kind {name!r} is declared twice")
    KINDS[name] = kind
    return kind


@dataclass(frozen=True)
class Leak:
    """A resource found under a run's prefix after the run."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def find_leftovers(target: Target, prefix: str) -> list[Leak]:
    """Every resource whose name starts with ``prefix``, in every kind that can be found so. A
    kind that cannot be listed (no permission on AWS) is logged and skipped, not ignored silently."""
    if not KINDS:
        raise RuntimeError("no resource kinds are declared: import eventlab.services first")
    found: list[Leak] = []
    for kind in KINDS.values():
        if kind.find is None:
            continue
        try:
            found.extend(Leak(kind.name, name) for name in kind.find(target, prefix))
        except (ClientError, BotoCoreError) as error:
            log.warning("leak check could not list %s: %s", kind.name, error)
    return found


def new_run_id() -> str:
    """Eight random lowercase letters and digits: valid in every AWS name, S3 buckets included."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


def is_gone(error: ClientError) -> bool:
    """True when an AWS error says the resource does not exist."""
    return error.response.get("Error", {}).get("Code", "") in GONE_CODES


@dataclass
class Resource:
    """One created resource and the call that deletes it."""

    kind: str
    name: str
    arn: str
    delete: Callable[[], object] = field(repr=False)


@dataclass
class TeardownReport:
    """What ``destroy()`` did: deleted resources, and those whose deletion failed (with why)."""

    deleted: list[Resource] = field(default_factory=list)
    failed: list[tuple[Resource, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


class Run:
    """The unit of clean-up: a run id, the names and tags it implies, and a ledger."""

    def __init__(self, target: Target, *, run_id: str | None = None, project: str = "eventlab") -> None:
        self.target = target
        self.run_id = run_id or new_run_id()
        if not _NAME_RE.fullmatch(self.run_id):
            raise ValueError(f"run id {self.run_id!r}: use lowercase letters, digits and '-'.")
        self.project = project
        self.started_at = time.time()
        self.resources: list[Resource] = []
        # A new run on a real target is journaled before it creates anything. A run opened on an
        # existing id (to find or delete what another run made) is not: it owns nothing.
        self._deleting = 0  # deletions in progress (a signal may start a destroy within one)
        self.journaled = run_id is None and isinstance(target, Target)
        if self.journaled:
            journal.add(self.run_id, self.prefix, target.describe())

    @property
    def prefix(self) -> str:
        """The name prefix every resource of this run starts with."""
        return self.prefix_for(self.run_id)

    @staticmethod
    def prefix_for(run_id: str) -> str:
        return f"{RUN_PREFIX}-{run_id}"

    def name(self, base: str, *, suffix: str = "", max_length: int = 64) -> str:
        """``<prefix>-<base><suffix>``, checked against the service's length limit."""
        if not re.fullmatch(BASE_NAME_PATTERN, base):
            raise ValueError(
                f"resource base name {base!r}: use letters, digits, '-' and '_' "
                "(the run prefix and suffixes such as '.fifo' are added for you)."
            )
        full = f"{self.prefix}-{base}{suffix}"
        if len(full) > max_length:
            raise ValueError(
                f"resource name {full!r} is {len(full)} characters, over this service's limit of "
                f"{max_length}: shorten the base name {base!r}."
            )
        return full

    @property
    def tags(self) -> dict[str, str]:
        """The tags every resource of the run carries (as a mapping)."""
        return {TAG_RUN: self.run_id, TAG_PROJECT: self.project}

    def tag_list(self, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
        """The same tags in the list-of-pairs shape most AWS APIs take."""
        return [{key: k, value: v} for k, v in self.tags.items()]

    def track(self, kind: ResourceKind | str, name: str, arn: str, delete: Callable[[], object]) -> Resource:
        """Record a created resource; it is deleted, newest first, by ``destroy()``.

        Recording the same resource twice (an idempotent create called again) keeps one entry.
        """
        kind = str(kind)
        for known in self.resources:
            if (known.kind, known.arn) == (kind, arn):
                return known
        resource = Resource(kind=kind, name=name, arn=arn, delete=delete)
        self.resources.append(resource)
        log.debug("created %s %s", kind, name)
        return resource

    def forget(self, arn: str) -> None:
        """Drop a resource from the ledger after deleting it by hand."""
        self.resources = [r for r in self.resources if r.arn != arn]

    def destroy(self) -> TeardownReport:
        """Delete everything the run created, newest first; go on past failures and report them."""
        report = TeardownReport()
        while self.resources:
            resource = self.resources.pop()
            self._deleting += 1
            try:
                resource.delete()
            except ClientError as error:
                if not is_gone(error):
                    report.failed.append((resource, str(error)))
                    log.error("could not delete %s %s: %s", resource.kind, resource.name, error)
                    continue
            except Exception as error:  # noqa: BLE001 - teardown must go on
                report.failed.append((resource, repr(error)))
                log.error("could not delete %s %s: %r", resource.kind, resource.name, error)
                continue
            finally:
                self._deleting -= 1
            report.deleted.append(resource)
        log.info("run %s: deleted %d resource(s)", self.run_id, len(report.deleted))
        # A failed deletion stays journaled, and so does a destroy that a signal interrupted
        # mid-deletion (its handler destroys the rest, then ends the process): the prefix is
        # swept later.
        if report.ok and self._deleting == 0:
            self.release()
        return report

    def release(self) -> None:
        """Take the run off the journal of live runs: it was destroyed, or its resources were
        handed on to something that outlives this process (a deployment's record)."""
        if self.journaled:
            journal.remove(self.run_id)
            self.journaled = False

    def destroy_at_exit(self) -> Self:
        """Also destroy when the process ends: at interpreter exit (a notebook whose cell failed
        still cleans up when papermill or Jupyter shuts its kernel down), and on SIGTERM or SIGHUP,
        which would otherwise end the process without running any clean-up."""
        atexit.register(self.destroy)
        interrupts.clean_up_on_termination(self.destroy)
        return self

    def leaks(self) -> list[str]:
        """Anything still present under this run's prefix, in every kind the services declare."""
        return [str(leak) for leak in find_leftovers(self.target, self.prefix)]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        report = self.destroy()
        if not report.ok and exc is None:
            names = ", ".join(f"{r.kind} {r.name}" for r, _ in report.failed)
            raise RuntimeError(f"run {self.run_id}: could not delete {names}")
