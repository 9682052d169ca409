"""Schema documents of both registry types, read into one form: JSON Schema Draft 4.

EventBridge stores a schema as text of type ``OpenApi3`` (definitions under
``components.schemas``, the envelope named ``AWSEvent``, ``nullable``) or ``JSONSchemaDraft4``
(definitions under ``definitions``). Validation, compatibility checks and code bindings all
work on the Draft 4 form made here, so they behave the same for either type.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from eventlab.schemas.infer import DRAFT4, DRAFT4_URI, ENVELOPE_NAME, OPENAPI3, SCHEMA_TYPES, Shape

MAX_DEPTH = 64


class SchemaDocumentError(ValueError):
    """A schema's content cannot be read; the message says what is wrong with it."""


def parse(content: str | Mapping[str, Any]) -> dict[str, Any]:
    """The content of a schema as a dict (registries store it as JSON text)."""
    if isinstance(content, Mapping):
        return copy.deepcopy(dict(content))
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        raise SchemaDocumentError(f"schema content is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise SchemaDocumentError(f"schema content must be a JSON object, not {type(data).__name__}")
    return data


def detect_type(document: Mapping[str, Any]) -> str:
    """``OpenApi3`` for a document with an ``openapi`` key, else ``JSONSchemaDraft4``."""
    return OPENAPI3 if "openapi" in document else DRAFT4


def to_draft4(content: str | Mapping[str, Any], schema_type: str | None = None) -> dict[str, Any]:
    """The document as JSON Schema Draft 4 with its named types under ``definitions``."""
    document = parse(content)
    schema_type = schema_type or detect_type(document)
    if schema_type not in SCHEMA_TYPES:
        raise SchemaDocumentError(f"schema type {schema_type!r}: use one of {', '.join(SCHEMA_TYPES)}")
    if schema_type == DRAFT4:
        document.setdefault("$schema", DRAFT4_URI)
        return document
    schemas = document.get("components", {}).get("schemas", {})
    if not schemas:
        raise SchemaDocumentError("OpenApi3 schema has no components.schemas: nothing to validate against")
    root_name = ENVELOPE_NAME if ENVELOPE_NAME in schemas else next(iter(schemas))
    definitions = {name: _from_openapi(s) for name, s in schemas.items() if name != root_name}
    root = _from_openapi(schemas[root_name])
    return {"$schema": DRAFT4_URI, "title": root_name, "definitions": definitions, **root}


def _from_openapi(node: Any) -> Any:
    """One OpenAPI 3.0 schema object as Draft 4: refs moved, ``nullable`` made a ``null`` type."""
    if isinstance(node, list):
        return [_from_openapi(n) for n in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: _from_openapi(v) for k, v in node.items() if k != "nullable"}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        out["$ref"] = "#/definitions/" + ref.rsplit("/", 1)[-1]
    if node.get("nullable"):
        if "type" in out:
            types = [out["type"]] if isinstance(out["type"], str) else list(out["type"])
            out["type"] = [*types, "null"] if "null" not in types else types
        else:
            out = {"oneOf": [out, {"type": "null"}]}
    return out


def is_envelope(document: Mapping[str, Any]) -> bool:
    """True when a Draft 4 document describes the whole event (envelope with ``detail``)."""
    props = document.get("properties", {})
    return "detail" in props and ("detail-type" in props or "x-amazon-events-detail-type" in document)


def detail_schema(document: Mapping[str, Any]) -> dict[str, Any]:
    """A Draft 4 schema for the ``detail`` alone (the document itself if it has no envelope)."""
    if not is_envelope(document):
        return dict(document)
    return {
        "$schema": DRAFT4_URI,
        "definitions": document.get("definitions", {}),
        "allOf": [document["properties"]["detail"]],
    }


def resolve(document: Mapping[str, Any], node: Any = None, depth: int = 0) -> Shape:
    """``node`` (default: the document) with every local ``$ref`` inlined, unions simplified."""
    node = document if node is None else node
    if depth > MAX_DEPTH:
        raise SchemaDocumentError("schema nests deeper than 64 levels (a recursive $ref?)")
    if not isinstance(node, Mapping):
        return {}
    if "$ref" in node:
        return resolve(document, _lookup(document, node["$ref"]), depth + 1)
    if "allOf" in node and len(node["allOf"]) == 1:
        return resolve(document, node["allOf"][0], depth + 1)
    if "oneOf" in node:
        options = [o for o in node["oneOf"] if o != {"type": "null"}]
        if len(options) == 1:
            inner = resolve(document, options[0], depth + 1)
            types = inner.get("type")
            types = [types] if isinstance(types, str) else list(types or [])
            if len(options) < len(node["oneOf"]) and types:
                inner["type"] = sorted({*types, "null"})
            return inner
    out: Shape = {k: v for k, v in node.items() if k in ("type", "format", "required", "enum")}
    if "properties" in node:
        out["properties"] = {k: resolve(document, v, depth + 1) for k, v in node["properties"].items()}
    if "items" in node and isinstance(node["items"], Mapping):
        out["items"] = resolve(document, node["items"], depth + 1)
    if isinstance(out.get("type"), list):  # one order for type unions, whichever type wrote them
        types = sorted(set(out["type"]))
        out["type"] = types[0] if len(types) == 1 else types
    return out


def _lookup(document: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise SchemaDocumentError(f"$ref {ref!r}: only references inside the document are supported")
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise SchemaDocumentError(f"$ref {ref!r} points at nothing in the schema")
        node = node[part]
    return node


def detail_shape(document: Mapping[str, Any]) -> Shape:
    """The resolved shape of the detail of a Draft 4 document (or of the whole, if no envelope)."""
    return resolve(document, detail_schema(document))
