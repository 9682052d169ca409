"""The embedded LocalStack: LocalStack 2026.3.0 run as a host process on 127.0.0.1, no Docker,
no account; one backend of the process manager (:mod:`eventlab.runtime.process`). It runs from
its own environment (``.venv-localstack``: Python 3.13, locked as of March 2026), which the
workbook starts as a server and asks for LocalStack's version; the workbook imports none of it.

One instance serves a whole session (the CLI, a test session, the notebooks' kernels). Its
state, its log and the tools it installs on first use (kinesis-mock) live in ``build/localstack``.
Every socket of its tree stays on 127.0.0.1 because eventlab's LocalStack plugin
(``emulators/localstack/eventlab_localstack``) makes it so, and the process manager checks it.

Used three ways::

    with EmbeddedLocalStack() as localstack:      # starts, or reuses one already running
        target = Target.localstack(localstack.endpoint_url)

    eventlab up / eventlab status / eventlab down  # the CLI, see eventlab.cli

    def test_x(localstack): ...                    # the pytest fixture, see eventlab.testing
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from eventlab.locations import project_root
from eventlab.runtime import interpreters
from eventlab.runtime.backend import Backend
from eventlab.runtime.errors import (
    EmulatorError,
    EmulatorStartError,
    EmulatorTimeoutError,
)
from eventlab.runtime.ports import HOST
from eventlab.runtime.process import EmulatorProcess

DISTRIBUTION = "localstack-core"
# kinesis-local (kinesis-mock on Node) is tested by eventlab on Node 20.
NODE_MIN_MAJOR = 20
# eventlab's plugin for LocalStack (emulators/localstack/eventlab_localstack) is loaded by entry
# point inside LocalStack's process and imports nothing of eventlab, nor eventlab of it: the
# names both sides use are written on each side, and a unit test keeps the two equal.
LAMBDA_EXECUTOR_NAME = "eventlab"  # LAMBDA_RUNTIME_EXECUTOR: the host-process Lambda executor
LAMBDA_EXECUTOR_GROUP = "localstack.lambda.runtime_executor"
GATEWAY_SERVER_NAME = "eventlab-loopback"  # GATEWAY_SERVER: the gateway that honours the host
GATEWAY_SERVER_GROUP = "localstack.runtime.server"
KINESIS_HOOK_NAME = "eventlab_kinesis_mock_on_loopback"  # keeps kinesis-mock on 127.0.0.1
KINESIS_HOOK_GROUP = "localstack.hooks.on_infra_start"
KINESIS_IDLE_SETTING = "EVENTLAB_KINESIS_IDLE_STOP_S"  # idle seconds after which an empty kinesis-mock stops
# kinesis-mock (Node, ~110 MB resident even empty) is stopped after this long without a request
# when it holds no stream; the next Kinesis request starts a new one (a few seconds).
KINESIS_IDLE_STOP_S = 60

# The names callers and the README know; the errors are the process manager's, for any backend.
LocalStackError = EmulatorError
LocalStackStartError = EmulatorStartError
LocalStackTimeoutError = EmulatorTimeoutError


class KinesisBackendError(EmulatorError):
    """LocalStack could not start kinesis-mock, the program behind its Kinesis API."""


class InterpreterError(EmulatorError):
    """LocalStack's environment (Python 3.13 and LocalStack 2026.3.0) is missing or broken."""


# -- the installation: LocalStack's own environment ----------------------------------------------
# LocalStack 2026.3.0 runs from .venv-localstack (Python 3.13, locked as of March 2026 with
# emulators/localstack), never from the workbook's .venv: the workbook imports none of it and
# asks that environment, in a subprocess, for its version and its plugins.
ENVIRONMENT_VARIABLE = "EVENTLAB_LOCALSTACK_VENV"
SETUP_COMMAND = "make setup-localstack"
_OTHER_WAY = "or use the other embedded emulator, MiniStack (`--backend ministack` or EVENTLAB_BACKEND=ministack)"
_INSPECT = f"""
import importlib.metadata as m, json, sys
try:
    version = m.version({DISTRIBUTION!r})
except m.PackageNotFoundError:
    version = None
groups = {sorted({LAMBDA_EXECUTOR_GROUP, GATEWAY_SERVER_GROUP, KINESIS_HOOK_GROUP})!r}
print(json.dumps({{"python": list(sys.version_info[:3]), "version": version,
                  "entry_points": {{g: sorted(ep.name for ep in m.entry_points(group=g)) for g in groups}}}}))
"""


def environment_dir() -> Path:
    """LocalStack's environment: ``$EVENTLAB_LOCALSTACK_VENV``, else ``.venv-localstack`` in the checkout."""
    configured = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(configured) if configured else project_root() / ".venv-localstack"


def environment_python() -> Path:
    """The interpreter that runs LocalStack: its environment's own."""
    return environment_dir() / "bin" / "python"


def _stamp(folder: Path) -> Path:
    return folder / ".installed"  # written by the Makefile once the whole environment installed


@functools.lru_cache(maxsize=4)
def _inspect(python: str, built_at: float) -> dict[str, Any]:
    """What the environment at ``python`` holds (cached per build, ``built_at`` being its stamp's time)."""
    try:
        reply = subprocess.run([python, "-I", "-c", _INSPECT], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise InterpreterError(_broken(f"{python} does not run ({error})")) from error
    if reply.returncode != 0:
        raise InterpreterError(_broken(f"{python} failed: {reply.stderr.strip()[-500:]}"))
    report: dict[str, Any] = json.loads(reply.stdout)
    return report


def _broken(why: str) -> str:
    return (
        f"LocalStack's environment {environment_dir()} is broken: {why}. Rebuild it: "
        f"`rm -rf {environment_dir()} && {SETUP_COMMAND}`, {_OTHER_WAY}."
    )


def _missing_environment() -> str:
    """Why LocalStack's environment is not there, and the ways on (one message, as make gives)."""
    try:
        interpreters.find_for("localstack")
    except interpreters.NoInterpreter as none:
        return f"LocalStack's environment {environment_dir()} is not built, and it cannot be here yet. {none}"
    return (
        f"LocalStack's environment {environment_dir()} is not built (or its build did not finish). "
        f"Run `{SETUP_COMMAND}` (or `make test` / `make run`, which build it), {_OTHER_WAY}."
    )


def inspect_environment() -> dict[str, Any]:
    """LocalStack's environment as it reports itself (its Python, LocalStack's version, the
    plugins registered there); :class:`InterpreterError` with the fix when it is missing or broken."""
    stamp = _stamp(environment_dir())
    python = environment_python()
    if not stamp.is_file() or not python.exists():
        raise InterpreterError(_missing_environment())
    report = _inspect(str(python), stamp.stat().st_mtime)
    if tuple(report["python"][:2]) != (3, 13):
        found = ".".join(str(part) for part in report["python"])
        raise InterpreterError(_broken(f"it runs Python {found}, and LocalStack 2026.3.0 needs 3.13"))
    if report["version"] is None:
        raise InterpreterError(_broken(f"{DISTRIBUTION} is not installed in it"))
    return report


def localstack_version() -> str:
    """The LocalStack release in its environment, as recorded with every result."""
    try:
        return str(inspect_environment()["version"])
    except InterpreterError:
        return "not installed"


def check_environment() -> None:
    """Fail early, with the fix, when LocalStack's environment is missing or cannot run it."""
    inspect_environment()


def _registered(group: str, name: str) -> bool:
    return name in inspect_environment()["entry_points"].get(group, [])


def missing_plugins() -> list[str]:
    """The loopback plugins LocalStack's environment lacks (empty when both are registered)."""
    wanted = ((GATEWAY_SERVER_GROUP, GATEWAY_SERVER_NAME), (KINESIS_HOOK_GROUP, KINESIS_HOOK_NAME))
    return sorted(f"{group}:{name}" for group, name in wanted if not _registered(group, name))


def executor_registered() -> bool:
    """True when LocalStack's environment has the Lambda executor's entry point. Without it,
    LocalStack silently falls back to its Docker executor and every Lambda invoke fails."""
    return _registered(LAMBDA_EXECUTOR_GROUP, LAMBDA_EXECUTOR_NAME)


# -- Node.js, for Kinesis --------------------------------------------------------------------------
NODE_FIX = (
    f"Install Node.js {NODE_MIN_MAJOR} or newer with npm (your package manager, nodejs.org, or "
    "`conda env create -f environment.yml`), then restart the emulator: `eventlab down && eventlab up`"
)
KINESIS_INSTALL_FAILED = re.compile(r"Installation of kinesis-local\b.*\bfailed")


def node_tools(path: str | None = None) -> dict[str, str | None]:
    """Where ``node`` and ``npm`` are on ``path`` (default: this process's PATH)."""
    return {"node": shutil.which("node", path=path), "npm": shutil.which("npm", path=path)}


def _node_major(node: str) -> int | None:
    try:
        reply = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.", reply.stdout.strip())
    return int(match.group(1)) if match else None


def _missing(tools: Mapping[str, str | None]) -> list[str]:
    return [name for name, key in (("Node.js (node)", "node"), ("npm", "npm")) if not tools.get(key)]


def _missing_node_tools(tools: Mapping[str, str | None]) -> str | None:
    missing = _missing(tools)
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} not found on PATH, so Kinesis will not work: LocalStack "
        "runs kinesis-mock (the npm package kinesis-local) on Node.js and installs it with "
        f"npm when the first stream is created. {NODE_FIX}."
    )


def node_problem(path: str | None = None) -> str | None:
    """Why Kinesis will not work with the Node.js on ``path``, or None when it should."""
    tools = node_tools(path)
    problem = _missing_node_tools(tools)
    node = tools["node"]
    if problem is not None or node is None:
        return problem
    major = _node_major(node)
    if major is not None and major < NODE_MIN_MAJOR:
        return f"Node.js {major} at {node} is older than {NODE_MIN_MAJOR}; Kinesis may not work. {NODE_FIX}."
    return None


def explain_kinesis_failure(message: str, tools: Mapping[str, str | None] | None, log_path: str | None) -> str | None:
    """The cause and the fix when a Kinesis call failed because LocalStack could not install
    kinesis-mock (``tools`` and ``log_path`` from the instance's record, if it has one); None for
    any other error."""
    if not KINESIS_INSTALL_FAILED.search(message):
        return None
    missing = " and ".join(_missing(tools)) if tools is not None else ""
    if missing:
        why = f"{missing} {'was' if ' and ' not in missing else 'were'} not on the PATH LocalStack was started with"
    elif tools is not None:
        why = "npm could not install it: is the npm registry reachable? (needed once; it is then kept in the state folder)"
    else:
        why = "Node.js or npm is missing where LocalStack runs, or the npm registry was unreachable"
    log_hint = f" See {log_path}." if log_path else ""
    return (
        "Kinesis is unavailable: LocalStack could not install kinesis-mock (the npm package "
        f"kinesis-local), which it runs on Node.js for every Kinesis call. {why}. {NODE_FIX}."
        f"{log_hint} (LocalStack said: {message})"
    )


# -- the backend -----------------------------------------------------------------------------------
def filesystem_root(state_dir: Path) -> Path:
    """LocalStack's FILESYSTEM_ROOT: its var/lib (kinesis-mock's install), tmp and cache."""
    return state_dir / "fs"


class LocalStackBackend(Backend):
    """LocalStack 2026.3.0 as ``python -m localstack.runtime.main`` from its own environment."""

    name = "LocalStack"
    key = "localstack"
    log_name = "localstack.log"

    def version(self) -> str:
        return localstack_version()

    def command(self) -> list[str]:
        return [str(environment_python()), "-m", "localstack.runtime.main"]

    def prepare(self, state_dir: Path) -> None:
        filesystem_root(state_dir).mkdir(parents=True, exist_ok=True)

    def preflight(self, environment: Mapping[str, str]) -> list[str]:
        check_environment()
        reinstall = f"Reinstall it: `rm -rf {environment_dir()} && {SETUP_COMMAND}`"
        missing = missing_plugins()
        if missing:
            raise EmulatorError(
                f"eventlab's loopback plugins are not registered in LocalStack's environment "
                f"({', '.join(missing)}), and without them LocalStack listens on every "
                f"interface. {reinstall}."
            )
        warnings = []
        if not executor_registered():
            warnings.append(
                f"eventlab's Lambda executor is not registered in LocalStack's environment (entry "
                f"point {LAMBDA_EXECUTOR_NAME!r} missing): Lambda functions will not run. {reinstall}."
            )
        problem = node_problem(environment.get("PATH", ""))
        if problem:
            warnings.append(problem)
        return warnings

    def tools(self, environment: Mapping[str, str]) -> dict[str, str | None]:
        return node_tools(environment.get("PATH", ""))

    def tool_problems(self, tools: Mapping[str, str | None]) -> list[str]:
        problem = _missing_node_tools(tools)
        return [problem] if problem else []

    def environment(self, port: int, state_dir: Path) -> dict[str, str]:
        """The LocalStack settings that make it a quiet, offline, self-contained host process."""
        from eventlab.runtime import lambda_runtimes  # here: `python -m` runs that module itself

        root = filesystem_root(state_dir)
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
            "FILESYSTEM_ROOT": str(root),
            # Lambda code is unzipped under the temp folder; keep it in the state folder too.
            "TMPDIR": str(root / "tmp"),
            "PYTHONUNBUFFERED": "1",
            # Event source mappings poll SQS/Kinesis once a second and back off up to 10 s when
            # idle; AWS long-polls instead. Tighter settings keep the emulator's Lambda paths
            # from adding seconds of latency that AWS would not.
            "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "0.5",
            "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": "2",
            # Lambda handlers run as host processes (eventlab_localstack.lambda_executor), not in Docker.
            "LAMBDA_RUNTIME_EXECUTOR": LAMBDA_EXECUTOR_NAME,
            # ... each on the interpreter of its declared runtime, with AWS's runtime client.
            lambda_runtimes.RUNTIMES_SETTING: lambda_runtimes.setting_value(),
            # Idle must mean idle, and memory must stay flat across runs. By default SQS sends
            # CloudWatch metrics for every message (kept forever: about 4 KB a message, and
            # a backlog that kept LocalStack at half a core long after a 20,000-message run)
            # and publishes queue gauges every minute; no notebook reads them.
            "SQS_DISABLE_CLOUDWATCH_METRICS": "1",
            # kinesis-mock would dump its whole state (every record) to disk every 5 s and load
            # it again at the next start; the emulator's state is meant to live in memory only.
            "KINESIS_PERSISTENCE": "0",
            # ... and a kinesis-mock that holds no stream need not idle at ~110 MB (eventlab_localstack.kinesis_idle).
            KINESIS_IDLE_SETTING: str(KINESIS_IDLE_STOP_S),
        }

    def health(self, endpoint_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
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

    def exposed_fix(self) -> str:
        return (
            f"eventlab keeps every socket on {HOST} (GATEWAY_SERVER={GATEWAY_SERVER_NAME}, and a "
            "Node preload for kinesis-mock): check that nothing in the environment overrides "
            "GATEWAY_LISTEN or GATEWAY_SERVER, reinstall with `make setup`"
        )

    def explain_failure(self, message: str, tools: Mapping[str, str | None] | None, log_path: str | None) -> EmulatorError | None:
        explained = explain_kinesis_failure(message, tools, log_path)
        return KinesisBackendError(explained) if explained else None


class EmbeddedLocalStack(EmulatorProcess):
    """LocalStack as a child process on 127.0.0.1, with its state in ``build/localstack``.

    ``start()`` reuses a healthy instance recorded in the state folder (or waits for one that
    another process is starting), else launches one on ``port`` (else on the port of the last
    start if it is free, else on a free port) and waits until it is ready. ``stop()`` ends it and
    every process it started (kinesis-mock, Lambda handlers), but only if this object started
    it, unless ``force``.
    """

    backend = LocalStackBackend()

    @property
    def filesystem_root(self) -> Path:
        """LocalStack's FILESYSTEM_ROOT: its var/lib (kinesis-mock's install), tmp and cache."""
        return filesystem_root(self.state_dir)
