"""What the process manager needs to know about one emulator: a backend.

The process manager (:mod:`eventlab.runtime.process`) does the same for every emulator: record,
lock, spawn, wait until healthy, check that every socket is on loopback, stop the whole tree. A
backend says what differs: its name and version, the command that starts it, the settings that
make it a quiet offline host process on one port of 127.0.0.1, how to ask it whether it is ready,
and where in its state folder it keeps its log and files. LocalStack is one
(:mod:`eventlab.runtime.localstack`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eventlab.runtime.companions import EVENTBRIDGEV2, Companion
from eventlab.runtime.errors import EmulatorError


class Backend:
    """One emulator that eventlab runs as a tree of host processes on 127.0.0.1."""

    #: How messages name it ("the embedded LocalStack").
    name: str = "emulator"
    #: Its state folder under the build folder, and its name in records.
    key: str = "emulator"
    #: Its log file, in the state folder.
    log_name: str = "emulator.log"

    def version(self) -> str:
        """The installed release, as recorded with every result."""
        raise NotImplementedError

    def command(self) -> list[str]:
        """The command that starts it (run in the state folder, in its own session)."""
        raise NotImplementedError

    def environment(self, port: int, state_dir: Path) -> dict[str, str]:
        """The settings (environment variables) that make it listen on ``127.0.0.1:port`` only,
        keep every file in ``state_dir`` and stay quiet and offline."""
        raise NotImplementedError

    def region_settings(self, region: str) -> dict[str, str]:
        """The settings that make ``region`` its default (LocalStack needs none: it serves the
        region each request is signed for)."""
        return {}

    def health(self, endpoint_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
        """Its health document once it is ready to serve, else None."""
        raise NotImplementedError

    def companions(self) -> tuple[Companion, ...]:
        """The servers eventlab runs beside it, for APIs it lacks (:mod:`eventlab.runtime.companions`)."""
        return (EVENTBRIDGEV2,)

    def prepare(self, state_dir: Path) -> None:
        """Create what it needs in its state folder before a start."""

    def cleanup(self, state_dir: Path) -> None:
        """Remove what a stopped instance leaves that the next start must not find (temp files)."""

    def reported_version(self, health: Mapping[str, Any]) -> str | None:
        """The release the running emulator reports in its health document, if it says."""
        version = health.get("version")
        return str(version) if version else None

    def preflight(self, environment: Mapping[str, str]) -> list[str]:
        """Check before a start: raise :class:`EmulatorError` (with the fix) for what would stop
        it, return warnings for what only limits it (shown by ``eventlab up``)."""
        return []

    def tools(self, environment: Mapping[str, str]) -> dict[str, str | None]:
        """The programs it needs from ``environment``'s PATH and where they are (None: missing);
        kept in the record to explain failures later."""
        return {}

    def tool_problems(self, tools: Mapping[str, str | None]) -> list[str]:
        """Warnings about recorded tools, for a process that attaches to a running instance."""
        return []

    def exposed_fix(self) -> str:
        """What to check when one of its sockets is not on loopback (the sentence before the
        advice to stop it)."""
        return "check its settings for a listen address other than 127.0.0.1"

    def explain_failure(self, message: str, tools: Mapping[str, str | None] | None, log_path: str | None) -> EmulatorError | None:
        """The cause and the fix, when an API error message says the emulator itself failed
        (None for any other error: it is the caller's)."""
        return None
