"""What can go wrong with an emulator eventlab runs; each message names the problem and the fix."""

from __future__ import annotations

from eventlab.processes import Listener


class EmulatorError(RuntimeError):
    """A problem with an emulator eventlab runs (start, reuse, stop, a call to it)."""


class PortInUseError(EmulatorError):
    """The requested port is taken by a process that is not this project's emulator."""


class PortNotPermittedError(EmulatorError):
    """This user may not listen on the requested port (a privileged port, EACCES)."""


class ExposedEmulatorError(EmulatorError):
    """A process of the emulator listens on an address other machines can reach."""

    def __init__(self, message: str, listeners: list[Listener]) -> None:
        super().__init__(message)
        self.listeners = listeners


class EmulatorStoppedError(EmulatorError):
    """The emulator a target points at stopped (or stopped answering) while it was in use."""


class EmulatorStartError(EmulatorError):
    """The emulator exited (or was stopped) before it became healthy."""


class EmulatorTimeoutError(EmulatorError):
    """The emulator did not become healthy in time."""
