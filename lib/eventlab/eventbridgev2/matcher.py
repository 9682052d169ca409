"""EventBridge event pattern matching, as AWS documents it and as AWS's Event Ruler implements it.

Pure functions, no I/O: ``matches(pattern, event)`` says whether one event matches one parsed
pattern. Validity is not this module's business: patterns are checked first by
:func:`eventlab.topology.filters.validate_event_pattern`, so here every pattern is assumed
valid and only the matching rules are encoded. The rules (EventBridge user guide, "Event
patterns", "Comparison operators", "Arrays in event patterns", "Null values and empty strings";
``aws/event-ruler``'s README and ``ByteMachine``):

- A pattern is an object. Every field it names must match (AND); a field matches when the event's
  value matches any entry of the pattern's array (OR). ``$or`` takes two or more sub-patterns at
  the same level, of which one must match.
- Exact values compare by JSON type: ``"5"`` never matches ``5``; numbers compare by value
  (``300`` matches ``300.0`` and ``3e2``); ``true``, ``false`` and ``null`` match themselves only;
  ``""`` matches the empty string. A string that is an IP address matches the same address in
  another spelling (Event Ruler turns it into a one-address range).
- When the event's value is an array, the field matches if any element does. Objects inside arrays
  are matched element by element: two fields matched in different elements of the same array do
  not combine (Event Ruler's array-consistent ``rulesForJSONEvent``).
- ``prefix``, ``suffix`` (each also with ``equals-ignore-case``), ``equals-ignore-case`` and
  ``wildcard`` apply to strings only; ``numeric`` to JSON numbers only; ``cidr`` to strings that
  are IP addresses (IPv4 or IPv6).
- ``anything-but`` (a value, a list, or a ``prefix``/``suffix``/``equals-ignore-case``/
  ``wildcard`` form) matches any present leaf value the inner condition does not match, values of
  other types included (``anything-but: "x"`` matches ``5`` and ``null``); it never matches an
  absent field.
- ``exists`` looks at leaf values only: ``true`` matches a field holding a scalar or ``null``
  (or an array holding one), ``false`` matches a field that is absent, holds only objects, or is
  an empty array.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

_MISSING = object()
_IGNORE_CASE = "equals-ignore-case"


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """True when ``event`` (parsed JSON) matches the parsed event ``pattern``."""
    if isinstance(event, Mapping):
        return _match_object(pattern, event)
    if isinstance(event, list):
        objects = list(_objects(event))
        if objects:
            return any(_match_object(pattern, item) for item in objects)
    return _match_object(pattern, {})


def _is_or(key: str, value: Any) -> bool:
    return key == "$or" and isinstance(value, list) and len(value) >= 2 and all(
        isinstance(branch, Mapping) for branch in value
    )


def _match_object(pattern: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    for key, sub in pattern.items():
        if _is_or(key, sub):
            if not any(_match_object(branch, node) for branch in sub):
                return False
            continue
        value = node.get(key, _MISSING)
        if isinstance(sub, Mapping):
            if not _match_nested(sub, value):
                return False
        elif not _match_leaf(sub, value):
            return False
    return True


def _match_nested(sub: Mapping[str, Any], value: Any) -> bool:
    if isinstance(value, Mapping):
        return _match_object(sub, value)
    if isinstance(value, list):
        objects = list(_objects(value))
        if objects:
            return any(_match_object(sub, item) for item in objects)
    # Absent, a scalar, or an array without objects: no field below this one exists.
    return _match_object(sub, {})


def _objects(values: list[Any]) -> Iterator[Mapping[str, Any]]:
    for item in values:
        if isinstance(item, Mapping):
            yield item
        elif isinstance(item, list):
            yield from _objects(item)


def _leaves(value: Any) -> list[Any]:
    if value is _MISSING or isinstance(value, Mapping):
        return []
    if isinstance(value, list):
        result: list[Any] = []
        for item in value:
            if isinstance(item, list):
                result.extend(_leaves(item))
            elif not isinstance(item, Mapping):
                result.append(item)
        return result
    return [value]


def _match_leaf(items: Any, value: Any) -> bool:
    leaves = _leaves(value)
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, Mapping) and "exists" in item:
            if bool(item["exists"]) == bool(leaves):
                return True
            continue
        if any(_match_value(item, leaf) for leaf in leaves):
            return True
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _exact(expected: Any, value: Any) -> bool:
    if isinstance(expected, str):
        if not isinstance(value, str):
            return False
        if expected == value:
            return True
        left, right = _ip(expected), _ip(value)
        return left is not None and right is not None and left == right
    if expected is None:
        return value is None
    if isinstance(expected, bool):
        return isinstance(value, bool) and value is expected
    if _is_number(expected):
        return _is_number(value) and float(value) == float(expected)
    return False


@cache
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    """``*`` is any run of characters; ``\\*`` a literal star and ``\\\\`` a literal backslash."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "*\\":
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _fold(text: str) -> str:
    return text.casefold()


def _string_test(operator: str, argument: Any, value: Any) -> bool:
    """``prefix``/``suffix``/``equals-ignore-case``/``wildcard`` on one value; strings only."""
    if not isinstance(value, str):
        return False
    ignore_case = isinstance(argument, Mapping)
    text = argument[_IGNORE_CASE] if ignore_case else argument
    if operator == "prefix":
        return _fold(value).startswith(_fold(text)) if ignore_case else value.startswith(text)
    if operator == "suffix":
        return _fold(value).endswith(_fold(text)) if ignore_case else value.endswith(text)
    if operator == _IGNORE_CASE:
        return _fold(value) == _fold(text)
    if operator == "wildcard":
        return _wildcard_regex(text).fullmatch(value) is not None
    return False


_COMPARE = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric(conditions: list[Any], value: Any) -> bool:
    if not _is_number(value):
        return False
    number = float(value)
    return all(
        _COMPARE[op](number, float(bound)) for op, bound in zip(conditions[0::2], conditions[1::2], strict=True)
    )


def _cidr(network: str, value: Any) -> bool:
    address = _ip(value)
    if address is None:
        return False
    net = ipaddress.ip_network(network, strict=False)
    return address.version == net.version and address in net


def _anything_but(argument: Any, value: Any) -> bool:
    if isinstance(argument, Mapping):
        operator, inner = next(iter(argument.items()))
        candidates = inner if isinstance(inner, list) else [inner]
        return not any(_string_test(operator, candidate, value) for candidate in candidates)
    candidates = argument if isinstance(argument, list) else [argument]
    return not any(_exact(candidate, value) for candidate in candidates)


def _match_value(item: Any, value: Any) -> bool:
    if not isinstance(item, Mapping):
        return _exact(item, value)
    operator, argument = next(iter(item.items()))
    if operator in ("prefix", "suffix", _IGNORE_CASE, "wildcard"):
        return _string_test(operator, argument, value)
    if operator == "anything-but":
        return _anything_but(argument, value)
    if operator == "numeric":
        return _numeric(argument, value)
    if operator == "cidr":
        return _cidr(argument, value)
    return False
