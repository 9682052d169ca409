"""The conformance suite: every fidelity case on the session's backend, judged against AWS.

A case passes when the backend agrees with AWS's verdict, or differs exactly as its known
difference says (``eventlab.fidelity.differences``). It fails when the backend does something
new (fixed or newly broken: update the table), when a listed case now agrees, and always when
eventlab's own code is wrong (its offline checks, its LocalStack fixes). The results are
written to ``build/fidelity/<backend>.json``, and the fidelity matrix of every backend's latest
results to ``build/fidelity/matrix.json`` and ``.md``.

``EVENTLAB_LOCALSTACK_FIXES=none`` (with a fresh emulator: ``eventlab down`` first) shows
LocalStack as released: every case that one of eventlab's fixes covers then fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eventlab.fidelity import CASES, Case, Result, backend_of, run_case, write_results
from eventlab.fidelity.matrix import write_from_results
from eventlab.run import Run
from eventlab.runtime.companions import COMPANIONS
from eventlab.target import Target

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def results(target: Target) -> Iterator[list[Result]]:
    """The results of the cases this session ran, written out once they have all run."""
    collected: list[Result] = []
    yield collected
    if collected:  # a full session replaces the backend's results; a -k selection merges into them
        write_results(collected, backend_of(target), target=target, merge=len(collected) < len(CASES))
        write_from_results(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case, target: Target, request: pytest.FixtureRequest, results: list[Result]) -> None:
    """A case that makes resources runs in the ``run`` fixture (deleted, then checked for
    leaks); one that makes none (offline, TestEventPattern) in a plain run, sparing the check."""
    companion = COMPANIONS.get(case.service)
    problem = companion.unavailable() if companion is not None else None
    if problem:  # a service eventlab serves itself, which this environment's botocore cannot
        pytest.skip(problem)
    if case.creates:
        result = run_case(case, request.getfixturevalue("run"))
    else:
        with Run(target) as run:
            result = run_case(case, run)
            assert not run.resources, f"{case.id} says it creates nothing, but made {run.resources}"
    results.append(result)
    assert result.ok, result.problem
