"""Validate an event, or only its ``detail``, against a schema version, naming each bad field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema import Draft4Validator, FormatChecker

from eventlab.schemas.document import detail_schema, is_envelope, to_draft4


@dataclass(frozen=True)
class Problem:
    """One reason an event does not match its schema: the field (``detail.customer.id``) and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SchemaValidationError(ValueError):
    """An event does not match a schema; ``problems`` names each field that is wrong."""

    def __init__(self, schema: str, problems: list[Problem]) -> None:
        self.schema = schema
        self.problems = problems
        listed = "; ".join(str(p) for p in problems)
        super().__init__(f"event does not match schema {schema}: {listed}")


def _field(parts: list[Any], base: str) -> str:
    path = base
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path else str(part))
    return path or "(event)"


def _problem(error: jsonschema.ValidationError, base: str) -> Problem:
    parts = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = [k for k in error.validator_value if k not in instance]
        name = missing[0] if missing else "?"
        return Problem(_field([*parts, name], base), "required field is missing")
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Problem(_field(parts, base),
                       f"expected {expected}, got {type(instance).__name__} {instance!r:.60}")
    if error.validator == "format":
        return Problem(_field(parts, base), f"{instance!r:.60} is not a valid {error.validator_value}")
    return Problem(_field(parts, base), error.message)


def problems(event: Mapping[str, Any], content: str | Mapping[str, Any], *,
             schema_type: str | None = None, detail_only: bool = False) -> list[Problem]:
    """Every mismatch between ``event`` and the schema, most specific first; empty if it matches.

    ``event`` is a whole EventBridge event (envelope); with ``detail_only=True`` (or a schema
    that describes only the detail) it may also be the bare detail. Formats such as
    ``date-time`` are checked.
    """
    document = to_draft4(content, schema_type)
    base = ""
    target: Any = event
    if detail_only or not is_envelope(document):
        document = detail_schema(document)
        if "detail" in event and "detail-type" in event:
            target, base = event["detail"], "detail"
    validator = Draft4Validator(document, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(target), key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator)))
    found: list[Problem] = []
    for error in errors:
        leaves = _leaves(error)
        found.extend(_problem(e, base) for e in leaves)
    unique: dict[str, Problem] = {}
    for p in found:
        unique.setdefault(str(p), p)
    return list(unique.values())


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """The most specific errors under an allOf/oneOf error (the ones that name a field)."""
    if error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return _leaves(best) if best is not None else [error]
    return [error]


def validate(event: Mapping[str, Any], content: str | Mapping[str, Any], *, schema: str = "(schema)",
             schema_type: str | None = None, detail_only: bool = False) -> None:
    """Raise :class:`SchemaValidationError` naming every bad field, or return if ``event`` matches."""
    found = problems(event, content, schema_type=schema_type, detail_only=detail_only)
    if found:
        raise SchemaValidationError(schema, found)
