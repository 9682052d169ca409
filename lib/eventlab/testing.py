"""pytest fixtures: one embedded LocalStack per test session, and a clean-up-checked run per test.

Registered as a pytest plugin by entry point, so any test in this environment can ask for
``localstack``, ``target`` or ``run``::

    def test_queue(run):
        queue = sqs.create_queue(run, "orders")   # deleted after the test, leaks checked
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from eventlab.run import Run
from eventlab.runtime import EmbeddedLocalStack
from eventlab.target import Target


@pytest.fixture(scope="session")
def localstack() -> Iterator[EmbeddedLocalStack]:
    """The embedded LocalStack, started once for the session (or reused if already running).

    Before and after the session, runs whose process died without cleaning up (a notebook
    kernel that was killed, an earlier session that was) are deleted: see eventlab.journal.
    """
    from eventlab.leaks import reap_orphaned_runs

    timeout = float(os.environ.get("EVENTLAB_START_TIMEOUT", "120"))
    runtime = EmbeddedLocalStack(start_timeout=timeout)
    runtime.start()
    try:
        reap_orphaned_runs()
        yield runtime
        reap_orphaned_runs()
    finally:
        runtime.stop()


@pytest.fixture(scope="session")
def target(localstack: EmbeddedLocalStack) -> Target:
    """A target on the session's embedded LocalStack."""
    return Target.localstack(localstack.endpoint_url)


@pytest.fixture
def run(target: Target) -> Iterator[Run]:
    """A fresh run for one test; afterwards its resources are deleted and nothing may be left,
    and every socket of the emulator (kinesis-mock, Lambda handlers included) is on loopback."""
    with Run(target) as the_run:
        yield the_run
    leaks = the_run.leaks()
    assert not leaks, f"run {the_run.run_id} left resources behind: {leaks}"
    target.check_emulator()
