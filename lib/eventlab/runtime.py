"""The embedded LocalStack: LocalStack run as a host process on 127.0.0.1, no Docker, no account.

One instance serves a whole session (the CLI, a test session, the notebooks' kernels). Its
state, its logs and the tools it installs on first use (kinesis-mock) live in the project's
build folder; a record file there lets every later process find and reuse it.

Used three ways::

    with EmbeddedLocalStack() as localstack:      # starts, or reuses one already running
        target = Target.localstack(localstack.endpoint_url)

    eventlab up / eventlab status / eventlab down  # the CLI, see eventlab.cli

    def test_x(localstack): ...                    # the pytest fixture, see eventlab.testing
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.metadata
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil
import requests

from eventlab.lambda_ import EXECUTOR_NAME as LAMBDA_EXECUTOR_NAME
from eventlab.lambda_ import executor_registered
from eventlab.paths import build_dir

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LOCALSTACK_DISTRIBUTION = "localstack-core"
RECORD_NAME = "instance.json"
LOG_NAME = "localstack.log"
DEFAULT_START_TIMEOUT = 60.0
STOP_GRACE = 15.0
LOG_TAIL_LINES = 40


class LocalStackError(RuntimeError):
    """A problem with the embedded LocalStack; the message names the problem and the fix."""


class PortInUseError(LocalStackError):
    """The requested port is taken by a process that is not this project's LocalStack."""


class LocalStackStartError(LocalStackError):
    """LocalStack exited before it became healthy."""


class LocalStackTimeoutError(LocalStackError):
    """LocalStack did not become healthy in time."""


class InterpreterError(LocalStackError):
    """The running Python cannot run LocalStack 2026.3.0."""


@dataclass(frozen=True)
class InstanceRecord:
    """What a started LocalStack leaves in its state folder so that other processes can find it."""

    pid: int
    port: int
    endpoint_url: str
    log_path: str
    started_at: float
    startup_seconds: float
    version: str

    @classmethod
    def load(cls, path: Path) -> InstanceRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)


def localstack_version() -> str:
    """The installed LocalStack release, as recorded with every result."""
    try:
        return importlib.metadata.version(LOCALSTACK_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def check_interpreter(version_info: tuple[int, ...] = tuple(sys.version_info)) -> None:
    """Fail early, with the fix, when this Python cannot import LocalStack 2026.3.0."""
    import warnings

    if tuple(version_info[:2]) < (3, 13) or not hasattr(warnings, "deprecated"):
        version = ".".join(str(part) for part in version_info[:3])
        raise InterpreterError(
            f"LocalStack 2026.3.0 needs Python 3.13 (it imports warnings.deprecated); this is "
            f"{version} at {sys.executable}. Run `make test` or `make run`, which "
            "build .venv with a Python 3.13 found on this machine, or install one "
            "(`pyenv install 3.13`, or `conda env create -f environment.yml`)."
        )
    if localstack_version() == "not installed":
        raise InterpreterError(
            f"localstack-core is not installed for {sys.executable}. Run `make setup` to install "
            "the locked environment into .venv and use .venv/bin/python."
        )


def parse_port(value: str | int, source: str = "port") -> int:
    """A TCP port for LocalStack, from ``--port``, EVENTLAB_PORT or code (``source`` names which).

    Only 1..65535 is a port; 0 ("any port") cannot be recorded for other processes to find, so
    it is refused with the way to get a free port: leave the setting unset."""
    unset = f"leave {source} unset to take a free port"
    try:
        port = int(str(value).strip())
    except ValueError:
        raise LocalStackError(f"{source}={value!r} is not a port number: give one from 1 to 65535, or {unset}") from None
    if port == 0:
        raise LocalStackError(f"{source}=0 names no port: {unset}, or give one from 1 to 65535")
    if not 1 <= port <= 65535:
        raise LocalStackError(f"{source}={port} is not a port: ports go from 1 to 65535 (or {unset})")
    return port


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on host:port (a bind succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port the kernel says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _who_listens(port: int) -> str:
    """A short description of the process listening on a port, when the OS lets us see it."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    proc = psutil.Process(conn.pid)
                    return f"pid {conn.pid} ({' '.join(proc.cmdline())[:120]})"
    return "another process"


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _die_with_parent() -> None:
    """Ask Linux to stop LocalStack when the process that owns it dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _health(endpoint_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """LocalStack's health document once it has finished starting, else None."""
    try:
        init = requests.get(f"{endpoint_url}/_localstack/init", timeout=timeout)
        if init.status_code != 200 or not init.json().get("completed", {}).get("READY"):
            return None
        health = requests.get(f"{endpoint_url}/_localstack/health", timeout=timeout)
        if health.status_code != 200:
            return None
        document: dict[str, Any] = health.json()
        return document
    except (requests.RequestException, ValueError):
        return None


class EmbeddedLocalStack:
    """LocalStack as a child process on 127.0.0.1, with its state in the build folder.

    ``start()`` reuses a healthy instance recorded in the state folder, else launches one on
    ``port`` (or a free port) and waits until it is ready. ``stop()`` ends it and every process
    it started (kinesis-mock included), but only if this object started it, unless ``force``.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        state_dir: Path | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        extra_env: Mapping[str, str] | None = None,
        reuse: bool = True,
        detach: bool = False,
    ) -> None:
        env_port = os.environ.get("EVENTLAB_PORT")
        if port is not None:
            self.requested_port: int | None = parse_port(port)
        else:
            self.requested_port = parse_port(env_port, "EVENTLAB_PORT") if env_port else None
        self.state_dir = (state_dir or build_dir() / "localstack").resolve()
        self.start_timeout = start_timeout
        self.extra_env = dict(extra_env or {})
        self.reuse = reuse
        self.detach = detach
        self.record: InstanceRecord | None = None
        self.owned = False
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths -----------------------------------------------------------------------------
    @property
    def record_path(self) -> Path:
        return self.state_dir / RECORD_NAME

    @property
    def log_path(self) -> Path:
        return self.state_dir / LOG_NAME

    @property
    def filesystem_root(self) -> Path:
        """LocalStack's FILESYSTEM_ROOT: its var/lib (kinesis-mock's install), tmp and cache."""
        return self.state_dir / "fs"

    @property
    def endpoint_url(self) -> str:
        if self.record is None:
            raise LocalStackError("LocalStack is not started: call start() or use `with`.")
        return self.record.endpoint_url

    @property
    def port(self) -> int:
        if self.record is None:
            raise LocalStackError("LocalStack is not started: call start() or use `with`.")
        return self.record.port

    # -- discovery -------------------------------------------------------------------------
    def running(self) -> InstanceRecord | None:
        """The recorded instance if its process is alive and it answers healthy, else None."""
        record = InstanceRecord.load(self.record_path)
        if record is None or not psutil.pid_exists(record.pid):
            return None
        if _health(record.endpoint_url) is None:
            return None
        return record

    def health(self) -> dict[str, Any] | None:
        """The health document of this instance, or None when it does not answer."""
        record = self.record or InstanceRecord.load(self.record_path)
        return _health(record.endpoint_url) if record else None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Reuse the running instance or launch a new one, and return when it is healthy."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            existing = self.running() if self.reuse else None
            if existing is not None and self.requested_port in (None, existing.port):
                log.info("reusing LocalStack %s at %s", existing.version, existing.endpoint_url)
                self.record, self.owned = existing, False
                return self
            if existing is not None:
                raise LocalStackError(
                    f"this project's LocalStack already runs on port {existing.port}, not on "
                    f"the requested port {self.requested_port}. Use it, or stop it first with "
                    "`eventlab down`."
                )
            self._launch()
        return self

    def _launch(self) -> None:
        check_interpreter()
        self._kill_strays()
        port = self.requested_port if self.requested_port is not None else free_port()
        if not port_is_free(port):
            raise PortInUseError(
                f"port {port} on {HOST} is in use by {_who_listens(port)}, so LocalStack cannot "
                "listen there. Choose another with `--port N` or EVENTLAB_PORT=N, leave the port "
                "unset to take a free one, or stop that process."
            )
        if not executor_registered():
            log.warning(
                "eventlab's Lambda executor is not registered in this environment (entry point "
                "%r missing): Lambda functions will not run. Reinstall the project (`make setup`, "
                "or `pip install --no-deps -e .`).",
                LAMBDA_EXECUTOR_NAME,
            )
        if shutil.which("node") is None or shutil.which("npm") is None:
            log.warning("node/npm not on PATH: Kinesis (kinesis-mock) will not start without them")

        self.filesystem_root.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        endpoint = f"http://{HOST}:{port}"
        env = {**os.environ, **self._settings(port), **self.extra_env}
        started = time.monotonic()
        with self.log_path.open("wb") as logfile:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "localstack.runtime.main"],
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.state_dir,
                start_new_session=True,
                preexec_fn=None if self.detach else _die_with_parent,
            )
        log.info("starting LocalStack on %s (log: %s)", endpoint, self.log_path)
        self.owned = True
        try:
            self._wait_healthy(endpoint, started)
        except BaseException:
            self._terminate_tree(self._process.pid)
            raise
        self.record = InstanceRecord(
            pid=self._process.pid,
            port=port,
            endpoint_url=endpoint,
            log_path=str(self.log_path),
            started_at=time.time(),
            startup_seconds=round(time.monotonic() - started, 3),
            version=localstack_version(),
        )
        self.record.save(self.record_path)
        log.info("LocalStack ready at %s in %.1f s", endpoint, self.record.startup_seconds)

    def _settings(self, port: int) -> dict[str, str]:
        """The LocalStack settings that make it a quiet, offline, self-contained host process."""
        return {
            "GATEWAY_LISTEN": f"{HOST}:{port}",
            # URLs LocalStack hands out (queue URLs among them) must resolve offline.
            "LOCALSTACK_HOST": f"{HOST}:{port}",
            "SQS_ENDPOINT_STRATEGY": "path",
            "DNS_ADDRESS": "0",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            # This host has /.dockerenv; without these LocalStack writes under /var/lib/localstack.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.filesystem_root),
            # Lambda code is unzipped under the temp folder; keep it in the state folder too.
            "TMPDIR": str(self.filesystem_root / "tmp"),
            "PYTHONUNBUFFERED": "1",
            # Event source mappings poll SQS/Kinesis once a second and back off up to 10 s when
            # idle; AWS long-polls instead. Tighter settings keep the emulator's Lambda paths
            # from adding seconds of latency that AWS would not.
            "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "0.5",
            "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": "2",
            # Lambda handlers run as host processes (eventlab.lambda_.executor), not in Docker.
            "LAMBDA_RUNTIME_EXECUTOR": LAMBDA_EXECUTOR_NAME,
        }

    def _wait_healthy(self, endpoint: str, started: float) -> None:
        assert self._process is not None
        deadline = started + self.start_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise LocalStackStartError(
                    f"LocalStack exited with code {code} before it became healthy. See "
                    f"{self.log_path}; its last lines:\n{tail(self.log_path)}"
                )
            if _health(endpoint, timeout=1.0) is not None:
                return
            if time.monotonic() > deadline:
                raise LocalStackTimeoutError(
                    f"LocalStack did not become healthy within {self.start_timeout:.0f} s at "
                    f"{endpoint}. The machine may be overloaded: raise the limit with "
                    f"--timeout (EmbeddedLocalStack(start_timeout=...)). Last lines of "
                    f"{self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.2)

    def stop(self, *, force: bool = False) -> bool:
        """Stop the instance and all its children if this object owns it (or ``force``).

        Returns True when a process was stopped.
        """
        if not (self.owned or force):
            return False
        with self._lock():
            record = self.record or InstanceRecord.load(self.record_path)
            stopped = False
            if record is not None and psutil.pid_exists(record.pid):
                self._terminate_tree(record.pid)
                stopped = True
            stopped = self._kill_strays() or stopped
            self.record_path.unlink(missing_ok=True)
            self.record, self.owned = None, False
        if stopped:
            log.info("LocalStack stopped")
        return stopped

    def _terminate_tree(self, pid: int) -> None:
        """SIGTERM LocalStack, give it time to shut its services down, then kill what is left."""
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            root.terminate()
        _, alive = psutil.wait_procs([root], timeout=STOP_GRACE)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        rest = [p for p in family[1:] if p.is_running()]
        for proc in rest:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(rest, timeout=3)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        if self._process is not None:
            with contextlib.suppress(Exception):
                self._process.wait(timeout=1)

    def _kill_strays(self) -> bool:
        """Kill processes left from an earlier instance of this state folder (e.g. kinesis-mock
        orphaned by a crash); they run from inside it, so their command line names it."""
        marker = str(self.filesystem_root)
        strays = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if proc.pid != os.getpid() and marker in " ".join(proc.info["cmdline"] or ()):
                    strays.append(proc)
        for proc in strays:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(strays, timeout=3)
        if strays:
            log.info("killed %d stray process(es) of an earlier LocalStack", len(strays))
        return bool(strays)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start and stop between processes that share this state folder."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.record.endpoint_url if self.record else "not started"
        return f"EmbeddedLocalStack({where}, owned={self.owned})"
