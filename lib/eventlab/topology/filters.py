"""Offline checks of the filters AWS applies to events: EventBridge event patterns and SNS filter policies.

Both grammars are JSON objects whose leaves are arrays of values or single-key operator
objects. Checking them locally lets ``apply()`` reject a malformed pattern before it creates
anything, with an error that points at the offending path.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from eventlab.services import events, sns

Flavor = Literal["eventbridge", "sns"]

_NUMERIC_OPS = {"<", "<=", "=", ">", ">="}
_SCHEDULE_RE = re.compile(
    r"rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)|cron\((\S+ ){5}\S+\)"
)
# The limits live with their services; these names stay for existing callers.
SNS_MAX_KEYS = sns.FILTER_POLICY_MAX_KEYS
SNS_MAX_COMBINATIONS = sns.FILTER_POLICY_MAX_COMBINATIONS


class PatternError(ValueError):
    """A pattern or policy that AWS would reject; the message names the path and the rule."""


# AWS's pages the grammar below follows (the conformance cases cite them one rule at a time).
EVENT_PATTERNS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html"
COMPARISON_OPERATORS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html"
FILTER_POLICY_CONSTRAINTS = "https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html"


def _string_or_ignore_case(value: Any, path: str, operator: str, flavor: Flavor) -> None:
    """``prefix``/``suffix`` take a string (the empty one too: it matches every string), and on
    EventBridge also ``{"equals-ignore-case": string}``."""
    if isinstance(value, str):
        return
    if (
        flavor == "eventbridge"
        and isinstance(value, Mapping)
        and set(value) == {"equals-ignore-case"}
        and isinstance(value["equals-ignore-case"], str)
    ):
        return
    also = " (or {\"equals-ignore-case\": string})" if flavor == "eventbridge" else ""
    raise PatternError(f"{path}: '{operator}' takes a string{also}")


def _check_wildcard(value: Any, path: str) -> None:
    """EventBridge's wildcard rules ("Matching using wildcards"): any number of '*', never two in
    a row; a backslash escapes only '*' (\\*) and itself (\\\\)."""
    if not isinstance(value, str):
        raise PatternError(f"{path}: 'wildcard' takes a string")
    previous_star = False
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            if index + 1 >= len(value) or value[index + 1] not in "*\\":
                raise PatternError(f"{path}: in a wildcard a backslash escapes only '*' and '\\' (write \\* or \\\\), at position {index}")
            index += 2
            previous_star = False
            continue
        if char == "*":
            if previous_star:
                raise PatternError(f"{path}: consecutive wildcard characters at position {index}; EventBridge does not support '**'")
            previous_star = True
        else:
            previous_star = False
        index += 1


def _check_cidr(value: Any, path: str) -> None:
    """An IP range as EventBridge and SNS take it: address/bits, with no host bits set."""
    try:
        if not isinstance(value, str) or not re.fullmatch(r"[^/]+/\d+", value):
            raise ValueError("write address/bits")
        ipaddress.ip_network(value)
    except ValueError as error:
        raise PatternError(f"{path}: 'cidr' takes an IP range like 10.0.0.0/24 ({error})") from None


def _check_numeric(value: Any, path: str, flavor: Flavor) -> None:
    if not isinstance(value, list) or len(value) not in (2, 4):
        raise PatternError(f"{path}: 'numeric' takes [op, number] or [op, number, op, number]")
    ops, numbers = value[0::2], value[1::2]
    for op, number in zip(ops, numbers, strict=True):
        if not isinstance(op, str) or op not in _NUMERIC_OPS:
            raise PatternError(f"{path}: numeric operator {op!r} is not one of {sorted(_NUMERIC_OPS)}")
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise PatternError(f"{path}: numeric bound {number!r} must be a finite number")
        low, high = sns.FILTER_POLICY_NUMERIC_RANGE
        if flavor == "sns" and not low <= number <= high:
            raise PatternError(f"{path}: numeric bound {number!r} is outside the {low:g} to {high:g} SNS filter policies take")
    if len(value) == 4:
        if ops[0] not in (">", ">=") or ops[1] not in ("<", "<="):
            raise PatternError(f"{path}: a numeric range is [\">\"|\">=\", low, \"<\"|\"<=\", high]")
        if numbers[0] >= numbers[1]:
            raise PatternError(f"{path}: numeric range low {numbers[0]} is not below high {numbers[1]}")


def _plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_anything_but(value: Any, path: str, flavor: Flavor) -> None:
    """anything-but takes a string, a number, or a non-empty list of strings or of numbers (not
    mixed, no null or boolean); or one operator: on SNS ``prefix``, on EventBridge ``prefix`` or
    ``suffix`` (a non-empty string), ``equals-ignore-case`` or ``wildcard`` (a string or a list)."""
    if isinstance(value, str) or _plain_number(value):
        return
    if isinstance(value, list):
        strings = all(isinstance(v, str) for v in value)
        numbers = all(_plain_number(v) for v in value)
        if not value or not (strings or numbers):
            raise PatternError(f"{path}: an 'anything-but' list holds strings or numbers, all of one kind (no null, boolean or mix)")
        return
    allowed = ("prefix", "suffix", "equals-ignore-case", "wildcard") if flavor == "eventbridge" else ("prefix",)
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in allowed:
        operator, inner = next(iter(value.items()))
        if operator in ("prefix", "suffix"):
            if isinstance(inner, str) and inner:
                return
            raise PatternError(f"{path}: 'anything-but' {operator} takes a non-empty string")
        values = inner if isinstance(inner, list) else [inner]
        if values and all(isinstance(v, str) for v in values):
            if operator == "wildcard":
                for v in values:
                    _check_wildcard(v, path)
            return
        raise PatternError(f"{path}: 'anything-but' {operator} takes a string or a non-empty list of strings")
    raise PatternError(f"{path}: 'anything-but' takes a value, a list, or one of {list(allowed)}")


def _check_operator(item: Mapping[str, Any], path: str, flavor: Flavor) -> None:
    if len(item) != 1:
        raise PatternError(f"{path}: an operator object has exactly one key, not {sorted(item)}")
    operator, value = next(iter(item.items()))
    if operator in ("prefix", "suffix"):
        _string_or_ignore_case(value, path, operator, flavor)
    elif operator == "equals-ignore-case":
        if not isinstance(value, str):
            raise PatternError(f"{path}: 'equals-ignore-case' takes a string")
    elif operator == "wildcard" and flavor == "eventbridge":
        _check_wildcard(value, path)
    elif operator == "anything-but":
        _check_anything_but(value, path, flavor)
    elif operator == "numeric":
        _check_numeric(value, path, flavor)
    elif operator == "exists":
        if not isinstance(value, bool):
            raise PatternError(f"{path}: 'exists' takes true or false")
    elif operator == "cidr":
        _check_cidr(value, path)
    else:
        raise PatternError(f"{path}: unknown operator {operator!r}")


def _check_values(values: Any, path: str, flavor: Flavor) -> int:
    """Check one leaf array; returns how many values it offers (for SNS's combination limit)."""
    if not isinstance(values, list):
        raise PatternError(f"{path}: a match must be an array of values, e.g. [\"a\"], not {values!r}")
    if not values:
        raise PatternError(f"{path}: an empty array matches nothing; remove the key or add values")
    for index, item in enumerate(values):
        where = f"{path}[{index}]"
        if isinstance(item, Mapping):
            _check_operator(item, where, flavor)
        elif isinstance(item, list):
            raise PatternError(f"{where}: arrays cannot be nested")
        elif not (item is None or isinstance(item, str | bool | int | float)):
            raise PatternError(f"{where}: a match value is a string, number, true, false, null or an operator object")
    return len(values)


def _check_object(node: Any, path: str, flavor: Flavor, depth: int) -> tuple[int, int]:
    """Check a (nested) object whose keys sit at nesting ``depth`` (1: the top level).

    Returns its keys as SNS counts them (the top-level ones; a ``$or`` counts as its largest
    branch) and its value combinations as SNS counts them: each array's values times the depth
    of its key, multiplied together, with the branches of a ``$or`` added up.
    """
    if not isinstance(node, Mapping) or not node:
        raise PatternError(f"{path or 'pattern'}: must be a non-empty JSON object")
    keys, combinations = 0, 1
    for key, value in node.items():
        where = f"{path}.{key}" if path else str(key)
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise PatternError(f"{where}: '$or' takes a list of at least two patterns")
            branches = [_check_object(branch, f"{where}[{i}]", flavor, depth) for i, branch in enumerate(value)]
            keys += max(b[0] for b in branches)
            combinations *= sum(b[1] for b in branches)
        elif isinstance(value, Mapping):
            _, inner_combinations = _check_object(value, where, flavor, depth + 1)
            keys += 1
            combinations *= inner_combinations
        else:
            keys += 1
            combinations *= _check_values(value, where, flavor) * depth
    return keys, combinations


def validate_event_pattern(pattern: Any, max_chars: int = events.EVENT_PATTERN_MAX_CHARS) -> None:
    """Raise :class:`PatternError` if EventBridge would reject this event pattern (a rule's by
    default; an archive's takes ``events.ARCHIVE_PATTERN_MAX_CHARS``)."""
    _check_object(pattern, "", "eventbridge", 1)
    size = len(events.pattern_json(pattern))
    if size > max_chars:
        raise PatternError(
            f"the pattern is {size} characters as JSON; EventBridge allows {max_chars} (the default "
            "event pattern size quota). Match on fewer values, or split the rule"
        )


def validate_filter_policy(policy: Any, scope: str = "MessageAttributes") -> None:
    """Raise :class:`PatternError` if SNS would reject this filter policy."""
    if scope not in ("MessageAttributes", "MessageBody"):
        raise PatternError(f"filter policy scope {scope!r}: use MessageAttributes or MessageBody")
    if scope == "MessageAttributes" and isinstance(policy, Mapping):
        nested = [k for k, v in policy.items() if isinstance(v, Mapping)]
        if nested:
            raise PatternError(
                f"{nested[0]}: nested keys need filter_policy_scope MessageBody; attribute "
                "policies are flat"
            )
    keys, combinations = _check_object(policy, "", "sns", 1)
    if keys > SNS_MAX_KEYS:
        raise PatternError(f"filter policy has {keys} keys; SNS allows at most {SNS_MAX_KEYS}")
    if combinations > SNS_MAX_COMBINATIONS:
        raise PatternError(
            f"filter policy allows {combinations} value combinations (each array's values times "
            f"its nesting depth, multiplied); SNS allows at most {SNS_MAX_COMBINATIONS}"
        )
    size = len(json.dumps(policy).encode())
    if size > sns.FILTER_POLICY_MAX_BYTES:
        raise PatternError(f"filter policy is {size} bytes as JSON; SNS allows {sns.FILTER_POLICY_MAX_BYTES}")


def validate_schedule(expression: str) -> None:
    """Raise :class:`PatternError` unless this is a valid ``rate(...)`` or ``cron(...)`` schedule."""
    if len(expression) > events.SCHEDULE_MAX_CHARS or not _SCHEDULE_RE.fullmatch(expression):
        raise PatternError(
            f"schedule {expression!r}: use rate(1 minute), rate(5 minutes), ... or a six-field "
            "cron(min hour day-of-month month day-of-week year)"
        )
