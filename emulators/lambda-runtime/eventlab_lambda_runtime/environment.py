"""One Lambda execution environment: a sandboxed handler process on AWS's runtime client.

The process runs ``python -I -S`` (no site-packages, no user or ``PYTHON*`` settings) with
``sys.path`` = the task root, the layers (``python/`` and ``python/lib/python3.X/site-packages``
of each, as AWS mounts them under ``/opt``), the standard library and one runtime folder holding
``awslambdaric``, boto3 and botocore. So it imports what AWS's Python runtime gives, and the
rest fails with ``Runtime.ImportModuleError``. awslambdaric does the rest as on AWS: the root
logger's handler, log levels and formats, error shapes, the handler's faults.

Its environment is AWS's reserved variables plus the function's own (:func:`handler_environment`),
and ``AWS_LAMBDA_EXEC_WRAPPER`` is run in front of the interpreter as AWS's bootstrap does.

Logs: stdout and stderr are one pipe read line by line (one CloudWatch event a line, as AWS
does), and awslambdaric's log records and error reports come framed through
``_LAMBDA_TELEMETRY_LOG_FD`` (one event a record, a traceback included). Each invocation's
events are complete when its result is: the host writes a marker into both pipes after the
result and reads up to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from eventlab_lambda_runtime import RUNTIMES_SETTING
from eventlab_lambda_runtime.api import TOO_LARGE_TYPE, Invocation, RuntimeApi

LOG = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 3.0
FLUSH_WAIT_SECONDS = 2.0
_FLUSH_FRAME_TYPE = 0xEE1AB000.to_bytes(4, "big")
_FLUSH_LINE = "\x1eeventlab-flush"

#: AWS's reserved variables a handler may see (Lambda guide, "Defined runtime environment
#: variables"), and the unreserved ones AWS sets too. Everything else of the emulator's process
#: stays out; the function's own variables are added on top.
AWS_VARIABLES = (
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL",
    "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_ADDRESS",
    "_AWS_XRAY_DAEMON_PORT", "LANG", "PATH", "LD_LIBRARY_PATH", "TZ",
)
#: Not AWS's, kept by design: the handler's SDK calls must reach the emulator, not AWS.
LOCAL_VARIABLES = ("AWS_ENDPOINT_URL",)

# The code the sandboxed interpreter runs: the path AWS's runtime has, then awslambdaric.
_BOOT = """\
import os, sys, threading, time


def _watch_parent(parent=os.getppid(), os=os, time=time):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


class _Lines:
    \"\"\"sys.stdout and sys.stderr: each complete line becomes one frame on the telemetry pipe,
    so print lines and log records arrive in the order the handler wrote them.\"\"\"

    def __init__(self, fd, encoding="utf-8"):
        self.fd, self.encoding, self.errors, self._pending = fd, encoding, "replace", ""

    def write(self, text):
        self._pending += text
        *lines, self._pending = self._pending.split("\\n")
        for line in lines:
            data = line.encode("utf-8", "replace")
            stamp = time.time_ns() // 1000
            os.write(self.fd, b"\\xa5\\x5a\\x00\\x03" + len(data).to_bytes(4, "big")
                     + stamp.to_bytes(8, "big") + data)
        return len(text)

    def flush(self):
        pass

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        return 1


threading.Thread(target=_watch_parent, name="eventlab-parent-watch", daemon=True).start()
# A copy of the telemetry pipe: awslambdaric closes its own when it stops, and a last traceback
# must still get out. Python's locale coercion (PEP 538) is not AWS's environment.
sys.stdout = sys.stderr = _Lines(os.dup(int(os.environ["_LAMBDA_TELEMETRY_LOG_FD"])))
if os.environ.get("LC_CTYPE") == "C.UTF-8":
    del os.environ["LC_CTYPE"]
_v = "%d.%d" % sys.version_info[:2]
for _name in filter(None, sys.argv[2].split(",")):  # the host's own markers, not the handler's
    os.environ.pop(_name, None)
_layers = sys.argv[3:]
sys.path[:0] = [os.environ["LAMBDA_TASK_ROOT"]] + [
    p for d in _layers for p in (d + "/python/lib/python" + _v + "/site-packages", d + "/python")]
sys.path.append(os.environ["LAMBDA_RUNTIME_DIR"])
os.chdir(os.environ["LAMBDA_TASK_ROOT"])
sys.argv = ["/var/runtime/bootstrap", sys.argv[1]]
from awslambdaric.__main__ import main as _main
_main(sys.argv)
"""


@dataclass(frozen=True)
class RuntimeChoice:
    """The interpreter and runtime folder a declared runtime runs on, and why, if not its own."""

    runtime: str
    python: str
    runtime_dir: str
    note: str | None = None


class RuntimeUnavailable(RuntimeError):
    """No interpreter or runtime folder for a declared runtime; the message names the fix."""


def choose_runtime(runtime: str, settings: Mapping[str, object] | None = None) -> RuntimeChoice:
    """The :class:`RuntimeChoice` for ``runtime`` from :data:`RUNTIMES_SETTING` (or ``settings``)."""
    if settings is None:
        text = os.environ.get(RUNTIMES_SETTING, "")
        try:
            settings = json.loads(text) if text else {}
        except ValueError as error:
            raise RuntimeUnavailable(f"{RUNTIMES_SETTING} is not JSON ({error})") from error
    entry = settings.get(runtime) if isinstance(settings, Mapping) else None
    if not isinstance(entry, Mapping):
        known = ", ".join(sorted(settings)) if settings else "none"
        raise RuntimeUnavailable(
            f"no Python and runtime folder for {runtime} (known: {known}); build them with "
            "`make setup-lambda` (python -m eventlab.runtime.lambda_runtimes build) and restart "
            "the emulator"
        )
    return RuntimeChoice(runtime, str(entry["python"]), str(entry["runtime_dir"]),
                         str(entry["note"]) if entry.get("note") else None)


def handler_environment(
    platform: Mapping[str, str],
    function_variables: Mapping[str, str],
    *,
    runtime: str,
    handler: str,
) -> dict[str, str]:
    """The environment AWS gives a handler: its reserved variables plus the function's own.

    ``platform`` is what the emulator would set (its own internal variables among them); only
    :data:`AWS_VARIABLES` and :data:`LOCAL_VARIABLES` of it are kept. ``AWS_LAMBDA_RUNTIME_API``,
    ``LAMBDA_TASK_ROOT`` and ``LAMBDA_RUNTIME_DIR`` are set by :class:`ExecutionEnvironment`.
    """
    env = {
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "TZ": ":UTC",
    }
    env.update({k: str(v) for k, v in platform.items()
                if (k in AWS_VARIABLES or k in LOCAL_VARIABLES) and v is not None})
    env["_HANDLER"] = handler
    env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{runtime}"
    for name in ("AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"):
        env.pop(name, None)
    env.update({k: str(v) for k, v in function_variables.items()})
    return env


def log_stream_name(version: str = "$LATEST") -> str:
    """A log stream name as AWS forms it for one execution environment."""
    now = datetime.now(timezone.utc)  # noqa: UP017 - Python 3.10 has no datetime.UTC
    return f"{now:%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


def aws_timestamp(epoch: float | None = None) -> str:
    """``2026-12-01T23:30:00.123Z``, the timestamp of AWS's platform log lines."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, timezone.utc)  # noqa: UP017
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Outcome:
    """What one invocation gave: the result or error document, its log events, its figures."""

    request_id: str
    ok: bool
    body: bytes
    error_type: str | None
    events: list[tuple[int, str]]
    duration_ms: float
    init_ms: float | None
    max_memory_mb: int
    memory_mb: int
    version: str

    def report_line(self) -> str:
        line = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
            f"Billed Duration: {int(self.duration_ms) + 1} ms\tMemory Size: {self.memory_mb} MB\t"
            f"Max Memory Used: {self.max_memory_mb} MB"
        )
        if self.init_ms is not None:
            line += f"\tInit Duration: {self.init_ms:.2f} ms"
        if self.error_type == "Sandbox.Timedout":
            line += "\tStatus: timeout"
        return line

    def all_events(self) -> list[tuple[int, str]]:
        """START, what the handler logged (its init output first, on a cold start), END, REPORT."""
        first = self.events[0][0] if self.events else int(time.time() * 1000)
        last = int(time.time() * 1000)
        start = (first, f"START RequestId: {self.request_id} Version: {self.version}")
        return [start, *self.events, (last, f"END RequestId: {self.request_id}"),
                (last, self.report_line())]

    def log_text(self) -> str:
        """The events as text, one line each; a record's own line breaks become ``\\r``, as AWS's
        runtime writes a multi-line record to a stream (so splitting on ``\\n`` keeps records whole)."""
        return "".join(text.rstrip("\n").replace("\n", "\r") + "\n" for _, text in self.all_events())


@dataclass
class _Logs:
    """The events read from the process's two pipes, and the markers seen."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    events: list[tuple[float, int, str]] = field(default_factory=list)  # (time, seq, text)
    flushed: dict[str, threading.Event] = field(default_factory=dict)
    seq: int = 0

    def add(self, stamp: float, text: str) -> None:
        with self.lock:
            self.seq += 1
            self.events.append((stamp, self.seq, text))

    def take(self) -> list[tuple[int, str]]:
        with self.lock:
            events, self.events = sorted(self.events), []
        return [(int(stamp * 1000), text) for stamp, _, text in events]


class ExecutionEnvironment:
    """One handler process with its Runtime API; :meth:`invoke` runs one event at a time."""

    def __init__(
        self,
        *,
        choice: RuntimeChoice,
        task_root: str,
        environment: Mapping[str, str],
        timeout_seconds: float,
        memory_mb: int = 128,
        version: str = "$LATEST",
        layers: Sequence[str] = (),
        host_env: Mapping[str, str] | None = None,
    ) -> None:
        self.choice = choice
        self.task_root = task_root
        self.environment = dict(environment)
        self.timeout_seconds = float(timeout_seconds)
        self.memory_mb = int(memory_mb)
        self.version = version
        self.layers = list(layers)
        self.host_env = dict(host_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.api: RuntimeApi | None = None
        self.init_ms: float | None = None
        self._logs = _Logs()
        self._write_fds: list[int] = []
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        """The command line: the exec wrapper (if any), then the isolated interpreter."""
        hidden = ",".join(sorted(set(self.host_env) - set(self.environment)))
        argv = [self.choice.python, "-I", "-S", "-c", _BOOT, self.environment["_HANDLER"], hidden,
                *self.layers]
        wrapper = self.environment.get("AWS_LAMBDA_EXEC_WRAPPER")
        if not wrapper:
            return argv
        path = self._local_path(wrapper)
        # An emulator that unzips without file modes (MiniStack) loses the executable bit that
        # AWS keeps: run such a script with the shell its first line would name.
        if os.path.isfile(path) and not os.access(path, os.X_OK):
            return ["/bin/sh", path, *argv]
        return [path, *argv]

    def _local_path(self, path: str) -> str:
        """AWS paths (``/opt/...`` for layers, ``/var/task/...``) as the folders they are here."""
        if path.startswith("/var/task/"):
            return os.path.join(self.task_root, path[len("/var/task/"):])
        if path.startswith("/opt/"):
            for layer in reversed(self.layers):
                candidate = os.path.join(layer, path[len("/opt/"):])
                if os.path.exists(candidate):
                    return candidate
        return path if os.path.isabs(path) else os.path.join(self.task_root, path)

    def start(self) -> tuple[str, bytes] | None:
        """Start the process and wait for the end of its Init phase.

        Returns ``(error type, error document)`` when init failed (the process is then gone),
        else None. Raises RuntimeError when the process ends or hangs before it is ready.
        """
        self.stop()
        self._logs = _Logs()
        self.api = RuntimeApi()
        out_read, out_write = os.pipe()
        log_read, log_write = os.pipe()
        env = {
            **self.host_env,
            **self.environment,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "LAMBDA_TASK_ROOT": self.task_root,
            "LAMBDA_RUNTIME_DIR": self.choice.runtime_dir,
            "_LAMBDA_TELEMETRY_LOG_FD": str(log_write),
        }
        if self.choice.note:
            self._logs.add(time.time(), self.choice.note)
        spawned = time.monotonic()
        try:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=out_write, stderr=out_write,
                pass_fds=(log_write,), env=env, cwd=self.task_root, start_new_session=True,
            )
        except OSError as error:
            for fd in (out_read, out_write, log_read, log_write):
                os.close(fd)
            self.api.close()
            raise RuntimeError(f"cannot start {self.command()[0]}: {error}") from error
        # The host keeps the write ends: it writes the end-of-invocation markers into them.
        self._write_fds = [out_write, log_write]
        threading.Thread(target=self._read_lines, args=(out_read,), daemon=True,
                         name=f"lambda-stdout-{self.process.pid}").start()
        threading.Thread(target=self._read_frames, args=(log_read,), daemon=True,
                         name=f"lambda-logs-{self.process.pid}").start()
        deadline = spawned + max(self.timeout_seconds, 10.0)
        api, process = self.api, self.process
        while not api.init_done.wait(0.05):
            if self.process is not process:
                raise RuntimeError("the execution environment was stopped while it started")
            if process.poll() is not None:
                if api.init_done.is_set():
                    break
                self._flush()
                output = "\n".join(text for _, text in self._logs.take())
                raise RuntimeError(
                    f"the handler process exited with code {process.returncode} before it "
                    f"was ready; its output:\n{output[-2000:]}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the handler process was not ready within its init timeout")
        failed = api.init_error
        if failed is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_GRACE_SECONDS)
            self._flush()
            self.stop()
            return failed
        self.init_ms = ((api.init_done_at or time.monotonic()) - spawned) * 1000
        return None

    def stop(self) -> None:
        """End the process and its process group, and the Runtime API."""
        process, self.process = self.process, None
        if process is not None:
            terminate(process)
        api, self.api = self.api, None
        if api is not None:
            api.close()
        fds, self._write_fds = self._write_fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- invocations -------------------------------------------------------------------------
    def invoke(
        self,
        request_id: str,
        payload: bytes,
        function_arn: str,
        trace_id: str = "",
        client_context: str | None = None,
    ) -> Outcome:
        """Run one event; a timeout or a crash ends the process (the next call starts a new one)."""
        with self._lock:
            return self._invoke(request_id, payload, function_arn, trace_id, client_context)

    def _invoke(self, request_id: str, payload: bytes, function_arn: str, trace_id: str,
                client_context: str | None) -> Outcome:
        init_ms = None
        if not self.alive or self.api is None:
            failed = self.start()
            if failed is not None:
                error_type, body = failed
                return self._outcome(request_id, False, body, error_type, 0.0, self.init_ms)
        if self.init_ms is not None:
            init_ms, self.init_ms = self.init_ms, None
        assert self.api is not None and self.process is not None
        started = time.monotonic()
        invocation = Invocation(
            request_id=request_id, payload=payload,
            deadline_ms=int((time.time() + self.timeout_seconds) * 1000),
            function_arn=function_arn, trace_id=trace_id or "", client_context=client_context,
        )
        self.api.submit(invocation)
        deadline = started + self.timeout_seconds
        while not invocation.done.wait(0.05):
            if self.process.poll() is not None:
                if invocation.done.wait(0.2):
                    break
                code = self.process.returncode
                message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
                return self._fail(request_id, "Runtime.ExitError", message, started, init_ms)
            if time.monotonic() > deadline:
                seconds = f"{self.timeout_seconds:.2f}"
                self._logs.add(time.time(), f"{aws_timestamp()} {request_id} Task timed out after {seconds} seconds")
                message = f"RequestId: {request_id} Error: Task timed out after {seconds} seconds"
                return self._fail(request_id, "Sandbox.Timedout", message, started, init_ms)
        duration = (time.monotonic() - started) * 1000
        error_type = invocation.error_type
        if not invocation.ok and error_type is None:
            error_type = _error_type(invocation.body)
        if error_type == TOO_LARGE_TYPE:
            # awslambdaric ends its process when the API refuses a response, as on AWS: wait for
            # that, so its last words are in this invocation's log and the next call is cold.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_GRACE_SECONDS)
        self._flush()
        outcome = self._outcome(request_id, invocation.ok, invocation.body, error_type, duration, init_ms)
        if self.process.poll() is not None:
            self.stop()
        return outcome

    def _fail(self, request_id: str, error_type: str, message: str, started: float,
              init_ms: float | None) -> Outcome:
        """A failure the platform reports (timeout, crash): the process is ended and replaced later."""
        duration = (time.monotonic() - started) * 1000
        memory = self._peak_memory_mb()
        self._flush()
        self.stop()
        body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
        if error_type != "Sandbox.Timedout":
            self._logs.add(time.time(), message)
        outcome = self._outcome(request_id, False, body, error_type, duration, init_ms)
        outcome.max_memory_mb = memory or outcome.max_memory_mb
        return outcome

    def _outcome(self, request_id: str, ok: bool, body: bytes, error_type: str | None,
                 duration_ms: float, init_ms: float | None) -> Outcome:
        return Outcome(
            request_id=request_id, ok=ok, body=body, error_type=error_type,
            events=self._logs.take(), duration_ms=duration_ms, init_ms=init_ms,
            max_memory_mb=self._peak_memory_mb(), memory_mb=self.memory_mb, version=self.version,
        )

    # -- logs --------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Write a marker into both pipes and wait until the readers reach it: every event
        written before it has then been read."""
        if len(self._write_fds) != 2:
            return
        token = uuid.uuid4().hex
        waits = [threading.Event(), threading.Event()]
        self._logs.flushed[f"line:{token}"] = waits[0]
        self._logs.flushed[f"frame:{token}"] = waits[1]
        try:
            os.write(self._write_fds[0], f"\n{_FLUSH_LINE} {token}\n".encode())
            data = token.encode()
            os.write(self._write_fds[1], _FLUSH_FRAME_TYPE + len(data).to_bytes(4, "big")
                     + (0).to_bytes(8, "big") + data)
        except OSError:
            return
        for wait in waits:
            wait.wait(FLUSH_WAIT_SECONDS)

    def _read_lines(self, fd: int) -> None:
        pending = b""
        with open(fd, "rb", buffering=0) as stream:
            while True:
                chunk = stream.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    text = raw.decode("utf-8", "replace").rstrip("\r")
                    if text.startswith(_FLUSH_LINE):
                        flushed = self._logs.flushed.pop(f"line:{text.split()[-1]}", None)
                        if flushed is not None:
                            flushed.set()
                    elif text:
                        self._logs.add(time.time(), text)

    def _read_frames(self, fd: int) -> None:
        with open(fd, "rb") as stream:
            while True:
                header = stream.read(16)
                if len(header) < 16:
                    break
                kind, length = header[:4], int.from_bytes(header[4:8], "big")
                stamp_us = int.from_bytes(header[8:16], "big")
                data = stream.read(length)
                text = data.decode("utf-8", "replace")
                if kind == _FLUSH_FRAME_TYPE:
                    flushed = self._logs.flushed.pop(f"frame:{text}", None)
                    if flushed is not None:
                        flushed.set()
                elif text.strip():
                    self._logs.add(stamp_us / 1e6 if stamp_us else time.time(), text.rstrip("\n"))

    def _peak_memory_mb(self) -> int:
        """The process's peak resident memory (VmHWM), as the REPORT line's Max Memory Used."""
        process = self.process
        if process is None:
            return 0
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024
        except OSError:
            pass
        return 0


def _error_type(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return "Runtime.Unknown"
    return str(document.get("errorType") or "Runtime.Unknown") if isinstance(document, dict) else "Runtime.Unknown"


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL what is left after a grace period."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_SECONDS)
