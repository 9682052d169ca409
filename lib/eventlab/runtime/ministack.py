"""The embedded MiniStack: MiniStack run as a host process on 127.0.0.1, no Docker, no account;
the second backend of the process manager (:mod:`eventlab.runtime.process`).

It has every guarantee of the LocalStack backend: one port on 127.0.0.1 only (checked socket by
socket over the process tree, Lambda workers included), state and log in ``build/ministack``,
reuse through the record file, a wait for health, a stop of the whole tree. MiniStack is started
through eventlab's launcher (``python -m eventlab.runtime.ministack_launcher``), which clears the
settings an environment can only set, not unset, and installs eventlab's patches before it serves.

    with EmbeddedMiniStack() as ministack:
        target = Target.emulator(ministack.endpoint_url, backend="ministack")

    eventlab up --backend ministack               # the CLI
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from eventlab.runtime.backend import Backend
from eventlab.runtime.errors import EmulatorError
from eventlab.runtime.ports import HOST
from eventlab.runtime.process import EmulatorProcess

log = logging.getLogger(__name__)

DISTRIBUTION = "ministack"
LAUNCHER = "eventlab.runtime.ministack_launcher"
READY_PATH = "/_ministack/ready"
HEALTH_PATH = "/_ministack/health"


class MiniStackMissingError(EmulatorError):
    """The environment that should run MiniStack cannot import it."""


def ministack_version() -> str:
    """The installed MiniStack release (the running one reports its own in its health document)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def temp_dir(state_dir: Path) -> Path:
    """MiniStack's TMPDIR: its pid file, every Lambda worker's folder, its code caches."""
    return state_dir / "tmp"


class MiniStackBackend(Backend):
    """MiniStack as ``python -m eventlab.runtime.ministack_launcher`` on this interpreter."""

    name = "MiniStack"
    key = "ministack"
    log_name = "ministack.log"

    def version(self) -> str:
        return ministack_version()

    def command(self) -> list[str]:
        return [sys.executable, "-m", LAUNCHER]

    def prepare(self, state_dir: Path) -> None:
        # A folder left by a crash (a worker killed mid-invoke) is not this start's.
        shutil.rmtree(temp_dir(state_dir), ignore_errors=True)
        temp_dir(state_dir).mkdir(parents=True, exist_ok=True)

    def cleanup(self, state_dir: Path) -> None:
        shutil.rmtree(temp_dir(state_dir), ignore_errors=True)

    def preflight(self, environment: Mapping[str, str]) -> list[str]:
        if importlib.util.find_spec(DISTRIBUTION) is None:
            raise MiniStackMissingError(
                f"MiniStack is not installed for {sys.executable}, so the ministack backend cannot "
                "start. Build the environment with `make setup` (it installs the locked ministack "
                "into .venv) and use .venv/bin/eventlab, or choose the other backend with "
                "`--backend localstack` (EVENTLAB_BACKEND=localstack)."
            )
        return []

    def environment(self, port: int, state_dir: Path) -> dict[str, str]:
        """MiniStack's settings for a quiet, offline, in-memory host process on ``HOST:port``
        (the survey's section 7: each default it overrides binds 0.0.0.0 or writes under /tmp)."""
        tmp = temp_dir(state_dir)
        return {
            "BIND_HOST": HOST,  # default 0.0.0.0
            "GATEWAY_PORT": str(port),
            "MINISTACK_HOST": HOST,  # the host in the URLs it hands out (SNS SubscribeURL)
            # With `cryptography` importable the IoT mTLS listener binds 0.0.0.0:8883 whatever
            # BIND_HOST says; the SFTP listener binds SFTP_HOST (0.0.0.0) on CreateServer.
            "IOT_MTLS_ENABLED": "0",
            "SFTP_ENABLED": "0",
            "SFTP_HOST": HOST,
            "TMPDIR": str(tmp),
            "STATE_DIR": str(state_dir / "state"),
            "S3_DATA_DIR": str(state_dir / "s3"),
            "PERSIST_STATE": "0",
            "S3_PERSIST": "0",
            "LAMBDA_EXECUTOR": "local",
            # With /var/run/docker.sock present MiniStack reaps "ownerless" containers at boot.
            "DOCKER_HOST": f"unix://{state_dir / 'no-docker.sock'}",
            "LOG_LEVEL": "INFO",
            "MINISTACK_ACCOUNT_ID": "000000000000",
            "PYTHONUNBUFFERED": "1",
        }

    def region_settings(self, region: str) -> dict[str, str]:
        """MiniStack's default region: the one a request without a signed region lands in."""
        return {"MINISTACK_REGION": region}

    def health(self, endpoint_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
        """MiniStack's health document once ``/_ministack/ready`` says it is ready, else None."""
        try:
            ready = requests.get(f"{endpoint_url}{READY_PATH}", timeout=timeout)
            if ready.status_code != 200:
                return None
            health = requests.get(f"{endpoint_url}{HEALTH_PATH}", timeout=timeout)
            if health.status_code != 200:
                return None
            document: dict[str, Any] = health.json()
            return document if "version" in document else None
        except (requests.RequestException, ValueError):
            return None

    def exposed_fix(self) -> str:
        return (
            f"eventlab starts MiniStack with BIND_HOST={HOST}, IOT_MTLS_ENABLED=0 and SFTP_ENABLED=0: "
            "check that nothing in the environment overrides them"
        )


class EmbeddedMiniStack(EmulatorProcess):
    """MiniStack as a child process on 127.0.0.1, with its state in ``build/ministack``; see
    :class:`~eventlab.runtime.process.EmulatorProcess` for start, reuse and stop."""

    backend = MiniStackBackend()
