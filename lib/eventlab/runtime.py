"""The embedded LocalStack: LocalStack run as a host process on 127.0.0.1, no Docker, no account.

One instance serves a whole session (the CLI, a test session, the notebooks' kernels). Its
state, its logs and the tools it installs on first use (kinesis-mock) live in the project's
build folder; a record file there lets every later process find and reuse it.

What keeps it safe to run on a shared machine:

- every socket of its process tree listens on 127.0.0.1 only (eventlab's LocalStack plugin,
  ``eventlab_localstack.loopback``, makes it so; :meth:`EmbeddedLocalStack.check_listeners` checks it after every start and attach and
  refuses to go on otherwise), because its Lambda executor runs code as the user;
- the record names the process by pid, start time and command line, written under a lock
  right after the spawn (state ``starting``), so a stale pid is never signalled, and a start
  that is interrupted leaves a process that ``down`` finds and a second ``up`` waits for;
- each of its processes carries the state folder in its environment
  (:data:`eventlab.processes.MARKER_ENV`), so orphans of a crashed instance are found too.

Used three ways::

    with EmbeddedLocalStack() as localstack:      # starts, or reuses one already running
        target = Target.localstack(localstack.endpoint_url)

    eventlab up / eventlab status / eventlab down  # the CLI, see eventlab.cli

    def test_x(localstack): ...                    # the pytest fixture, see eventlab.testing
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import importlib.metadata
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import psutil
import requests

from eventlab import processes
from eventlab.locations import build_dir
from eventlab.processes import MARKER_ENV, Listener, ProcessIdentity

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LOCALSTACK_DISTRIBUTION = "localstack-core"
RECORD_NAME = "instance.json"
LAST_PORT_NAME = "last-port"
LOG_NAME = "localstack.log"
DEFAULT_START_TIMEOUT = 60.0
STOP_GRACE = 15.0
LOG_TAIL_LINES = 40
# kinesis-local (kinesis-mock on Node) is tested by eventlab on Node 20.
NODE_MIN_MAJOR = 20
STARTING, RUNNING = "starting", "running"
# eventlab's plugin for LocalStack (emulators/localstack/eventlab_localstack) is loaded by entry
# point inside LocalStack's process and imports nothing of eventlab, nor eventlab of it: the
# names both sides use are written on each side, and a unit test keeps the two equal.
LAMBDA_EXECUTOR_NAME = "eventlab"  # LAMBDA_RUNTIME_EXECUTOR: the host-process Lambda executor
LAMBDA_EXECUTOR_GROUP = "localstack.lambda.runtime_executor"
GATEWAY_SERVER_NAME = "eventlab-loopback"  # GATEWAY_SERVER: the gateway that honours the host
GATEWAY_SERVER_GROUP = "localstack.runtime.server"
KINESIS_HOOK_NAME = "eventlab_kinesis_mock_on_loopback"  # keeps kinesis-mock on 127.0.0.1
KINESIS_HOOK_GROUP = "localstack.hooks.on_infra_start"


class LocalStackError(RuntimeError):
    """A problem with the embedded LocalStack; the message names the problem and the fix."""


class PortInUseError(LocalStackError):
    """The requested port is taken by a process that is not this project's LocalStack."""


class PortNotPermittedError(LocalStackError):
    """This user may not listen on the requested port (a privileged port, EACCES)."""


class ExposedEmulatorError(LocalStackError):
    """A process of the emulator listens on an address other machines can reach."""

    def __init__(self, message: str, listeners: list[Listener]) -> None:
        super().__init__(message)
        self.listeners = listeners


class EmulatorStoppedError(LocalStackError):
    """The emulator a target points at stopped (or stopped answering) while it was in use."""


class KinesisBackendError(LocalStackError):
    """LocalStack could not start kinesis-mock, the program behind its Kinesis API."""


class LocalStackStartError(LocalStackError):
    """LocalStack exited before it became healthy."""


class LocalStackTimeoutError(LocalStackError):
    """LocalStack did not become healthy in time."""


class InterpreterError(LocalStackError):
    """The running Python cannot run LocalStack 2026.3.0."""


@dataclass(frozen=True)
class InstanceRecord:
    """What a started LocalStack leaves in its state folder so that other processes can find it.

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
    # The Node.js and npm LocalStack found on its PATH (None: missing), for Kinesis errors.
    node: str | None = None
    npm: str | None = None

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.create_time, tuple(self.cmdline))

    @classmethod
    def load(cls, path: Path) -> InstanceRecord | None:
        """The record in ``path``; None when there is none or it is unreadable or of an older
        format (one without the process's start time cannot be checked, so it is not trusted)."""
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)


def _registered(group: str, name: str) -> bool:
    return any(ep.name == name for ep in importlib.metadata.entry_points(group=group))


def missing_plugins() -> list[str]:
    """The loopback plugins this environment's metadata lacks (empty when both are registered)."""
    wanted = ((GATEWAY_SERVER_GROUP, GATEWAY_SERVER_NAME), (KINESIS_HOOK_GROUP, KINESIS_HOOK_NAME))
    return sorted(f"{group}:{name}" for group, name in wanted if not _registered(group, name))


def executor_registered() -> bool:
    """True when this environment's metadata has the Lambda executor's entry point. Without it,
    LocalStack silently falls back to its Docker executor and every Lambda invoke fails."""
    return _registered(LAMBDA_EXECUTOR_GROUP, LAMBDA_EXECUTOR_NAME)


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
    return _bind_error(host, port) is None


def free_port(host: str = HOST) -> int:
    """A port the kernel says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bind_error(host: str, port: int) -> int | None:
    """The errno a listener on host:port would get now (None: it would succeed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            return error.errno or errno.EADDRINUSE
    return None


def _listening_on(port: int) -> list[tuple[str, str]] | None:
    """(address, who) of every TCP listener on ``port``, on any address; None when the OS does
    not let this user list sockets (macOS without root)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    found = []
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        who = "a process this user cannot see"
        if conn.pid:
            with contextlib.suppress(psutil.Error):
                who = processes.describe(psutil.Process(conn.pid))
        found.append((conn.laddr.ip, who))
    return found


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def unprivileged_port_start() -> int:
    """The lowest port a user without privileges may listen on (Linux: a sysctl; else 1024)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


_PORT_FIX = (
    "Choose another with `--port N` or EVENTLAB_PORT=N, or leave the port unset to take a free one"
)


def check_port(port: int, host: str = HOST) -> None:
    """Raise, naming what is really wrong, unless LocalStack can listen on host:port now.

    A port another program listens on at any address counts as taken, not only on ``host``:
    on the LAN address or 0.0.0.0 it would look free on 127.0.0.1 and then collide (or, worse,
    share a port number with a stranger). A privileged port this user may not bind is said to
    be that (EACCES), not "in use".
    """
    holders = _listening_on(port)
    if holders:
        where = "; ".join(f"{_host_port(address, port)} by {who}" for address, who in holders)
        raise PortInUseError(
            f"port {port} is in use: {where}, so LocalStack cannot have it on {host}. "
            f"{_PORT_FIX}, or stop that process."
        )
    # Without a socket list (macOS), a bind on the wildcard finds holders of any IPv4 address.
    for address in (host,) if holders is not None else (host, "0.0.0.0"):
        error = _bind_error(address, port)
        if error is None:
            continue
        if error == errno.EACCES:
            start = unprivileged_port_start()
            user = _user_name()
            raise PortNotPermittedError(
                f"port {port} is a privileged port (below {start}) and {user} lacks the "
                "privilege to listen on it: the system refused with EACCES (permission denied); "
                f"the port is not in use. {_PORT_FIX}; ports from {start} up need no privilege."
            )
        if error == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {address} is in use by a process this user cannot see, so "
                f"LocalStack cannot have it on {host}. {_PORT_FIX}."
            )
        if error == errno.EADDRNOTAVAIL and address == host:
            raise LocalStackError(
                f"{host} is not an address of this machine (EADDRNOTAVAIL): the loopback "
                "interface is down or missing. Bring it up (`ip link set lo up`)."
            )
        raise LocalStackError(f"cannot listen on {_host_port(address, port)}: {os.strerror(error)}")


def _user_name() -> str:
    uid = os.geteuid()
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _who_listens(port: int) -> str:
    """A short description of the process listening on a port, when the OS lets us see it."""
    holders = _listening_on(port) or []
    return holders[0][1] if holders else "another process"


def node_tools(path: str | None = None) -> tuple[str | None, str | None]:
    """Where ``node`` and ``npm`` are on ``path`` (default: this process's PATH)."""
    return shutil.which("node", path=path), shutil.which("npm", path=path)


def _node_major(node: str) -> int | None:
    try:
        reply = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.", reply.stdout.strip())
    return int(match.group(1)) if match else None


NODE_FIX = (
    f"Install Node.js {NODE_MIN_MAJOR} or newer with npm (your package manager, nodejs.org, or "
    "`conda env create -f environment.yml`), then restart the emulator: `eventlab down && eventlab up`"
)


def node_problem(path: str | None = None) -> str | None:
    """Why Kinesis will not work with the Node.js on ``path``, or None when it should."""
    node, npm = node_tools(path)
    problem = _missing_node_tools(node, npm)
    if problem is not None or node is None:
        return problem
    major = _node_major(node)
    if major is not None and major < NODE_MIN_MAJOR:
        return f"Node.js {major} at {node} is older than {NODE_MIN_MAJOR}; Kinesis may not work. {NODE_FIX}."
    return None


def _missing_node_tools(node: str | None, npm: str | None) -> str | None:
    missing = [name for name, found in (("Node.js (node)", node), ("npm", npm)) if not found]
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} not found on PATH, so Kinesis will not work: LocalStack "
        "runs kinesis-mock (the npm package kinesis-local) on Node.js and installs it with "
        f"npm when the first stream is created. {NODE_FIX}."
    )


KINESIS_INSTALL_FAILED = re.compile(r"Installation of kinesis-local\b.*\bfailed")


def explain_kinesis_failure(message: str, endpoint_url: str | None = None) -> str | None:
    """The cause and the fix when a Kinesis call failed because LocalStack could not install
    kinesis-mock; None for any other error."""
    if not KINESIS_INSTALL_FAILED.search(message):
        return None
    instance = find_instance(endpoint_url) if endpoint_url else None
    record = instance.record if instance is not None else None
    if record is not None and (record.node is None or record.npm is None):
        missing = " and ".join(n for n, f in (("Node.js (node)", record.node), ("npm", record.npm)) if not f)
        why = f"{missing} {'was' if ' and ' not in missing else 'were'} not on the PATH LocalStack was started with"
    elif record is not None:
        why = "npm could not install it: is the npm registry reachable? (needed once; it is then kept in the state folder)"
    else:
        why = "Node.js or npm is missing where LocalStack runs, or the npm registry was unreachable"
    log_hint = f" See {record.log_path}." if record is not None else ""
    return (
        "Kinesis is unavailable: LocalStack could not install kinesis-mock (the npm package "
        f"kinesis-local), which it runs on Node.js for every Kinesis call. {why}. {NODE_FIX}."
        f"{log_hint} (LocalStack said: {message})"
    )


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


# State folders of the instances this process started or attached to, so that an error on an
# endpoint can be traced back to its instance (log, record, last port).
_known_state_dirs: dict[Path, None] = {}


def find_instance(endpoint_url: str) -> EmbeddedLocalStack | None:
    """The eventlab-run LocalStack behind ``endpoint_url`` (running or stopped), if any: one this
    process knows of, or the project's default one. Its ``record`` is set when one is on disk."""
    wanted = endpoint_url.rstrip("/")
    parts = urlsplit(wanted)
    candidates = [*_known_state_dirs, (build_dir() / "localstack").resolve()]
    for state_dir in dict.fromkeys(candidates):
        record = InstanceRecord.load(state_dir / RECORD_NAME)
        mine = record is not None and record.endpoint_url.rstrip("/") == wanted
        if not mine and record is None and parts.hostname in (HOST, "localhost"):
            mine = _read_last_port(state_dir) == parts.port
        if mine:
            try:
                instance = EmbeddedLocalStack(state_dir=state_dir)
            except (ValueError, LocalStackError):
                return None
            instance.record = record
            return instance
    return None


def _read_last_port(state_dir: Path) -> int | None:
    try:
        return int((state_dir / LAST_PORT_NAME).read_text().strip())
    except (OSError, ValueError):
        return None


def explain_unreachable(endpoint_url: str) -> str:
    """What to tell a user whose call could not reach the emulator at ``endpoint_url``."""
    instance = find_instance(endpoint_url)
    if instance is None:
        return (
            f"nothing answers at {endpoint_url}: the emulator there stopped, or was never "
            "started. Start the embedded LocalStack with `eventlab up` (and point "
            "EVENTLAB_ENDPOINT_URL at the endpoint it prints), or start yours again."
        )
    record = instance.record
    alive = record is not None and record.identity.alive()
    log_path = Path(record.log_path) if record is not None else instance.log_path
    port = urlsplit(endpoint_url).port
    if alive:
        assert record is not None
        what = (
            f"the embedded LocalStack at {endpoint_url} (pid {record.pid}) runs but does not "
            "answer: it is overloaded or hung. Wait and retry, or restart it with "
            "`eventlab down && eventlab up`"
        )
    else:
        what = (
            f"the embedded LocalStack at {endpoint_url} has stopped, and everything in it is gone. "
            f"Restart it with `eventlab up`: it comes back on port {port} if that port is free, "
            f"so EVENTLAB_ENDPOINT_URL={endpoint_url} stays valid. Then run this again"
        )
    return f"{what}. Last lines of {log_path}:\n{tail(log_path, 20)}"


class EmbeddedLocalStack:
    """LocalStack as a child process on 127.0.0.1, with its state in the build folder.

    ``start()`` reuses a healthy instance recorded in the state folder (or waits for one that
    another process is starting), else launches one on ``port`` (else on the port of the last
    start if it is free, else on a free port) and waits until it is ready. ``stop()`` ends it and
    every process it started (kinesis-mock, Lambda handlers), but only if this object started
    it, unless ``force``.
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
        # Problems found at start that do not stop it (no Node.js: no Kinesis), for the CLI.
        self.warnings: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths -----------------------------------------------------------------------------
    @property
    def record_path(self) -> Path:
        return self.state_dir / RECORD_NAME

    @property
    def log_path(self) -> Path:
        return self.state_dir / LOG_NAME

    @property
    def last_port_path(self) -> Path:
        """The port of the last successful start: a restart takes it again when it is free."""
        return self.state_dir / LAST_PORT_NAME

    @property
    def filesystem_root(self) -> Path:
        """LocalStack's FILESYSTEM_ROOT: its var/lib (kinesis-mock's install), tmp and cache."""
        return self.state_dir / "fs"

    @property
    def marker(self) -> str:
        """The value of :data:`MARKER_ENV` in the environment of every process of this instance."""
        return str(self.state_dir)

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
    def recorded(self) -> InstanceRecord | None:
        """The record, if the process it names is still that process (starting or running)."""
        record = InstanceRecord.load(self.record_path)
        if record is None or not record.identity.alive():
            return None
        return record

    def running(self) -> InstanceRecord | None:
        """The recorded instance if its process is alive and it answers healthy, else None."""
        record = self.recorded()
        if record is None or _health(record.endpoint_url) is None:
            return None
        return record

    def health(self) -> dict[str, Any] | None:
        """The health document of this instance, or None when it does not answer."""
        record = self.record or self.recorded()
        return _health(record.endpoint_url) if record else None

    def processes(self) -> list[psutil.Process]:
        """Every process of this instance: the recorded one, its descendants, and any process
        marked with this state folder (kinesis-mock, Lambda handlers, orphans of a crash)."""
        record = self.recorded()
        root = record.identity.process() if record is not None else None
        return processes.family(root, processes.marked(self.marker))

    def listeners(self) -> list[Listener]:
        """Every listening socket of this instance's processes."""
        return processes.listeners(self.processes())

    def check_listeners(self) -> list[Listener]:
        """The listening sockets, after checking that each is on loopback; raises
        :class:`ExposedEmulatorError`, naming the process and the socket, when one is not."""
        found = self.listeners()
        bad = processes.exposed(found)
        if bad:
            raise ExposedEmulatorError(
                "the embedded LocalStack listens where other machines can reach it: "
                f"{'; '.join(str(item) for item in bad)}. Its Lambda executor runs code as "
                f"{_user_name()}, so eventlab refuses to go on. eventlab keeps every socket on "
                f"{HOST} (GATEWAY_SERVER={GATEWAY_SERVER_NAME}, and a Node preload for "
                "kinesis-mock): check that nothing in the environment overrides GATEWAY_LISTEN "
                "or GATEWAY_SERVER, reinstall with `make setup`, and stop this instance with "
                "`eventlab down`.",
                bad,
            )
        return found

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Reuse the running instance or launch a new one, and return when it is healthy and
        every socket it listens on is on loopback."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.start_timeout
        while True:
            with self._lock():
                record = self._current_locked()
                if record is None:
                    self._spawn_locked()
                    break
                if not self.reuse:
                    raise LocalStackError(
                        f"this project's LocalStack already runs in {self.state_dir} (pid "
                        f"{record.pid}); stop it first with `eventlab down`."
                    )
                if record.state == RUNNING and _health(record.endpoint_url) is not None:
                    self._attach(record)
                    return self
            self._wait_for_other(record, deadline)
        self._finish_start()
        return self

    def _current_locked(self) -> InstanceRecord | None:
        """The live record (under the lock); a stale one is removed."""
        record = self.recorded()
        if record is None and self.record_path.exists():
            stale = InstanceRecord.load(self.record_path)
            log.info(
                "ignoring a stale LocalStack record (%s)",
                f"pid {stale.pid} is gone or is another process now" if stale else "unreadable or of an older format",
            )
            self.record_path.unlink(missing_ok=True)
        return record

    def _attach(self, record: InstanceRecord) -> None:
        if self.requested_port not in (None, record.port):
            raise LocalStackError(
                f"this project's LocalStack already runs on port {record.port}, not on "
                f"the requested port {self.requested_port}. Use it, or stop it first with "
                "`eventlab down`."
            )
        self.record, self.owned = record, False
        self.check_listeners()
        _known_state_dirs[self.state_dir] = None
        problem = _missing_node_tools(record.node, record.npm)
        if problem is not None:
            self.warnings.append(problem)
        log.info("reusing LocalStack %s at %s", record.version, record.endpoint_url)

    def _wait_for_other(self, seen: InstanceRecord, deadline: float) -> None:
        """Wait, without the lock, for an instance another process started (or one that does not
        answer) until it is healthy or gone; a healthy one still marked starting is promoted."""
        log.info("waiting for LocalStack pid %d (%s) at %s", seen.pid, seen.state, seen.endpoint_url)
        while time.monotonic() < deadline:
            record = self.recorded()
            if record is None or record.pid != seen.pid:
                return
            if _health(record.endpoint_url, timeout=1.0) is not None:
                if record.state == STARTING:
                    with self._lock():
                        current = self.recorded()
                        if current is not None and current.pid == record.pid and current.state == STARTING:
                            self._promote_locked(current)
                return
            time.sleep(0.2)
        raise LocalStackTimeoutError(
            f"this project's LocalStack (pid {seen.pid}, {seen.state}) did not answer at "
            f"{seen.endpoint_url} within {self.start_timeout:.0f} s. Wait and retry, raise the "
            f"limit with --timeout, or stop it with `eventlab down`. Last lines of "
            f"{seen.log_path}:\n{tail(Path(seen.log_path))}"
        )

    def _promote_locked(self, record: InstanceRecord) -> InstanceRecord:
        """Mark a healthy instance running, once its sockets are checked; remember its port."""
        self.record = record
        self.check_listeners()
        seconds = record.startup_seconds
        if seconds is None:
            seconds = round(time.time() - record.started_at, 3)
        promoted = replace(record, state=RUNNING, startup_seconds=seconds)
        promoted.save(self.record_path)
        self.last_port_path.write_text(f"{promoted.port}\n")
        self.record = promoted
        return promoted

    def _spawn_locked(self) -> None:
        """Launch LocalStack and record it as starting, all under the lock."""
        check_interpreter()
        missing = missing_plugins()
        if missing:
            raise LocalStackError(
                "eventlab's loopback plugins are not registered in this environment "
                f"({', '.join(missing)}), and without them LocalStack listens on every "
                "interface. Reinstall the project (`make setup`, or `pip install --no-deps -e .`)."
            )
        strays = processes.marked(self.marker)
        if strays:
            log.info("stopping %d stray process(es) of an earlier LocalStack", len(strays))
            processes.terminate(strays, grace=3.0)
        port = self._choose_port()
        if not executor_registered():
            log.warning(
                "eventlab's Lambda executor is not registered in this environment (entry point "
                "%r missing): Lambda functions will not run. Reinstall the project (`make setup`, "
                "or `pip install --no-deps -e .`).",
                LAMBDA_EXECUTOR_NAME,
            )

        self.filesystem_root.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        endpoint = f"http://{HOST}:{port}"
        env = {**os.environ, **self._settings(port), **self.extra_env}
        problem = node_problem(env.get("PATH", ""))
        if problem:
            self.warnings.append(problem)
            log.warning("%s", problem)
        node, npm = node_tools(env.get("PATH", ""))
        self._started = time.monotonic()
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
        try:
            self.owned = True
            identity = ProcessIdentity.of(self._process.pid) or ProcessIdentity(
                self._process.pid, time.time(), tuple(self._process.args)  # type: ignore[arg-type]
            )
            self.record = InstanceRecord(
                pid=identity.pid,
                create_time=identity.create_time,
                cmdline=list(identity.cmdline),
                port=port,
                endpoint_url=endpoint,
                log_path=str(self.log_path),
                started_at=time.time(),
                version=localstack_version(),
                state=STARTING,
                node=node,
                npm=npm,
            )
            self.record.save(self.record_path)
            _known_state_dirs[self.state_dir] = None
        except BaseException:
            processes.terminate_tree(psutil.Process(self._process.pid), grace=STOP_GRACE)
            self._process.wait(timeout=5)
            self.record, self.owned = None, False
            raise
        log.info("starting LocalStack on %s (log: %s)", endpoint, self.log_path)

    def _choose_port(self) -> int:
        """The requested port (checked), else the last start's port when usable, else a free one."""
        if self.requested_port is not None:
            check_port(self.requested_port)
            return self.requested_port
        last = _read_last_port(self.state_dir)
        if last is not None:
            try:
                check_port(last)
                return last
            except LocalStackError as why:
                log.info("not reusing port %d of the last start: %s", last, why)
        for _ in range(20):
            port = free_port()
            with contextlib.suppress(PortInUseError):
                check_port(port)
                return port
        return free_port()

    def _finish_start(self) -> None:
        """Wait for the instance this object spawned; on any failure (or an interrupt) stop it."""
        assert self._process is not None and self.record is not None
        try:
            self._wait_healthy(self.record.endpoint_url, self._started)
            with self._lock():
                current = InstanceRecord.load(self.record_path)
                if current is None or current.pid != self.record.pid:
                    raise LocalStackStartError(
                        "LocalStack was stopped while it was starting (`eventlab down`?)."
                    )
                seconds = round(time.monotonic() - self._started, 3)
                self._promote_locked(replace(current, startup_seconds=seconds))
        except BaseException:
            self._abort_start()
            raise
        assert self.record is not None
        log.info("LocalStack ready at %s in %.1f s", self.record.endpoint_url, self.record.startup_seconds or 0)

    def _abort_start(self) -> None:
        """Stop the half-started instance and its children, and drop its record."""
        assert self._process is not None
        pid = self._process.pid
        root = None
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
        processes.terminate_tree(root, processes.marked(self.marker), grace=STOP_GRACE)
        with contextlib.suppress(Exception):
            self._process.wait(timeout=1)
        with self._lock():
            current = InstanceRecord.load(self.record_path)
            if current is not None and current.pid == pid:
                self.record_path.unlink(missing_ok=True)
        self.record, self.owned = None, False

    def _settings(self, port: int) -> dict[str, str]:
        """The LocalStack settings that make it a quiet, offline, self-contained host process."""
        return {
            "GATEWAY_LISTEN": f"{HOST}:{port}",
            # LocalStack's own gateway server binds 0.0.0.0 whatever GATEWAY_LISTEN says; this
            # one (eventlab_localstack.loopback) is the same server on the given host.
            "GATEWAY_SERVER": GATEWAY_SERVER_NAME,
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
            # Lambda handlers run as host processes (eventlab_localstack.lambda_executor), not in Docker.
            "LAMBDA_RUNTIME_EXECUTOR": LAMBDA_EXECUTOR_NAME,
            # Every process of this instance (and whatever it starts) carries its state folder.
            MARKER_ENV: self.marker,
            # Idle must mean idle, and memory must stay flat across runs. By default SQS sends
            # CloudWatch metrics for every message (kept forever: about 4 KB a message, and
            # a backlog that kept LocalStack at half a core long after a 20,000-message run)
            # and publishes queue gauges every minute; no notebook reads them.
            "SQS_DISABLE_CLOUDWATCH_METRICS": "1",
            # kinesis-mock would dump its whole state (every record) to disk every 5 s and load
            # it again at the next start; the emulator's state is meant to live in memory only.
            "KINESIS_PERSISTENCE": "0",
        }

    def _wait_healthy(self, endpoint: str, started: float) -> None:
        assert self._process is not None
        deadline = started + self.start_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                if not self.record_path.exists():
                    raise LocalStackStartError(
                        "LocalStack was stopped while it was starting (`eventlab down`?)."
                    )
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
        """Stop the instance and all its processes if this object owns it (or ``force``).

        Only processes that are provably this instance's are signalled: the recorded one when
        its start time and command line still match, and those marked with this state folder.
        Returns True when a process was stopped.
        """
        if not (self.owned or force):
            return False
        with self._lock():
            record = self.recorded()
            root = record.identity.process() if record is not None else None
            members = processes.family(root, processes.marked(self.marker))
            if members:
                processes.terminate_tree(root, members, grace=STOP_GRACE)
            self.record_path.unlink(missing_ok=True)
            self.record, self.owned = None, False
        if self._process is not None:
            with contextlib.suppress(Exception):
                self._process.wait(timeout=1)
        if members:
            log.info("LocalStack stopped")
        return bool(members)

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
