"""Infer a JSON schema from the events seen on a bus, the way EventBridge schema discovery does.

Each event's ``detail`` becomes an inline *shape* (a JSON Schema Draft 4 fragment without
``$ref``); shapes of the same ``source`` + ``detail-type`` are merged: a field is required only
if every event had it, types seen for one field are joined, nested objects and array items are
merged field by field. :func:`render` then writes the shape out as EventBridge writes a
discovered schema: the ``AWSEvent`` envelope, the detail as a named definition, and one named
definition per nested object (``customer`` -> ``Customer``, items of ``lines`` -> ``LinesItem``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Shape = dict[str, Any]
DRAFT4 = "JSONSchemaDraft4"
OPENAPI3 = "OpenApi3"
SCHEMA_TYPES: tuple[str, ...] = (DRAFT4, OPENAPI3)
DRAFT4_URI = "http://json-schema.org/draft-04/schema#"
ENVELOPE_NAME = "AWSEvent"

# RFC 3339 date-time as EventBridge writes ``time`` (and as most producers write timestamps).
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")

# The envelope every EventBridge event carries, as discovered schemas describe it.
ENVELOPE_FIELDS: dict[str, Shape] = {
    "account": {"type": "string"},
    "detail-type": {"type": "string"},
    "id": {"type": "string"},
    "region": {"type": "string"},
    "resources": {"type": "array", "items": {"type": "string"}},
    "source": {"type": "string"},
    "time": {"type": "string", "format": "date-time"},
    "version": {"type": "string"},
}
ENVELOPE_REQUIRED = ["detail-type", "resources", "id", "source", "time", "detail", "region", "version", "account"]


def pascal_case(text: str) -> str:
    """``"Order Placed"`` -> ``"OrderPlaced"``, ``"shipping_address"`` -> ``"ShippingAddress"``.

    Word starts are upper-cased and the rest kept (``"EC2 Instance State-change"`` ->
    ``"EC2InstanceStateChange"``), as in EventBridge's discovered schema names.
    """
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    name = "".join(w[0].upper() + w[1:] for w in words)
    if not name:
        raise ValueError(f"cannot make a name from {text!r}: it has no letters or digits")
    return name if not name[0].isdigit() else f"N{name}"


def schema_name(source: str, detail_type: str) -> str:
    """The name EventBridge gives a discovered schema: ``<source>@<DetailTypeInPascalCase>``."""
    return f"{source}@{pascal_case(detail_type)}"


# -- shapes ---------------------------------------------------------------------------------
def _types(shape: Shape) -> set[str]:
    t = shape.get("type")
    if t is None:
        return set()
    return {t} if isinstance(t, str) else set(t)


def _with_types(shape: Shape, types: set[str]) -> Shape:
    if "integer" in types and "number" in types:
        types = types - {"integer"}
    shape = dict(shape)
    if not types:
        shape.pop("type", None)
    else:
        shape["type"] = next(iter(types)) if len(types) == 1 else sorted(types)
    return shape


def _string_format(value: str) -> str | None:
    if _DATE_TIME.match(value):
        return "date-time"
    if _EMAIL.match(value):
        return "email"
    if _IPV4.match(value):
        return "ipv4"
    return None


def infer_shape(value: Any) -> Shape:
    """The shape of one JSON value: every object key present is required."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        fmt = _string_format(value)
        return {"type": "string", **({"format": fmt} if fmt else {})}
    if isinstance(value, Mapping):
        props = {str(k): infer_shape(v) for k, v in value.items()}
        return {"type": "object", "properties": props, "required": sorted(props)}
    if isinstance(value, list | tuple):
        shape: Shape = {"type": "array"}
        items: Shape | None = None
        for item in value:
            item_shape = infer_shape(item)
            items = item_shape if items is None else merge_shapes(items, item_shape)
        if items is not None:
            shape["items"] = items
        return shape
    raise TypeError(f"not a JSON value: {type(value).__name__} {value!r}")


def merge_shapes(a: Shape, b: Shape) -> Shape:
    """The shape that accepts what either accepts: types joined, required fields intersected."""
    types = _types(a) | _types(b)
    merged: Shape = {}
    if "string" in types:
        formats = {s.get("format") for s in (a, b) if "string" in _types(s)}
        if len(formats) == 1 and None not in formats:
            merged["format"] = formats.pop()
    if "object" in types:
        pa, pb = a.get("properties", {}), b.get("properties", {})
        props = {k: merge_shapes(pa[k], pb[k]) if k in pa and k in pb else copy.deepcopy(pa.get(k) or pb[k])
                 for k in sorted(set(pa) | set(pb))}
        sides = [s for s in (a, b) if "object" in _types(s)]
        required = set.intersection(*(set(s.get("required", [])) for s in sides))
        merged["properties"] = props
        merged["required"] = sorted(required)
    if "array" in types:
        items = [s["items"] for s in (a, b) if "array" in _types(s) and "items" in s]
        if items:
            merged["items"] = items[0] if len(items) == 1 else merge_shapes(items[0], items[1])
    return _with_types(merged, types)


@dataclass
class InferredSchema:
    """The merged shape of one ``source`` + ``detail-type``'s details, and how many events made it."""

    source: str
    detail_type: str
    detail: Shape
    events: int = 1

    @property
    def name(self) -> str:
        return schema_name(self.source, self.detail_type)

    def merge(self, other: InferredSchema) -> InferredSchema:
        if (self.source, self.detail_type) != (other.source, other.detail_type):
            raise ValueError(f"cannot merge schemas of {self.name} and {other.name}")
        return InferredSchema(self.source, self.detail_type, merge_shapes(self.detail, other.detail),
                              self.events + other.events)

    def render(self, schema_type: str = DRAFT4) -> dict[str, Any]:
        """The schema document, as EventBridge writes a discovered schema of this type."""
        return render(self.source, self.detail_type, self.detail, schema_type)


def infer_schemas(events: Iterable[Mapping[str, Any]]) -> dict[str, InferredSchema]:
    """One merged schema per ``source`` + ``detail-type`` of the given event envelopes."""
    found: dict[str, InferredSchema] = {}
    for event in events:
        missing = [k for k in ("source", "detail-type", "detail") if k not in event]
        if missing:
            raise ValueError(f"not an EventBridge event envelope (no {', '.join(missing)}): {event!r:.200}")
        one = InferredSchema(event["source"], event["detail-type"], infer_shape(event["detail"]))
        found[one.name] = found[one.name].merge(one) if one.name in found else one
    return found


# -- rendering --------------------------------------------------------------------------------
class _Definitions:
    """Named definitions extracted from a shape; equal shapes share one name."""

    def __init__(self, ref_prefix: str) -> None:
        self.ref_prefix = ref_prefix
        self.named: dict[str, Shape] = {}

    def add(self, wanted: str, shape: Shape) -> str:
        name, n = wanted, 1
        while name in self.named and self.named[name] != shape:
            n += 1
            name = f"{wanted}{n}"
        self.named[name] = shape
        return name

    def extract(self, shape: Shape, name: str, *, openapi: bool) -> Shape:
        """Write ``shape`` as a definition named after ``name``; return a ``$ref`` to it."""
        return {"$ref": self.ref_prefix + self.add(name, self.flatten_object(shape, openapi=openapi))}

    def flatten_object(self, shape: Shape, *, openapi: bool) -> Shape:
        out = _plain(shape, openapi=openapi)
        out["properties"] = {
            key: self.flatten(prop, _type_name(key), openapi=openapi)
            for key, prop in shape.get("properties", {}).items()
        }
        if shape.get("required"):
            out["required"] = list(shape["required"])
        return out

    def flatten(self, shape: Shape, name: str, *, openapi: bool) -> Shape:
        types = _types(shape)
        if types - {"null"} == {"object"} and shape.get("properties"):
            ref = self.extract(shape, name, openapi=openapi)
            if "null" in types:  # a nullable object: Draft 4 and OpenAPI 3.0 cannot put siblings on $ref
                return {"oneOf": [ref, {"type": "null"}]} if not openapi else {"allOf": [ref], "nullable": True}
            return ref
        out = _plain(shape, openapi=openapi)
        if "items" in shape:
            out["items"] = self.flatten(shape["items"], f"{name}Item", openapi=openapi)
        return out


def _type_name(key: str) -> str:
    """The definition name for a nested object under ``key`` (``shipping_address`` -> ``ShippingAddress``)."""
    try:
        return pascal_case(key)
    except ValueError:  # a key without letters or digits, such as "" or "--"
        return "Object"


def _plain(shape: Shape, *, openapi: bool) -> Shape:
    """A shape's own keywords (type, format), without its children; OpenAPI's ``nullable``."""
    out = {k: v for k, v in shape.items() if k in ("type", "format")}
    types = _types(shape)
    if openapi:
        if "null" in types:
            out["nullable"] = True
            types = types - {"null"}
        if len(types) == 1:
            out["type"] = next(iter(types))
        else:  # OpenAPI 3.0 has no type unions: leave the type open
            out.pop("type", None)
    return out


def render(source: str, detail_type: str, detail: Shape, schema_type: str = DRAFT4) -> dict[str, Any]:
    """An EventBridge-style discovered schema document for one source + detail type."""
    if schema_type not in SCHEMA_TYPES:
        raise ValueError(f"schema type {schema_type!r}: use one of {', '.join(SCHEMA_TYPES)}")
    openapi = schema_type == OPENAPI3
    defs = _Definitions("#/components/schemas/" if openapi else "#/definitions/")
    detail_name = pascal_case(detail_type)
    if _types(detail) == {"object"}:
        detail_ref = defs.extract(detail, detail_name, openapi=openapi)
    else:
        detail_ref = defs.flatten(detail, detail_name, openapi=openapi)
    envelope: dict[str, Any] = {
        "type": "object",
        "required": list(ENVELOPE_REQUIRED),
        "x-amazon-events-detail-type": detail_type,
        "x-amazon-events-source": source,
        "properties": {**copy.deepcopy(ENVELOPE_FIELDS), "detail": detail_ref},
    }
    if openapi:
        return {
            "openapi": "3.0.0",
            "info": {"version": "1.0.0", "title": detail_name},
            "paths": {},
            "components": {"schemas": {ENVELOPE_NAME: envelope, **defs.named}},
        }
    envelope["properties"] = dict(sorted(envelope["properties"].items()))
    return {"$schema": DRAFT4_URI, "title": ENVELOPE_NAME, "definitions": defs.named, **envelope}


def canonical(document: Mapping[str, Any] | str) -> str:
    """A schema document as compact, key-sorted JSON: equal documents give equal text."""
    data = json.loads(document) if isinstance(document, str) else document
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
