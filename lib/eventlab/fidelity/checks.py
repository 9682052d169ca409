"""A notebook's checks of behaviour a conformance case covers, judged against the one table.

Where a backend cannot do what a cell shows, the check neither fails nor passes silently: it
records the backend's known difference (:data:`~eventlab.fidelity.differences.KNOWN_DIFFERENCES`)
with what AWS does and why, and the checks cell shows and records that line::

    checks = eventlab.Checks("04-kinesis", tgt)
    checks.case("kinesis.reshard.parent-kept", parents_closed, "every child names a closed parent")

On a backend without a known difference for the case the check must hold (AssertionError with
its message); on one with it, it must not (a backend that now agrees fails until its row is
removed, as in the conformance suite).
"""

from __future__ import annotations

from eventlab.fidelity.cases import CASES
from eventlab.fidelity.differences import known_difference
from eventlab.target import Target

_BY_ID = {case.id: case for case in CASES}


def note(target: Target, case_id: str) -> str | None:
    """The line naming the backend's known difference for ``case_id`` and what AWS does, or None
    when the backend behaves as AWS does there."""
    if case_id not in _BY_ID:
        raise KeyError(f"no conformance case {case_id!r}: a known difference is one of eventlab.fidelity.CASES")
    known = known_difference(target.backend, case_id)
    if known is None:
        return None
    case = _BY_ID[case_id]
    return (
        f"known difference on {target.backend} ({case_id}): {case.behaviour}. AWS: {case.verdict} "
        f"({case.source.where}); {target.backend}: {known.observed}, because {known.reason}."
    )


def expect(target: Target, case_id: str, holds: bool, message: str) -> tuple[bool, str | None, str]:
    """Judge a claim AWS makes (``holds``) against the backend's known difference for the case:
    (whether it is as the table says, the difference's line or None, what is wrong if it is not).
    Without a difference the claim must hold; with one it must not (a backend that now agrees
    fails until its row is removed)."""
    line = note(target, case_id)
    if line is None:
        return bool(holds), None, message
    return not holds, line, (
        f"{case_id} now holds on {target.backend} ({message}), but is listed as a known difference: "
        f"remove it from KNOWN_DIFFERENCES[{target.backend!r}]"
    )


def check(target: Target, case_id: str, holds: bool, message: str) -> str | None:
    """Assert :func:`expect`; the difference's line, for the caller to show, or None."""
    ok, line, problem = expect(target, case_id, holds, message)
    assert ok, problem
    return line
