"""What a conformance case is, where its verdict comes from, and how an outcome is judged.

A :class:`Case` states one behaviour the notebooks teach, AWS's verdict on it (the observable
outcome, as a short string such as ``"accepted"`` or ``"1 object holding 15 records"``), the
:class:`Source` of that verdict, and a check: a function that does the same thing on a
:class:`~eventlab.run.Run` and returns what the backend did, in the verdict's vocabulary.

The judgement (:func:`judge`) compares the two and looks the case up in the backend's known
differences (:mod:`eventlab.fidelity.differences`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from eventlab.run import Run

Outcome = Literal["agrees", "differs", "unsupported"]
Subject = Literal["backend", "eventlab"]
RECORDED_DIR = "data/fidelity/recorded"  # responses recorded from AWS, relative to the project root


@dataclass(frozen=True)
class Source:
    """Where AWS's verdict comes from: a documentation page and what it says (paraphrased), or
    a response recorded from AWS (a file under :data:`RECORDED_DIR`)."""

    says: str
    url: str = ""
    recorded: str = ""

    def __post_init__(self) -> None:
        if bool(self.url) == bool(self.recorded):
            raise ValueError(f"a source is a documentation URL or a recorded response, not both or neither: {self}")
        if self.url and not self.url.startswith("https://docs."):
            raise ValueError(f"source {self.url!r}: cite an AWS documentation page (https://docs....)")

    @property
    def where(self) -> str:
        return self.url or f"{RECORDED_DIR}/{self.recorded}"


def doc(url: str, says: str) -> Source:
    """A verdict taken from an AWS documentation page; ``says`` paraphrases the sentence it rests on."""
    return Source(says=says, url=url)


def recorded(path: str, says: str) -> Source:
    """A verdict taken from a response recorded from AWS, stored under :data:`RECORDED_DIR`."""
    return Source(says=says, recorded=path)


class Unsupported(Exception):
    """Raised by a check when the backend lacks the API or feature the case needs."""


Check = Callable[[Run], str]


@dataclass(frozen=True)
class Case:
    """One behaviour, AWS's verdict on it, and the check that asks a backend the same.

    ``subject`` says what is under test: ``"backend"`` (the emulator, or AWS itself) or
    ``"eventlab"`` (eventlab's own code, such as its offline validators, which must always
    agree). ``fixed_by`` names the eventlab LocalStack fix (``eventlab_localstack.fixes``) the
    case relies on: on LocalStack such a case must agree, never be a known difference.
    ``creates`` False says the check makes no resource, so the suite spares it a leak check.
    """

    id: str
    service: str
    behaviour: str
    verdict: str
    source: Source
    check: Check
    subject: Subject = "backend"
    fixed_by: str = ""
    creates: bool = True  # False: the check makes no resource (offline, or TestEventPattern)

    def __post_init__(self) -> None:
        if not self.id.startswith(f"{self.service}."):
            raise ValueError(f"case {self.id!r}: its id starts with its service ({self.service}.)")


@dataclass(frozen=True)
class KnownDifference:
    """A case a backend gets wrong, on purpose recorded: what it does instead, and why.

    ``outcome`` is ``"differs"`` (``observed`` is what the backend does, in the verdict's
    vocabulary) or ``"unsupported"`` (the backend lacks the feature; ``observed`` says which).
    AWS's side is the case's own verdict and source.
    """

    observed: str
    reason: str
    outcome: Outcome = "differs"


@dataclass
class Result:
    """What one case did on one backend, and whether that is acceptable."""

    case: Case
    backend: str
    outcome: Outcome | Literal["error"]
    observed: str
    seconds: float
    known: KnownDifference | None = None
    problem: str = ""  # empty when the outcome is acceptable; else why the suite fails

    @property
    def ok(self) -> bool:
        return not self.problem

    def as_dict(self) -> dict[str, Any]:
        """The result as the JSON the runner writes (and the fidelity matrix reads)."""
        case = self.case
        return {
            "id": case.id,
            "service": case.service,
            "behaviour": case.behaviour,
            "subject": case.subject,
            "fixed_by": case.fixed_by or None,
            "aws": case.verdict,
            "source": {"url": case.source.url or None, "recorded": case.source.recorded or None, "says": case.source.says},
            "backend": self.backend,
            "outcome": self.outcome,
            "observed": self.observed,
            "known_difference": None if self.known is None else {"observed": self.known.observed, "reason": self.known.reason},
            "ok": self.ok,
            "problem": self.problem or None,
            "seconds": round(self.seconds, 3),
        }


def eventlabs_own(case: Case, backend: str) -> bool:
    """Whether a wrong answer would be eventlab's own bug: its offline code, or a LocalStack fix."""
    return case.subject == "eventlab" or (bool(case.fixed_by) and backend == "localstack")


def judge(case: Case, backend: str, observed: str, outcome: Outcome, known: KnownDifference | None) -> str:
    """Why this outcome fails the suite, or ``""`` when it is acceptable.

    Agreement is acceptable unless the backend still lists the case as a known difference (it
    was fixed: the table must say so). A difference or a missing feature is acceptable only as
    the backend's known difference with the same outcome and observation, and never when the
    case tests eventlab's own code.
    """
    if outcome == "agrees":
        if known is not None:
            return (f"{case.id} now agrees with AWS on {backend}, but is still listed as a known difference "
                    f"({known.observed!r}): remove it from KNOWN_DIFFERENCES[{backend!r}]")
        return ""
    did = "lacks the feature" if outcome == "unsupported" else "does something else"
    if eventlabs_own(case, backend):
        what = f"eventlab's fix {case.fixed_by!r}" if case.subject == "backend" else "eventlab's own code"
        return f"{case.id}: AWS gives {case.verdict!r}, {backend} {did}: {observed!r}. This is {what}: fix it, it cannot be a known difference"
    if known is None:
        return (f"{case.id}: AWS gives {case.verdict!r}, {backend} {did}: {observed!r}. Fix it, or record it in "
                f"KNOWN_DIFFERENCES[{backend!r}] with its reason")
    if known.outcome != outcome or known.observed != observed:
        return (f"{case.id}: {backend} now gives {observed!r} ({outcome}); its known difference says "
                f"{known.observed!r} ({known.outcome}): update KNOWN_DIFFERENCES[{backend!r}]")
    return ""


def canonical(body: str) -> str:
    """A message body in a comparable form: JSON objects and arrays with sorted keys and one
    space after separators, anything else (a JSON string literal included) exactly as sent."""
    try:
        value = json.loads(body)
    except (TypeError, ValueError):
        return body
    return as_json(value) if isinstance(value, dict | list) else body


def as_json(value: Any) -> str:
    """A JSON value written the way :func:`canonical` writes bodies (for verdicts)."""
    return json.dumps(value, sort_keys=True)
