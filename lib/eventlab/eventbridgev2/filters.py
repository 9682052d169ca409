"""A subscriber's ``FilterConfiguration``: its rules on create and update, and matching an event.

From AWS's Custom Event Bus guide ("Filtering events for a subscriber"): filters are ANDed, at
most one per scope; ``DATA`` looks at the payload (for ``PutEvents`` the classic envelope, your
``Detail`` under ``detail``), ``METADATA`` at a ``PutRawEvents`` entry's own metadata (exact
values only), ``SYSTEM_METADATA`` at the fields EventBridge assigns (``aws:Source``,
``EventGroupId``, ...). Subscriber filters support every pattern operator except wildcards. A
``PutEvents`` event has no metadata, so a ``METADATA`` filter never matches it; an
``application/octet-stream`` event has no data a filter can read, so a ``DATA`` filter never
matches it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eventlab.eventbridgev2.errors import invalid_input
from eventlab.eventbridgev2.matcher import matches
from eventlab.topology.filters import PatternError, validate_event_pattern

SCOPES = ("DATA", "METADATA", "SYSTEM_METADATA")


def _walk_operators(node: Any) -> list[str]:
    """Every operator name used in a parsed pattern (including those inside anything-but)."""
    found: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$or" and isinstance(value, list):
                for branch in value:
                    found.extend(_walk_operators(branch))
            elif isinstance(value, Mapping):
                found.extend(_walk_operators(value))
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, Mapping):
                        for operator, argument in item.items():
                            found.append(operator)
                            if isinstance(argument, Mapping):
                                found.extend(argument)
    return found


def _check_metadata_pattern(pattern: Mapping[str, Any], where: str) -> None:
    for key, values in pattern.items():
        if key == "$or":
            raise invalid_input(f"{where}: a METADATA filter does not support $or; filter on DATA or SYSTEM_METADATA")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise invalid_input(
                f"{where}: a METADATA filter matches exact values only: each key takes a JSON array "
                f"of strings (key {key!r}); use a DATA or SYSTEM_METADATA filter for operators"
            )


def check_filter_configuration(config: Mapping[str, Any], *, on_create: bool) -> list[dict[str, Any]] | None:
    """The parsed filters of a FilterConfiguration, or None when it clears the filter.

    On create a supplied configuration needs at least one filter; on update ``{}`` clears the
    existing filter, and any other non-empty shape follows the create rules.
    """
    if not config:
        if on_create:
            raise invalid_input(
                "FilterConfiguration: Filters is required and must contain at least one Filter with "
                "a non-empty Pattern; omit FilterConfiguration to receive every event"
            )
        return None
    filters = config.get("Filters")
    if not filters:
        raise invalid_input(
            "FilterConfiguration: Filters is required and must contain at least one Filter with a "
            "non-empty Pattern"
        )
    seen: set[str] = set()
    parsed: list[dict[str, Any]] = []
    for index, item in enumerate(filters):
        where = f"FilterConfiguration.Filters[{index}]"
        scope, text = item["Scope"], item["Pattern"]
        if scope in seen:
            raise invalid_input(f"{where}: a subscriber can have at most one filter per scope; {scope} appears twice")
        seen.add(scope)
        if not text.strip():
            raise invalid_input(f"{where}.Pattern: the pattern must not be empty")
        try:
            pattern = json.loads(text)
        except ValueError as error:
            raise invalid_input(f"{where}.Pattern: not valid JSON ({error})") from None
        try:
            validate_event_pattern(pattern)
        except PatternError as error:
            raise invalid_input(f"{where}.Pattern: {error}") from None
        operators = _walk_operators(pattern)
        if "wildcard" in operators:
            raise invalid_input(f"{where}.Pattern: subscriber filters do not support wildcard matching")
        if scope == "METADATA":
            _check_metadata_pattern(pattern, f"{where}.Pattern")
        parsed.append({"Scope": scope, "Pattern": pattern})
    return parsed


def event_matches(filters: list[dict[str, Any]] | None, *, data: Any, has_data: bool,
                  metadata: Mapping[str, str] | None, system_metadata: Mapping[str, str]) -> bool:
    """True when the event matches every filter (no filters: every event matches)."""
    for item in filters or ():
        scope, pattern = item["Scope"], item["Pattern"]
        if scope == "DATA":
            if not has_data or not matches(pattern, data):
                return False
        elif scope == "METADATA":
            if metadata is None or not matches(pattern, dict(metadata)):
                return False
        elif not matches(pattern, dict(system_metadata)):
            return False
    return True
