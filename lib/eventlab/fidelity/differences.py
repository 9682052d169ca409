"""The known differences between AWS and each backend: the one table of them.

``KNOWN_DIFFERENCES[backend][case id]`` is what that backend does instead of AWS's verdict
(in the verdict's own vocabulary) and why. The conformance suite holds it exact both ways: a
case that differs must be listed here with the same observation, and a listed case that now
agrees fails until its entry is removed. AWS's side of each row is the case itself
(:attr:`~eventlab.fidelity.model.Case.verdict` and its source).

A case that tests eventlab's own code, or that an eventlab LocalStack fix covers, is never
listed here for LocalStack: such a difference is a bug to fix (:func:`~eventlab.fidelity.model.judge`).
"""

from __future__ import annotations

from typing import Any

from eventlab.fidelity.model import Case, KnownDifference

KNOWN_DIFFERENCES: dict[str, dict[str, KnownDifference]] = {
    "localstack": {
        "kinesis.efo.resubscribe-within-5s": KnownDifference(
            observed="the second subscription is accepted",
            reason=(
                "LocalStack implements SubscribeToShard as a fresh read of the shard for every call and "
                "keeps no record of the consumer's open subscriptions, so nothing refuses a second one"
            ),
        ),
    },
    "aws": {},
}


def known_difference(backend: str, case_id: str) -> KnownDifference | None:
    """The backend's recorded difference for a case, if any."""
    return KNOWN_DIFFERENCES.get(backend, {}).get(case_id)


def rows(backend: str, cases: list[Case]) -> list[dict[str, Any]]:
    """The backend's known differences beside AWS's verdicts, one row per case, for tables."""
    by_id = {case.id: case for case in cases}
    out = []
    for case_id, known in sorted(KNOWN_DIFFERENCES.get(backend, {}).items()):
        case = by_id.get(case_id)
        out.append({
            "case": case_id,
            "service": case.service if case else "",
            "behaviour": case.behaviour if case else "",
            "aws": case.verdict if case else "",
            "source": case.source.where if case else "",
            backend: known.observed,
            "outcome": known.outcome,
            "reason": known.reason,
        })
    return out
