"""What a target receives: the ``Transformer`` (RAW, WITH_METADATA, JSONATA) and target parameters.

Both read one input object, which an expression sees as ``$events``::

    {"Data": ..., "Metadata": {...}, "SystemMetadata": {"aws:EventId": ..., ...}}

An expression is a whole string wrapped in ``{% %}``. Evaluation uses the ``jsonata`` package
(jsonata-python) when it is installed. Without it only paths are understood (``$events.Data.x``,
``$events.SystemMetadata.`aws:EventId```), which covers the usual group, deduplication and
partition keys; anything else is refused at create time with the fix named.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

try:  # optional: the workbook's environment has it (MiniStack depends on it)
    import jsonata as _jsonata
except ImportError:  # pragma: no cover - exercised only where jsonata-python is missing
    _jsonata = None

_EXPRESSION = re.compile(r"\{%([\s\S]+?)%\}")
_PATH = re.compile(r"\s*\$events((?:\.(?:`[^`]+`|[A-Za-z_$][\w$-]*))*)\s*")
_SEGMENT = re.compile(r"\.(?:`([^`]+)`|([A-Za-z_$][\w$-]*))")

JSON_CONTENT_TYPES = ("application/json", "application/eventbridge+json")


class TransformError(Exception):
    """An expression that throws or yields nothing; the delivery of that event fails."""


def expression(text: str) -> str | None:
    """The expression inside a fully delimited ``{% ... %}`` string, else None (a literal)."""
    match = _EXPRESSION.fullmatch(text)
    return match.group(1).strip() if match else None


def jsonata_available() -> bool:
    return _jsonata is not None


def check_expression(text: str, where: str) -> str | None:
    """The problem with an expression's syntax, in words, or None when it parses."""
    body = expression(text)
    if body is None:
        return None
    if _jsonata is not None:
        try:
            _jsonata.Jsonata(body)
        except Exception as error:  # noqa: BLE001 - jsonata raises its own RuntimeError subclasses
            return f"{where}: the JSONata expression does not parse: {error}"
        return None
    if _PATH.fullmatch(body) is None:
        return (
            f"{where}: eventlab evaluates only $events paths without the jsonata package; "
            "install jsonata-python to use full JSONata expressions"
        )
    return None


def evaluate(body: str, events: Mapping[str, Any]) -> Any:
    """The value of one expression against ``$events``; None when it yields nothing."""
    if _jsonata is not None:
        try:
            return _jsonata.Jsonata(body).evaluate(None, {"events": events})
        except Exception as error:  # noqa: BLE001
            raise TransformError(f"the JSONata expression failed: {error}") from None
    match = _PATH.fullmatch(body)
    if match is None:
        raise TransformError("the expression needs the jsonata package to be evaluated")
    node: Any = events
    for quoted, plain in _SEGMENT.findall(match.group(1)):
        if not isinstance(node, Mapping):
            return None
        node = node.get(quoted or plain)
        if node is None:
            return None
    return node


def render(value: str | None, events: Mapping[str, Any]) -> str | None:
    """A target parameter: a literal, or an expression's result as text (None if it yields nothing)."""
    if value is None:
        return None
    body = expression(value)
    if body is None:
        return value
    result = evaluate(body, events)
    if result is None:
        return None
    if isinstance(result, str):
        return result
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float) and result.is_integer():
        return str(int(result))
    if isinstance(result, int | float):
        return str(result)
    return json.dumps(result, separators=(",", ":"))


def data_value(content_type: str, data: bytes) -> Any:
    """The payload as ``$events.Data`` holds it: JSON keeps its type, other bytes are base64."""
    if content_type in JSON_CONTENT_TYPES:
        return json.loads(data)
    return base64.b64encode(data).decode("ascii")


def events_view(content_type: str, data: bytes, metadata: Mapping[str, str] | None,
                system_metadata: Mapping[str, str]) -> dict[str, Any]:
    """The three-part object WITH_METADATA delivers and expressions read as ``$events``."""
    return {
        "Data": data_value(content_type, data),
        "Metadata": dict(metadata or {}),
        "SystemMetadata": dict(system_metadata),
    }


def transformed(transformer: Mapping[str, Any] | None, view: Mapping[str, Any]) -> Any:
    """The value a target gets for one event (a JSON value; RAW octet-stream data as base64)."""
    kind = (transformer or {}).get("Type") or "RAW"
    if kind == "RAW":
        return view["Data"]
    if kind == "WITH_METADATA":
        return dict(view)
    body = expression(transformer["JsonataConfiguration"]["Expression"])  # type: ignore[index]
    result = evaluate(body or "", view)
    if result is None:
        raise TransformError("the JSONata transformer produced nothing for this event")
    return result


def as_text(value: Any, raw: bytes | None = None) -> str:
    """A delivered value as message text: strings as they are, other JSON as JSON text, and RAW
    JSON data exactly as it was published."""
    if raw is not None:
        return raw.decode("utf-8")
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
