"""The embedded LocalStack: LocalStack 2026.3.0 run as a host process on 127.0.0.1, no Docker,
no account; one backend of the process manager (:mod:`eventlab.runtime.process`).

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

import importlib.metadata
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

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

# The names callers and the README know; the errors are the process manager's, for any backend.
LocalStackError = EmulatorError
LocalStackStartError = EmulatorStartError
LocalStackTimeoutError = EmulatorTimeoutError


class KinesisBackendError(EmulatorError):
    """LocalStack could not start kinesis-mock, the program behind its Kinesis API."""


class InterpreterError(EmulatorError):
    """The running Python cannot run LocalStack 2026.3.0."""


# -- the installation ----------------------------------------------------------------------------
def localstack_version() -> str:
    """The installed LocalStack release, as recorded with every result."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
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
    """LocalStack 2026.3.0 as ``python -m localstack.runtime.main`` on this interpreter."""

    name = "LocalStack"
    key = "localstack"
    log_name = "localstack.log"

    def version(self) -> str:
        return localstack_version()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "localstack.runtime.main"]

    def prepare(self, state_dir: Path) -> None:
        filesystem_root(state_dir).mkdir(parents=True, exist_ok=True)

    def preflight(self, environment: Mapping[str, str]) -> list[str]:
        check_interpreter()
        missing = missing_plugins()
        if missing:
            raise EmulatorError(
                "eventlab's loopback plugins are not registered in this environment "
                f"({', '.join(missing)}), and without them LocalStack listens on every "
                "interface. Reinstall the project (`make setup`, or `pip install --no-deps -e .`)."
            )
        warnings = []
        if not executor_registered():
            warnings.append(
                f"eventlab's Lambda executor is not registered in this environment (entry point "
                f"{LAMBDA_EXECUTOR_NAME!r} missing): Lambda functions will not run. Reinstall the "
                "project (`make setup`, or `pip install --no-deps -e .`)."
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
