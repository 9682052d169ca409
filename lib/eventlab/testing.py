"""pytest fixtures: one embedded emulator per test session, and a clean-up-checked run per test.

Registered as a pytest plugin by entry point, so any test in this environment can ask for
``emulator``, ``target`` or ``run``::

    def test_queue(run):
        queue = sqs.create_queue(run, "orders")   # deleted after the test, leaks checked

The session's backend is ``EVENTLAB_BACKEND`` (``localstack`` by default, or ``ministack``). A test
that is about one backend only is marked ``@pytest.mark.backend("localstack")`` and skipped, with
the reason, on the other.

Under pytest-xdist (``-n 2``) the workers share one emulator: :func:`share_emulator`, called by
the integration tests' conftest, starts it in the controlling process before the workers, each
worker's ``emulator`` fixture reuses it, and the controller stops it when all are done. Tests
share it as they share it with a learner's Lab: every run has its own names, and nothing restarts
it (the one case that restarts an eventbridgev2 server starts its own).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from eventlab.run import Run
from eventlab.runtime import EmulatorProcess, backend_name, emulator_class
from eventlab.target import Target


def session_backend() -> str:
    """The backend this test session runs on (``EVENTLAB_BACKEND``, default ``localstack``)."""
    return backend_name(None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backend(name, reason=...): the test is about one backend; skipped on the others"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip a test marked for another backend than the session's, saying which and why."""
    backend = session_backend()
    for item in items:
        marker = item.get_closest_marker("backend")
        if marker is None or backend in marker.args:
            continue
        why = marker.kwargs.get("reason", "it tests that backend's own behaviour")
        item.add_marker(pytest.mark.skip(reason=f"{'/'.join(marker.args)} only ({why}); this session runs {backend}"))


def _distributed(config: pytest.Config) -> bool:
    """True in pytest-xdist's controlling process when it hands the tests to workers."""
    if hasattr(config, "workerinput"):
        return False
    workers = getattr(config.option, "numprocesses", None)
    return bool(workers) and getattr(config.option, "dist", "no") != "no"


def _session_emulator() -> EmulatorProcess:
    timeout = float(os.environ.get("EVENTLAB_START_TIMEOUT", "120"))
    return emulator_class(session_backend())(start_timeout=timeout)


def share_emulator(config: pytest.Config) -> None:
    """Under pytest-xdist, start the session's emulator once, in the controller, before any worker
    (so no worker owns it and none stops it under another's tests), and stop it at the end."""
    if not _distributed(config):
        return
    from eventlab.leaks import reap_orphaned_runs
    from eventlab.runtime import EmulatorError

    runtime = _session_emulator()
    try:
        runtime.start()
    except EmulatorError as error:
        raise pytest.UsageError(f"the tests' {runtime.backend.name} did not start: {error}") from error

    def stop() -> None:
        try:
            reap_orphaned_runs()
        finally:
            runtime.stop()

    config.add_cleanup(stop)
    reap_orphaned_runs()


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    """The session's embedded emulator (``EVENTLAB_BACKEND``), started once for the session (or
    reused if already running).

    Before and after the session, runs whose process died without cleaning up (a notebook
    kernel that was killed, an earlier session that was) are deleted: see eventlab.journal.
    """
    from eventlab.leaks import reap_orphaned_runs

    runtime = _session_emulator()
    runtime.start()  # a worker's: reuses the controller's (see share_emulator), stops nothing
    try:
        reap_orphaned_runs()
        yield runtime
        reap_orphaned_runs()
    finally:
        runtime.stop()


@pytest.fixture(scope="session")
def localstack(emulator: EmulatorProcess) -> EmulatorProcess:
    """The session's emulator when it is LocalStack, for tests of LocalStack's own runtime
    (marked ``backend("localstack")``); skipped on another backend."""
    if emulator.backend.key != "localstack":
        pytest.skip(f"needs the LocalStack session; this one runs {emulator.backend.key}")
    return emulator


@pytest.fixture(scope="session")
def target(emulator: EmulatorProcess) -> Target:
    """A target on the session's embedded emulator."""
    region = emulator.record.region if emulator.record is not None else emulator.region
    return Target.emulator(emulator.endpoint_url, backend=emulator.backend.key, region=region)


@pytest.fixture
def run(target: Target) -> Iterator[Run]:
    """A fresh run for one test; afterwards its resources are deleted and nothing may be left,
    and every socket of the emulator (kinesis-mock, Lambda handlers included) is on loopback."""
    with Run(target) as the_run:
        yield the_run
    leaks = the_run.leaks()
    assert not leaks, f"run {the_run.run_id} left resources behind: {leaks}"
    target.check_emulator()
