"""Every conformance case, one module per service; :data:`CASES` is all of them in order."""

from __future__ import annotations

from eventlab.fidelity.cases import (
    eventbridgev2,
    events,
    firehose,
    kinesis,
    lambda_,
    patterns,
    scheduler,
    sns,
    sqs,
)
from eventlab.fidelity.model import Case

CASES: list[Case] = [*events.CASES, *patterns.CASES, *eventbridgev2.CASES, *sns.CASES, *sqs.CASES, *firehose.CASES,
                     *kinesis.CASES, *lambda_.CASES, *scheduler.CASES]


def by_service() -> dict[str, list[Case]]:
    """The cases grouped by service, in :data:`CASES` order."""
    grouped: dict[str, list[Case]] = {}
    for case in CASES:
        grouped.setdefault(case.service, []).append(case)
    return grouped
