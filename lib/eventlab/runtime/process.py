"""The process manager: one emulator on 127.0.0.1 as a tree of host processes, found again by
every later process, stopped whole.

What keeps it safe to run on a shared machine, for every backend:

- every socket of its process tree listens on 127.0.0.1 only: :meth:`EmulatorProcess.check_listeners`
  checks it after every start and attach and refuses to go on otherwise;
- the record names the process by pid, start time and command line, written under a lock right
  after the spawn (state ``starting``), so a stale pid is never signalled, and a start that is
  interrupted leaves a process that ``down`` finds and a second ``up`` waits for;
- each of its processes carries the state folder in its environment
  (:data:`eventlab.processes.MARKER_ENV`), so orphans of a crashed instance are found too.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import psutil

from eventlab import processes
from eventlab.locations import build_dir
from eventlab.processes import MARKER_ENV, Listener, ProcessIdentity
from eventlab.runtime import companions, ports
from eventlab.runtime.backend import Backend
from eventlab.runtime.companions import Companion
from eventlab.runtime.errors import (
    EmulatorError,
    EmulatorStartError,
    EmulatorTimeoutError,
    ExposedEmulatorError,
)
from eventlab.runtime.record import (
    RECORD_NAME,
    RUNNING,
    STARTING,
    InstanceRecord,
    read_last_port,
    state_lock,
    write_last_port,
)
from eventlab.waiting import until

log = logging.getLogger(__name__)

HOST = ports.HOST
DEFAULT_START_TIMEOUT = 60.0
STOP_GRACE = 15.0
LOG_TAIL_LINES = 40
COMPANION_START_TIMEOUT = 30.0
# The folder that holds the eventlab package, for a companion run from a checkout.
_LIB_DIR = Path(__file__).resolve().parents[2]


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def die_with_parent() -> None:
    """Ask Linux to stop a child (an emulator, a companion server) when the process that owns it
    dies, even by SIGKILL; a ``preexec_fn`` for :class:`subprocess.Popen`."""
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


_die_with_parent = die_with_parent  # the name callers used before it was public


class EmulatorProcess:
    """One emulator (its :attr:`backend`) as a child process on 127.0.0.1, its state in the build folder.

    ``start()`` reuses a healthy instance recorded in the state folder (or waits for one that
    another process is starting), else launches one on ``port`` (else on the port of the last
    start if it is free, else on a free port) and waits until it is ready. ``stop()`` ends it and
    every process it started, but only if this object started it, unless ``force``.
    """

    backend: ClassVar[Backend]
    # Each backend's process class, by backend key: how a record found on disk is reopened.
    kinds: ClassVar[dict[str, type[EmulatorProcess]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "backend" in cls.__dict__:
            EmulatorProcess.kinds[cls.backend.key] = cls

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
            self.requested_port: int | None = ports.parse_port(port)
        else:
            self.requested_port = ports.parse_port(env_port, "EVENTLAB_PORT") if env_port else None
        self.state_dir = (state_dir or self.default_state_dir()).resolve()
        self.start_timeout = start_timeout
        self.extra_env = dict(extra_env or {})
        self.reuse = reuse
        self.detach = detach
        # The region it serves (companions.emulator_region): its companions', MiniStack's default.
        self.region = companions.emulator_region({**os.environ, **self.extra_env})
        self.record: InstanceRecord | None = None
        self.owned = False
        # Problems found at start that do not stop it (no Node.js: no Kinesis), for the CLI.
        self.warnings: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    @classmethod
    def default_state_dir(cls) -> Path:
        return build_dir() / cls.backend.key

    # -- paths -----------------------------------------------------------------------------
    @property
    def record_path(self) -> Path:
        return self.state_dir / RECORD_NAME

    @property
    def log_path(self) -> Path:
        return self.state_dir / self.backend.log_name

    @property
    def marker(self) -> str:
        """The value of :data:`MARKER_ENV` in the environment of every process of this instance."""
        return str(self.state_dir)

    @property
    def endpoint_url(self) -> str:
        return self._started_record().endpoint_url

    @property
    def port(self) -> int:
        return self._started_record().port

    @property
    def endpoints(self) -> dict[str, str]:
        """The URL of each companion server running beside it (``{"eventbridgev2": url}``)."""
        return self._started_record().endpoints

    def _started_record(self) -> InstanceRecord:
        if self.record is None:
            raise EmulatorError(f"{self.backend.name} is not started: call start() or use `with`.")
        return self.record

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
        if record is None or self.backend.health(record.endpoint_url) is None:
            return None
        return record

    def health(self) -> dict[str, Any] | None:
        """The health document of this instance, or None when it does not answer."""
        record = self.record or self.recorded()
        return self.backend.health(record.endpoint_url) if record else None

    def processes(self) -> list[psutil.Process]:
        """Every process of this instance: the recorded one, its descendants, and any process
        marked with this state folder (the programs it starts, orphans of a crash)."""
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
                f"the embedded {self.backend.name} listens where other machines can reach it: "
                f"{'; '.join(str(item) for item in bad)}. It runs code as {ports.user_name()}, so "
                f"eventlab refuses to go on. {self.backend.exposed_fix()}, and stop this instance "
                "with `eventlab down`.",
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
            with state_lock(self.state_dir):
                record = self._current_locked()
                if record is None:
                    self._spawn_locked()
                    break
                if not self.reuse:
                    raise EmulatorError(
                        f"this project's {self.backend.name} already runs in {self.state_dir} (pid "
                        f"{record.pid}); stop it first with `eventlab down`."
                    )
                if record.state == RUNNING and self.backend.health(record.endpoint_url) is not None:
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
                "ignoring a stale %s record (%s)", self.backend.name,
                f"pid {stale.pid} is gone or is another process now" if stale else "unreadable or of an older format",
            )
            self.record_path.unlink(missing_ok=True)
        return record

    def _attach(self, record: InstanceRecord) -> None:
        if self.requested_port not in (None, record.port):
            raise EmulatorError(
                f"this project's {self.backend.name} already runs on port {record.port}, not on "
                f"the requested port {self.requested_port}. Use it, or stop it first with "
                "`eventlab down`."
            )
        self.record, self.owned = record, False
        self.check_listeners()
        remember(self.state_dir)
        self.warnings.extend(self.backend.tool_problems(record.tools))
        for service, entry in record.companions.items():
            if companions.health(entry["endpoint_url"]) is None:
                self.warnings.append(
                    f"eventlab's {service} server beside it (pid {entry['pid']}) does not answer at "
                    f"{entry['endpoint_url']}; restart both with `eventlab down && eventlab up`. Last "
                    f"lines of {entry['log_path']}:\n{tail(Path(entry['log_path']), 10)}"
                )
        log.info("reusing %s %s at %s", self.backend.name, record.version, record.endpoint_url)

    def _wait_for_other(self, seen: InstanceRecord, deadline: float) -> None:
        """Wait, without the lock, for an instance another process started (or one that does not
        answer) until it is healthy or gone; a healthy one still marked starting is promoted."""
        log.info("waiting for %s pid %d (%s) at %s", self.backend.name, seen.pid, seen.state, seen.endpoint_url)

        def settled() -> bool:
            record = self.recorded()
            return record is None or record.pid != seen.pid or self.backend.health(record.endpoint_url, timeout=1.0) is not None

        if not until(settled, timeout=max(0.0, deadline - time.monotonic()), interval=0.2):
            raise EmulatorTimeoutError(
                f"this project's {self.backend.name} (pid {seen.pid}, {seen.state}) did not answer at "
                f"{seen.endpoint_url} within {self.start_timeout:.0f} s. Wait and retry, raise the "
                f"limit with --timeout, or stop it with `eventlab down`. Last lines of "
                f"{seen.log_path}:\n{tail(Path(seen.log_path))}"
            )
        with state_lock(self.state_dir):
            current = self.recorded()
            if current is not None and current.pid == seen.pid and current.state == STARTING:
                self._promote_locked(current)

    def _promote_locked(self, record: InstanceRecord) -> InstanceRecord:
        """Mark a healthy instance running, once its sockets are checked; remember its port."""
        self.record = record
        self.check_listeners()
        seconds = record.startup_seconds
        if seconds is None:
            seconds = round(time.time() - record.started_at, 3)
        # The version the running emulator reports, not only the installed one.
        health = self.backend.health(record.endpoint_url)
        version = (self.backend.reported_version(health) if health else None) or record.version
        promoted = replace(record, state=RUNNING, startup_seconds=seconds, version=version)
        promoted.save(self.record_path)
        write_last_port(self.state_dir, promoted.port)
        self.record = promoted
        return promoted

    def _spawn_locked(self) -> None:
        """Launch the emulator and record it as starting, all under the lock."""
        if self.requested_port is not None:
            self._refuse_other_backend_on(self.requested_port)
        self.warnings.extend(self.backend.preflight({**os.environ, **self.extra_env}))
        strays = processes.marked(self.marker)
        if strays:
            log.info("stopping %d stray process(es) of an earlier %s", len(strays), self.backend.name)
            processes.terminate(strays, grace=3.0)
        port = self._choose_port()
        self.backend.prepare(self.state_dir)
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        endpoint = f"http://{HOST}:{port}"
        env = {**os.environ, **self._settings(port), **self.extra_env}
        for warning in self.warnings:
            log.warning("%s", warning)
        self._started = time.monotonic()
        with self.log_path.open("wb") as logfile:
            self._process = subprocess.Popen(
                self.backend.command(),
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.state_dir,
                start_new_session=True,
                preexec_fn=None if self.detach else die_with_parent,
            )
        try:
            self.owned = True
            identity = ProcessIdentity.of(self._process.pid) or ProcessIdentity(
                self._process.pid, time.time(), tuple(self._process.args)  # type: ignore[arg-type]
            )
            self.record = InstanceRecord(
                pid=identity.pid, create_time=identity.create_time, cmdline=list(identity.cmdline),
                boot_time=identity.boot_time, port=port, endpoint_url=endpoint, log_path=str(self.log_path),
                started_at=time.time(), version=self.backend.version(), state=STARTING, tools=self.backend.tools(env),
                region=self.region,
            )
            self.record.save(self.record_path)
            remember(self.state_dir)
        except BaseException:
            processes.terminate_tree(psutil.Process(self._process.pid), grace=STOP_GRACE)
            self._process.wait(timeout=5)
            self.record, self.owned = None, False
            raise
        log.info("starting %s on %s (log: %s)", self.backend.name, endpoint, self.log_path)

    def _choose_port(self) -> int:
        """The requested port (checked), else the last start's port when usable, else a free one."""
        return ports.usable_port(self.requested_port, read_last_port(self.state_dir), who=self.backend.name)

    def _refuse_other_backend_on(self, port: int) -> None:
        """Two backends cannot share one port: say which of this project's emulators holds it."""
        for kind in EmulatorProcess.kinds.values():
            if kind.backend.key == self.backend.key:
                continue
            other = kind().recorded()
            if other is not None and other.port == port:
                raise EmulatorError(
                    f"port {port} is taken by this project's {kind.backend.name} (pid {other.pid}), and "
                    f"two backends cannot share one port. Give {self.backend.name} another port "
                    f"(`--port N`, or leave EVENTLAB_PORT unset to take a free one), or stop "
                    f"{kind.backend.name} first with `eventlab down --backend {kind.backend.key}`."
                )

    def _settings(self, port: int) -> dict[str, str]:
        """The backend's settings for ``port``, and the marker every process of it carries."""
        return {**self.backend.environment(port, self.state_dir), **self.backend.region_settings(self.region),
                MARKER_ENV: self.marker}

    def _finish_start(self) -> None:
        """Wait for the instance this object spawned; on any failure (or an interrupt) stop it."""
        assert self._process is not None and self.record is not None
        try:
            self._wait_healthy(self.record.endpoint_url)
            started = self._start_companions(self.record.endpoint_url)
            with state_lock(self.state_dir):
                current = InstanceRecord.load(self.record_path)
                if current is None or current.pid != self.record.pid:
                    raise EmulatorStartError(f"{self.backend.name} was stopped while it was starting (`eventlab down`?).")
                seconds = round(time.monotonic() - self._started, 3)
                self._promote_locked(replace(current, startup_seconds=seconds, companions=started))
        except BaseException:
            self._abort_start()
            raise
        assert self.record is not None
        log.info("%s ready at %s in %.1f s", self.backend.name, self.record.endpoint_url, self.record.startup_seconds or 0)

    def _start_companions(self, endpoint: str) -> dict[str, dict[str, Any]]:
        """Start the backend's companions beside the healthy emulator at ``endpoint``; one this
        interpreter cannot serve (its botocore lacks the model) is skipped with one log line."""
        started: dict[str, dict[str, Any]] = {}
        for companion in self.backend.companions():
            problem = companion.unavailable()
            if problem:
                log.warning("not serving %s beside %s: %s", companion.service, self.backend.name, problem)
                continue
            started[companion.service] = self._start_companion(companion, endpoint)
        return started

    def restart_companion(self, service: str) -> dict[str, Any]:
        """Stop the companion serving ``service`` beside this running instance and start it again
        on the same port, from the state it left (what a restart of the emulator does to it; the
        emulator's own in-memory state is kept). Clients made before go on working. Returns its
        new record entry."""
        companion = next((c for c in self.backend.companions() if c.service == service), None)
        with state_lock(self.state_dir):
            record = self.recorded()
            if record is None or record.state != RUNNING:
                raise EmulatorError(f"{self.backend.name} is not running in {self.state_dir}: start it with `eventlab up`.")
            entry = record.companions.get(service)
            if companion is None or entry is None:
                raise EmulatorError(
                    f"no {service} server runs beside {self.backend.name} (it serves: "
                    f"{', '.join(record.companions) or 'none'}); restart both with `eventlab down && eventlab up`."
                )
            identity = ProcessIdentity.from_json(entry)
            process = identity.process() if identity is not None else None
            if process is not None:
                processes.terminate_tree(process, grace=STOP_GRACE)
            # Not tied to this process unless it owns the emulator: a companion restarted by a
            # test session must outlive it when the emulator does.
            started = self._start_companion(companion, record.endpoint_url, port=int(entry["port"]),
                                            detach=self.detach or not self.owned)
            updated = replace(record, companions={**record.companions, service: started})
            updated.save(self.record_path)
            self.record = updated
        self.check_listeners()
        return started

    def _start_companion(self, companion: Companion, endpoint: str, *, port: int | None = None,
                         detach: bool | None = None) -> dict[str, Any]:
        """Launch one companion on a free loopback port (or ``port``, when it restarts), marked as
        this instance's process (so the loopback check and ``stop()`` cover it), and wait until it
        answers healthy."""
        state_dir = companion.state_dir(self.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        log_path = state_dir / companion.log_name
        if log_path.exists():
            log_path.replace(log_path.with_suffix(".log.1"))
        if port is None:
            port = ports.free_port(HOST)
        elif not until(lambda: ports.port_is_free(port, HOST), timeout=STOP_GRACE, interval=0.1):
            raise EmulatorStartError(f"port {port} is still taken, so {companion.service} cannot be served there again")
        detach = self.detach if detach is None else detach
        url = f"http://{HOST}:{port}"
        path = os.pathsep.join(p for p in (str(_LIB_DIR), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, **self.extra_env, MARKER_ENV: self.marker, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        region = self.record.region if self.record is not None else self.region
        command = companion.command(port=port, state_dir=state_dir, backend_endpoint=endpoint, region=region)
        with log_path.open("wb") as logfile:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT, env=env,
                cwd=state_dir, start_new_session=True, preexec_fn=None if detach else die_with_parent,
            )
        what = f"eventlab's {companion.service} server beside {self.backend.name}"

        def ready() -> bool:
            code = process.poll()
            if code is not None:
                raise EmulatorStartError(
                    f"{what} exited with code {code} before it answered. See {log_path}; its last "
                    f"lines:\n{tail(log_path)}"
                )
            return companions.health(url, timeout=1.0) is not None

        if not until(ready, timeout=COMPANION_START_TIMEOUT, interval=0.1):
            raise EmulatorTimeoutError(
                f"{what} did not answer at {url} within {COMPANION_START_TIMEOUT:.0f} s; the machine "
                f"may be overloaded. Last lines of {log_path}:\n{tail(log_path)}"
            )
        identity = ProcessIdentity.of(process.pid) or ProcessIdentity(process.pid, time.time(), tuple(command))
        log.info("%s ready at %s (log: %s)", what, url, log_path)
        return {**identity.to_json(), "port": port, "endpoint_url": url, "log_path": str(log_path), "region": region}

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
        with state_lock(self.state_dir):
            current = InstanceRecord.load(self.record_path)
            if current is not None and current.pid == pid:
                self.record_path.unlink(missing_ok=True)
        self.record, self.owned = None, False

    def _wait_healthy(self, endpoint: str) -> None:
        """Until the spawned process answers healthy; raises when it exits or time runs out."""
        assert self._process is not None
        process = self._process
        name = self.backend.name

        def ready() -> bool:
            code = process.poll()
            if code is not None:
                if not self.record_path.exists():
                    raise EmulatorStartError(f"{name} was stopped while it was starting (`eventlab down`?).")
                raise EmulatorStartError(
                    f"{name} exited with code {code} before it became healthy. See "
                    f"{self.log_path}; its last lines:\n{tail(self.log_path)}"
                )
            return self.backend.health(endpoint, timeout=1.0) is not None

        left = self._started + self.start_timeout - time.monotonic()
        if not until(ready, timeout=max(0.0, left), interval=0.2):
            raise EmulatorTimeoutError(
                f"{name} did not become healthy within {self.start_timeout:.0f} s at "
                f"{endpoint}. The machine may be overloaded: raise the limit with "
                f"--timeout ({type(self).__name__}(start_timeout=...)). Last lines of "
                f"{self.log_path}:\n{tail(self.log_path)}"
            )

    def stop(self, *, force: bool = False) -> bool:
        """Stop the instance and all its processes if this object owns it (or ``force``).

        Only processes that are provably this instance's are signalled: the recorded one when
        its start time and command line still match, and those marked with this state folder.
        Returns True when a process was stopped.
        """
        if not (self.owned or force):
            return False
        with state_lock(self.state_dir):
            record = self.recorded()
            root = record.identity.process() if record is not None else None
            members = processes.family(root, processes.marked(self.marker))
            if members:
                processes.terminate_tree(root, members, grace=STOP_GRACE)
            self.record_path.unlink(missing_ok=True)
            self.record, self.owned = None, False
            self.backend.cleanup(self.state_dir)
        if self._process is not None:
            with contextlib.suppress(Exception):
                self._process.wait(timeout=1)
        if members:
            log.info("%s stopped", self.backend.name)
        return bool(members)

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
        return f"{type(self).__name__}({where}, owned={self.owned})"


# -- finding an instance from its endpoint -----------------------------------------------------
# State folders of the instances this process started or attached to, so that an error on an
# endpoint can be traced back to its instance (log, record, last port).
_known_state_dirs: dict[Path, None] = {}


def remember(state_dir: Path) -> None:
    _known_state_dirs[state_dir] = None


def find_instance(endpoint_url: str) -> EmulatorProcess | None:
    """The eventlab-run emulator behind ``endpoint_url`` (running or stopped), if any: one this
    process knows of, or a backend's default one. Its ``record`` is set when one is on disk."""
    wanted = endpoint_url.rstrip("/")
    parts = urlsplit(wanted)
    defaults = {kind.default_state_dir().resolve(): kind for kind in EmulatorProcess.kinds.values()}
    for state_dir in dict.fromkeys([*_known_state_dirs, *defaults]):
        record = InstanceRecord.load(state_dir / RECORD_NAME)
        mine = record is not None and record.endpoint_url.rstrip("/") == wanted
        if not mine and record is None and parts.hostname in (HOST, "localhost"):
            mine = read_last_port(state_dir) == parts.port
        if not mine:
            continue
        kind = defaults.get(state_dir) or _kind_of(state_dir)
        try:
            instance = kind(state_dir=state_dir)
        except (ValueError, EmulatorError):
            return None
        instance.record = record
        return instance
    return None


def _kind_of(state_dir: Path) -> type[EmulatorProcess]:
    """The process class of a state folder this process used (the one whose log is there)."""
    for kind in EmulatorProcess.kinds.values():
        if (state_dir / kind.backend.log_name).exists():
            return kind
    return next(iter(EmulatorProcess.kinds.values()))


def explain_unreachable(endpoint_url: str) -> str:
    """What to tell a user whose call could not reach the emulator at ``endpoint_url``."""
    instance = find_instance(endpoint_url)
    if instance is None:
        return (
            f"nothing answers at {endpoint_url}: the emulator there stopped, or was never "
            "started. Start an embedded emulator with `eventlab up` (or `eventlab up --backend "
            "ministack`; and export the EVENTLAB_ENDPOINT_URL and EVENTLAB_BACKEND it prints), or "
            "start yours again."
        )
    record = instance.record
    alive = record is not None and record.identity.alive()
    log_path = Path(record.log_path) if record is not None else instance.log_path
    port = urlsplit(endpoint_url).port
    name = instance.backend.name
    if alive:
        assert record is not None
        what = (
            f"the embedded {name} at {endpoint_url} (pid {record.pid}) runs but does not "
            "answer: it is overloaded or hung. Wait and retry, or restart it with "
            "`eventlab down && eventlab up`"
        )
    else:
        what = (
            f"the embedded {name} at {endpoint_url} has stopped, and everything in it is gone. "
            f"Restart it with `eventlab up`: it comes back on port {port} if that port is free, "
            f"so EVENTLAB_ENDPOINT_URL={endpoint_url} stays valid. Then run this again"
        )
    return f"{what}. Last lines of {log_path}:\n{tail(log_path, 20)}"


def explain_failure(message: str, endpoint_url: str | None = None) -> EmulatorError | None:
    """An error that names the cause and the fix when an API error ``message`` from the emulator
    at ``endpoint_url`` says the emulator itself failed (a program it needs could not start);
    None for any other error."""
    instance = find_instance(endpoint_url) if endpoint_url else None
    record = instance.record if instance is not None else None
    kinds = [type(instance)] if instance is not None else list(EmulatorProcess.kinds.values())
    for kind in kinds:
        error = kind.backend.explain_failure(message, record.tools if record else None, record.log_path if record else None)
        if error is not None:
            return error
    return None
