"""botocore's ``eventbridgev2`` service model: loading it, and checking requests against its shapes.

The server is driven by AWS's own model (2025-05-15): operation names, required members, enums,
lengths, ranges and patterns all come from it, and a request that breaks them is refused with
AWS's ``InvalidInputException`` in AWS's validation wording (``1 validation error detected:
Value 'x' at 'name' failed to satisfy constraint: ...``), before any operation code runs.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from eventlab.runtime.companions import EVENTBRIDGEV2

log = logging.getLogger(__name__)

SERVICE_NAME = "eventbridgev2"
API_VERSION = "2025-05-15"
MAX_REPORTED_ERRORS = 10


class ModelUnavailableError(RuntimeError):
    """The installed botocore does not ship the eventbridgev2 model."""


@functools.cache
def load_service_model() -> ServiceModel:
    """The eventbridgev2 model from the installed botocore (loaded once, on first use)."""
    import botocore
    import botocore.session
    from botocore.exceptions import DataNotFoundError, UnknownServiceError

    try:
        model = botocore.session.get_session().get_service_model(SERVICE_NAME)
    except (UnknownServiceError, DataNotFoundError):
        raise ModelUnavailableError(EVENTBRIDGEV2.unavailable() or f"botocore has no {SERVICE_NAME} model") from None
    if model.metadata.get("protocol") != "smithy-rpc-v2-cbor":
        raise ModelUnavailableError(
            f"this botocore describes {SERVICE_NAME} with protocol "
            f"{model.metadata.get('protocol')!r}; eventlab's server speaks smithy-rpc-v2-cbor "
            f"(API version {API_VERSION})."
        )
    return model


def _camel(name: str) -> str:
    """AWS's validation messages name members in lowerCamelCase (``invokeConfiguration``)."""
    return name[:1].lower() + name[1:]


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _quote(value: Any) -> str:
    return "null" if value is None else f"'{value}'"


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


class RequestValidator:
    """Checks one decoded request against its input shape and converts timestamps to datetimes.

    ``check()`` returns the problems found, in AWS's wording; an empty list means the request
    satisfies the model. Unknown members are ignored, as AWS does.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []

    def check(self, shape: StructureShape, value: Any) -> tuple[dict[str, Any], list[str]]:
        if not isinstance(value, Mapping):
            self.problems.append("The request body must be a CBOR map of the operation's members")
            return {}, self.problems
        converted = self._structure(shape, value, "", sensitive=False)
        return converted, self.problems

    def _fail(self, value: Any, path: str, constraint: str, sensitive: bool) -> None:
        where = f"Value at '{path}'" if sensitive else f"Value {_quote(value)} at '{path}'"
        self.problems.append(f"{where} failed to satisfy constraint: {constraint}")

    def _value(self, shape: Shape, value: Any, path: str, sensitive: bool) -> Any:
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, Mapping):
                self.problems.append(f"Value at '{path}' must be a structure")
                return None
            return self._structure(shape, value, path, sensitive)  # type: ignore[arg-type]
        if kind == "list":
            if not isinstance(value, list):
                self.problems.append(f"Value at '{path}' must be a list")
                return None
            self._length(shape, value, path, sensitive, describe=False)
            member = shape.member  # type: ignore[attr-defined]
            return [
                self._value(member, item, f"{path}.{index}.member", sensitive)
                for index, item in enumerate(value, start=1)
            ]
        if kind == "map":
            if not isinstance(value, Mapping):
                self.problems.append(f"Value at '{path}' must be a map")
                return None
            self._length(shape, value, path, sensitive, describe=False)
            return self._map(shape, value, path, sensitive)
        if kind == "string":
            if not isinstance(value, str):
                self.problems.append(f"Value at '{path}' must be a string")
                return None
            self._string(shape, value, path, sensitive)
            return value
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                self.problems.append(f"Value at '{path}' must be an integer")
                return None
            self._range(shape, value, path, sensitive)
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.problems.append(f"Value at '{path}' must be a number")
                return None
            self._range(shape, value, path, sensitive)
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                self.problems.append(f"Value at '{path}' must be a boolean")
                return None
            return value
        if kind == "timestamp":
            moment = _as_datetime(value)
            if moment is None:
                self.problems.append(f"Value at '{path}' must be a timestamp (epoch seconds)")
            return moment
        if kind == "blob":
            if isinstance(value, str):
                value = value.encode("utf-8")
            if not isinstance(value, bytes | bytearray):
                self.problems.append(f"Value at '{path}' must be a blob")
                return None
            self._length(shape, value, path, sensitive=True, describe=False)
            return bytes(value)
        return value

    def _structure(
        self, shape: StructureShape, value: Mapping[str, Any], path: str, sensitive: bool
    ) -> dict[str, Any]:
        members = shape.members
        result: dict[str, Any] = {}
        for name in shape.required_members:
            if value.get(name) is None:
                where = f"{path}.{_camel(name)}" if path else _camel(name)
                self.problems.append(
                    f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
                )
        for name, item in value.items():
            if name not in members or item is None:
                continue
            where = f"{path}.{_camel(name)}" if path else _camel(name)
            result[name] = self._value(members[name], item, where, sensitive)
        if shape.is_tagged_union:
            chosen = [name for name in result if name in members]
            if len(chosen) != 1:
                self.problems.append(
                    f"Value at '{path}' failed to satisfy constraint: exactly one member of "
                    f"{sorted(members)} must be set, not {len(chosen)}"
                )
        return result

    def _map(self, shape: Shape, value: Mapping[Any, Any], path: str, sensitive: bool) -> dict[Any, Any]:
        key_shape, value_shape = shape.key, shape.value  # type: ignore[attr-defined]
        result = {}
        for key, item in value.items():
            before = len(self.problems)
            self._value(key_shape, key, path, sensitive)
            key_problems = self.problems[before:]
            if key_problems:
                del self.problems[before:]
                constraints = ", ".join(p.split("failed to satisfy constraint: ", 1)[-1] for p in key_problems)
                self.problems.append(
                    f"Value at '{path}' failed to satisfy constraint: Map keys must satisfy "
                    f"constraint: [{constraints}]"
                )
            before = len(self.problems)
            converted = self._value(value_shape, item, path, sensitive)
            value_problems = self.problems[before:]
            if value_problems:
                del self.problems[before:]
                constraints = ", ".join(p.split("failed to satisfy constraint: ", 1)[-1] for p in value_problems)
                self.problems.append(
                    f"Value at '{path}' failed to satisfy constraint: Map value must satisfy "
                    f"constraint: [{constraints}]"
                )
            result[key] = converted
        return result

    def _length(self, shape: Shape, value: Any, path: str, sensitive: bool, describe: bool) -> None:
        size = len(value)
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        shown = value if describe else None
        if high is not None and size > high:
            self._fail(shown, path, f"Member must have length less than or equal to {high}", sensitive or not describe)
        if low is not None and size < low:
            self._fail(shown, path, f"Member must have length greater than or equal to {low}", sensitive or not describe)

    def _string(self, shape: Shape, value: str, path: str, sensitive: bool) -> None:
        enum = shape.enum
        if enum and value not in enum:
            self._fail(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]", sensitive)
            return
        size = len(value)
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if high is not None and size > high:
            self._fail(value, path, f"Member must have length less than or equal to {high}", sensitive)
        if low is not None and size < low:
            self._fail(value, path, f"Member must have length greater than or equal to {low}", sensitive)
        pattern = shape.metadata.get("pattern")
        if pattern and not _compiled(pattern).fullmatch(value):
            self._fail(value, path, f"Member must satisfy regular expression pattern: {pattern}", sensitive)

    def _range(self, shape: Shape, value: float, path: str, sensitive: bool) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if high is not None and value > high:
            self._fail(value, path, f"Member must have value less than or equal to {high}", sensitive)
        if low is not None and value < low:
            self._fail(value, path, f"Member must have value greater than or equal to {low}", sensitive)


def validation_message(problems: list[str]) -> str:
    """AWS's summary line: ``2 validation errors detected: A; B``."""
    shown = problems[:MAX_REPORTED_ERRORS]
    noun = "error" if len(problems) == 1 else "errors"
    return f"{len(problems)} validation {noun} detected: " + "; ".join(shown)


def check_request(operation: OperationModel, body: Any) -> tuple[dict[str, Any], list[str]]:
    """The request converted to Python values, and the model problems it has (empty when valid)."""
    shape = operation.input_shape
    if shape is None:
        return {}, []
    return RequestValidator().check(shape, body if body != b"" else {})


def prune_output(shape: Shape | None, value: Any) -> Any:
    """Drop members that are None or not in the output shape, recursively, so the response holds
    exactly what the model says the operation returns."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        members = shape.members  # type: ignore[attr-defined]
        result = {}
        for name, item in value.items():
            if item is None:
                continue
            if name not in members:
                log.debug("dropping %s: not a member of %s", name, shape.name)
                continue
            result[name] = prune_output(members[name], item)
        return result
    if kind == "list" and isinstance(value, list):
        return [prune_output(shape.member, item) for item in value]  # type: ignore[attr-defined]
    if kind == "map" and isinstance(value, Mapping):
        return {key: prune_output(shape.value, item) for key, item in value.items()}  # type: ignore[attr-defined]
    if kind == "timestamp":
        return _as_datetime(value)
    return value


def error_shapes(model: ServiceModel) -> dict[str, int]:
    """Every modelled error's name and its HTTP status, e.g. ``{"InvalidInputException": 400}``."""
    result = {}
    for name in model.shape_names:
        shape = model.shape_for(name)
        if shape.metadata.get("exception"):
            result[name] = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
    return result
