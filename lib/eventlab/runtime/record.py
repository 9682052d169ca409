"""The record an emulator leaves in its state folder, so that every later process finds it again.

The record names the emulator's process by pid, start time and command line (a pid alone is
reused after a crash or a reboot, and signalling a stale one kills a stranger). It is written
under the state folder's lock right after the spawn (``starting``) and again once the emulator is
healthy (``running``). Beside it: the port of the last successful start, taken again when free.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eventlab.locations import locked, write_atomically
from eventlab.processes import ProcessIdentity

RECORD_NAME = "instance.json"
LAST_PORT_NAME = "last-port"
LOCK_NAME = ".lock"
STARTING, RUNNING = "starting", "running"


@dataclass(frozen=True)
class InstanceRecord:
    """What a started emulator leaves in its state folder so that other processes can find it.

    Written right after the spawn (``state="starting"``) and again once it is healthy
    (``"running"``). The pid, start time and command line together name the process: a record
    whose process is gone, or whose pid now belongs to another process, is stale.
    """

    pid: int
    create_time: float
    cmdline: list[str]
    port: int
    endpoint_url: str
    log_path: str
    started_at: float
    version: str
    state: str = STARTING
    startup_seconds: float | None = None
    # The tools the emulator needs from its PATH, where it found them (None: missing), e.g.
    # LocalStack's Node.js and npm for Kinesis; read again to explain a failure.
    tools: dict[str, str | None] = field(default_factory=dict)
    # The companion servers started beside it, by service: pid, create_time, cmdline, port,
    # endpoint_url, log_path (see eventlab.runtime.companions).
    companions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The region it was configured for (MiniStack's own, the companions'): what its clients sign for.
    region: str = "us-east-1"
    # The boot time create_time was read against (see eventlab.processes.ProcessIdentity).
    boot_time: float | None = None

    @property
    def endpoints(self) -> dict[str, str]:
        """The URL of each service a companion serves (``{"eventbridgev2": url}``)."""
        return {service: str(entry["endpoint_url"]) for service, entry in self.companions.items()}

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.create_time, tuple(self.cmdline), self.boot_time)

    @classmethod
    def load(cls, path: Path) -> InstanceRecord | None:
        """The record in ``path``; None when there is none or it is unreadable or of an older
        format (one without the process's start time cannot be checked, so it is not trusted)."""
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        write_atomically(path, json.dumps(asdict(self), indent=2))


def read_last_port(state_dir: Path) -> int | None:
    """The port of the last successful start in ``state_dir``, if one is recorded."""
    try:
        return int((state_dir / LAST_PORT_NAME).read_text().strip())
    except (OSError, ValueError):
        return None


def write_last_port(state_dir: Path, port: int) -> None:
    (state_dir / LAST_PORT_NAME).write_text(f"{port}\n")


def state_lock(state_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Serialise start and stop between processes that share this state folder."""
    return locked(state_dir / LOCK_NAME)
