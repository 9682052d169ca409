"""The server as a child process on 127.0.0.1, on its own, beside any backend (tests, MiniStack by
hand). ``eventlab up`` does not use this: the process manager starts the same command as a
companion of the emulator (:mod:`eventlab.runtime.companions`).

    with EmbeddedEventBridgeV2(backend_endpoint=backend.endpoint_url) as eventbridgev2:
        boto3.client("eventbridgev2", endpoint_url=eventbridgev2.endpoint_url, ...)

It runs ``python -m eventlab.eventbridgev2`` with the same interpreter, writes its log and its
state (one SQLite file) to ``state_dir`` (by default ``build/eventbridgev2``), waits until
``GET /_eventlab/health`` answers, and on ``stop()`` ends the process (SIGTERM, then SIGKILL).
Unless ``detach`` is set, the process also ends when the one that started it dies.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from eventlab.eventbridgev2.server import ServerError, require_loopback
from eventlab.locations import build_dir
from eventlab.runtime.companions import EVENTBRIDGEV2, health
from eventlab.runtime.ports import free_port, port_is_free
from eventlab.runtime.process import die_with_parent, tail

log = logging.getLogger(__name__)

LOG_NAME = "eventbridgev2.log"
DEFAULT_START_TIMEOUT = 30.0
STOP_GRACE = 10.0
_LIB_DIR = Path(__file__).resolve().parent.parent.parent


class EmbeddedEventBridgeV2:
    """eventlab's eventbridgev2 server as a child process; see the module docstring."""

    def __init__(
        self,
        *,
        backend_endpoint: str,
        port: int | None = None,
        state_dir: Path | None = None,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        start_timeout: float = DEFAULT_START_TIMEOUT,
        extra_args: Sequence[str] = (),
        detach: bool = False,
    ) -> None:
        require_loopback(host)
        self.backend_endpoint = backend_endpoint
        self.requested_port = port
        self.state_dir = Path(state_dir or build_dir() / "eventbridgev2").resolve()
        self.region = region
        self.host = host
        self.start_timeout = start_timeout
        self.extra_args = list(extra_args)
        self.detach = detach
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / LOG_NAME

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise ServerError("the eventbridgev2 server is not started: call start() or use `with`")
        return f"http://{self.host}:{self.port}"

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self, port: int) -> list[str]:
        return [*EVENTBRIDGEV2.command(port=port, state_dir=self.state_dir, backend_endpoint=self.backend_endpoint,
                                       region=self.region, host=self.host), *self.extra_args]

    def start(self) -> Self:
        """Launch the server and return once it answers healthy."""
        if self.running():
            return self
        port = self.requested_port if self.requested_port is not None else free_port(self.host)
        if not port_is_free(port, self.host):
            raise ServerError(
                f"port {port} on {self.host} is in use, so the eventbridgev2 server cannot listen "
                "there. Choose another port, or leave it unset to take a free one."
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_LIB_DIR), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        started = time.monotonic()
        with self.log_path.open("wb") as logfile:
            self._process = subprocess.Popen(
                self.command(port), stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                env=env, cwd=self.state_dir, start_new_session=True,
                # Unless detached, the server ends with the process that started it, as LocalStack does.
                preexec_fn=None if self.detach else die_with_parent,
            )
        self.port = port
        try:
            self._wait_healthy(started)
        except BaseException:
            self.stop()
            raise
        log.info("eventbridgev2 ready at %s in %.1f s (log: %s)", self.endpoint_url,
                 time.monotonic() - started, self.log_path)
        return self

    def _wait_healthy(self, started: float) -> None:
        assert self._process is not None
        while True:
            code = self._process.poll()
            if code is not None:
                raise ServerError(
                    f"the eventbridgev2 server exited with code {code} before it answered. See "
                    f"{self.log_path}; its last lines:\n{tail(self.log_path)}"
                )
            if health(self.endpoint_url, timeout=1.0) is not None:
                return
            if time.monotonic() - started > self.start_timeout:
                raise ServerError(
                    f"the eventbridgev2 server did not answer within {self.start_timeout:.0f} s at "
                    f"{self.endpoint_url}; raise start_timeout if the machine is busy. Last lines of "
                    f"{self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.1)

    def stop(self) -> bool:
        """End the process (its in-flight deliveries finish first); True if one was running."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return False
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.info("eventbridgev2 stopped")
        return True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.endpoint_url if self.port and self.running() else "not started"
        return f"EmbeddedEventBridgeV2({where}, backend={self.backend_endpoint})"
