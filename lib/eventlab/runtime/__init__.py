"""The emulators eventlab runs on 127.0.0.1 as host processes, and everything that can go wrong.

- :mod:`.process`: the process manager, the same for every emulator (record with an identity
  check, lock, spawn, health wait, loopback verification, stop of the whole tree, strays, last port);
- :mod:`.backend`: what differs per emulator (name, version, command, settings, health, state);
- :mod:`.localstack`: LocalStack (:class:`EmbeddedLocalStack`);
- :mod:`.ministack`: MiniStack (:class:`EmbeddedMiniStack`), started by :mod:`.ministack_launcher`
  with :mod:`.ministack_patches` and :mod:`.ministack_lambda` applied;
- :mod:`.registry`: the backends by name (``--backend``, ``EVENTLAB_BACKEND``);
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
from eventlab.runtime.ministack import EmbeddedMiniStack, MiniStackMissingError, ministack_version
from eventlab.runtime.ports import check_port, free_port, parse_port
from eventlab.runtime.process import (
    DEFAULT_START_TIMEOUT,
    EmulatorProcess,
    explain_failure,
    explain_unreachable,
    find_instance,
)
from eventlab.runtime.record import RUNNING, STARTING, InstanceRecord
from eventlab.runtime.registry import (
    BACKEND_ENV,
    DEFAULT_BACKEND,
    EMULATORS,
    UnknownBackendError,
    backend_name,
    emulator,
    emulator_class,
)

__all__ = [
    "BACKEND_ENV",
    "DEFAULT_BACKEND",
    "DEFAULT_START_TIMEOUT",
    "EMULATORS",
    "RUNNING",
    "STARTING",
    "EmbeddedLocalStack",
    "EmbeddedMiniStack",
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
    "MiniStackMissingError",
    "PortInUseError",
    "PortNotPermittedError",
    "UnknownBackendError",
    "backend_name",
    "check_port",
    "emulator",
    "emulator_class",
    "explain_failure",
    "explain_unreachable",
    "find_instance",
    "free_port",
    "localstack_version",
    "ministack_version",
    "parse_port",
]
