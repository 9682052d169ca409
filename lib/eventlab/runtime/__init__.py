"""The emulators eventlab runs on 127.0.0.1 as host processes, and everything that can go wrong.

- :mod:`.process`: the process manager, the same for every emulator (record with an identity
  check, lock, spawn, health wait, loopback verification, stop of the whole tree, strays, last port);
- :mod:`.backend`: what differs per emulator (name, version, command, settings, health, state);
- :mod:`.localstack`: LocalStack, the one backend today (:class:`EmbeddedLocalStack`);
- :mod:`.ports`: the port the user asked for, checked, or a free one;
- :mod:`.record`: the record an instance leaves in its state folder;
- :mod:`.errors`: the errors, each naming the problem and the fix.
"""

from eventlab.runtime.errors import (
    EmulatorError,
    EmulatorStartError,
    EmulatorStoppedError,
    EmulatorTimeoutError,
    ExposedEmulatorError,
    PortInUseError,
    PortNotPermittedError,
)
from eventlab.runtime.localstack import (
    EmbeddedLocalStack,
    InterpreterError,
    KinesisBackendError,
    LocalStackError,
    LocalStackStartError,
    LocalStackTimeoutError,
    localstack_version,
)
from eventlab.runtime.ports import check_port, free_port, parse_port
from eventlab.runtime.process import (
    DEFAULT_START_TIMEOUT,
    EmulatorProcess,
    explain_failure,
    explain_unreachable,
    find_instance,
)
from eventlab.runtime.record import RUNNING, STARTING, InstanceRecord

__all__ = [
    "DEFAULT_START_TIMEOUT",
    "RUNNING",
    "STARTING",
    "EmbeddedLocalStack",
    "EmulatorError",
    "EmulatorProcess",
    "EmulatorStartError",
    "EmulatorStoppedError",
    "EmulatorTimeoutError",
    "ExposedEmulatorError",
    "InstanceRecord",
    "InterpreterError",
    "KinesisBackendError",
    "LocalStackError",
    "LocalStackStartError",
    "LocalStackTimeoutError",
    "PortInUseError",
    "PortNotPermittedError",
    "check_port",
    "explain_failure",
    "explain_unreachable",
    "find_instance",
    "free_port",
    "localstack_version",
    "parse_port",
]
