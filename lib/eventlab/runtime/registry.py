"""The backends eventlab can run, by name: ``localstack`` (the default) and ``ministack``.

A name comes from ``--backend``, from ``EVENTLAB_BACKEND``, or from a notebook's ``target``
parameter; each is checked here, so a name that does not exist is refused with the names that do
before anything starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from eventlab.runtime.errors import EmulatorError
from eventlab.runtime.localstack import EmbeddedLocalStack
from eventlab.runtime.ministack import EmbeddedMiniStack
from eventlab.runtime.process import EmulatorProcess

BACKEND_ENV = "EVENTLAB_BACKEND"
DEFAULT_BACKEND = "localstack"
EMULATORS: dict[str, type[EmulatorProcess]] = {
    "localstack": EmbeddedLocalStack,
    "ministack": EmbeddedMiniStack,
}


class UnknownBackendError(EmulatorError):
    """A backend name that is not one of :data:`EMULATORS`."""


def backend_name(name: str | None = None, *, source: str = "--backend", environ: Mapping[str, str] | None = None) -> str:
    """The backend ``name`` names (default: ``EVENTLAB_BACKEND``, else ``localstack``), checked."""
    env = os.environ if environ is None else environ
    if name is None or not name.strip():
        name, source = env.get(BACKEND_ENV) or DEFAULT_BACKEND, BACKEND_ENV
    wanted = name.strip().lower()
    if wanted not in EMULATORS:
        raise UnknownBackendError(
            f"{source}={name!r} is not a backend eventlab runs: use one of {', '.join(sorted(EMULATORS))} "
            f"(e.g. `--backend ministack` or {BACKEND_ENV}=ministack), or leave it unset for {DEFAULT_BACKEND}."
        )
    return wanted


def emulator_class(name: str | None = None) -> type[EmulatorProcess]:
    """The process class of backend ``name`` (default: ``EVENTLAB_BACKEND``, else LocalStack)."""
    return EMULATORS[backend_name(name)]


def emulator(name: str | None = None, **options: Any) -> EmulatorProcess:
    """An emulator of backend ``name`` (not started), with the process manager's ``options``."""
    return emulator_class(name)(**options)
