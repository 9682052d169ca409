"""Fidelity: what AWS does, checked against each backend, case by case.

A conformance :class:`Case` is plain data and a function: the behaviour a notebook teaches,
AWS's verdict (the observable outcome, in a few words), the :class:`Source` of that verdict
(an AWS documentation page and what it says, or a response recorded from AWS), and a check
that does the same on a :class:`~eventlab.run.Run` and returns what the backend did, in the
verdict's words. :func:`run_case` judges the answer: it agrees, differs, or the backend lacks
the feature (the check raises :class:`Unsupported`). A backend's differences from AWS are
data: one table, :data:`KNOWN_DIFFERENCES`, with the reason for each.

Adding a case takes a few lines in the service's module under ``eventlab/fidelity/cases/``::

    Case("events.replay.filter-arns", "events", "a replay with FilterArns reaches only those rules",
         "chosen rule: 1 replayed; other rule: 0 replayed",
         doc(REPLAY_DESTINATION, "FilterArns is the list of ARNs of the rules to replay events to."),
         replay_filter_arns)

where ``replay_filter_arns(run) -> str`` builds what it needs with the run's names (the run
deletes it afterwards) and describes what happened. Helpers in each module (for example
``transformer_case``) turn a family of cases into one line each. ``tests/integration/
test_conformance.py`` runs every case on the session's backend; ``python -m eventlab.fidelity``
runs them outside pytest. Both write ``build/fidelity/<backend>.json``.
"""

from __future__ import annotations

from eventlab.fidelity.cases import CASES
from eventlab.fidelity.differences import KNOWN_DIFFERENCES, known_difference
from eventlab.fidelity.model import (
    Case,
    KnownDifference,
    Result,
    Source,
    Unsupported,
    doc,
    judge,
    recorded,
)
from eventlab.fidelity.runner import backend_of, run_case, run_cases, write_results

__all__ = [
    "CASES",
    "KNOWN_DIFFERENCES",
    "Case",
    "KnownDifference",
    "Result",
    "Source",
    "Unsupported",
    "backend_of",
    "doc",
    "judge",
    "known_difference",
    "recorded",
    "run_case",
    "run_cases",
    "write_results",
]
