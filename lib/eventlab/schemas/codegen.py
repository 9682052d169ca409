"""Typed Python bindings for a schema: dataclasses with type hints, built from an event dict.

:func:`python_bindings` returns the source of a module, to be written to a file and imported::

    Path("order_placed.py").write_text(registry.code_bindings("shop.orders@OrderPlaced"))
    from order_placed import AWSEvent
    event = AWSEvent.from_event(message)   # event.detail.customer.email, typed

Each named definition becomes a dataclass (nested objects are their own classes), ``date-time``
strings become ``datetime``, optional or nullable fields default to ``None``; ``to_dict()``
gives the JSON shape back. EventBridge's own ``PutCodeBinding`` (AWS only) writes bindings for
its ``schema`` packages instead; see :meth:`EventBridgeSchemaRegistry.aws_code_binding`.
"""

from __future__ import annotations

import importlib.util
import keyword
import logging
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from eventlab.schemas.document import is_envelope, to_draft4
from eventlab.schemas.infer import ENVELOPE_NAME, pascal_case

log = logging.getLogger(__name__)

_SCALARS = {"string": "str", "integer": "int", "boolean": "bool"}
_HELPERS = '''
def _parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in "Zz" else value)


def _format_datetime(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _maybe(value: Any, convert: Callable[[Any], Any]) -> Any:
    return None if value is None else convert(value)
'''


def field_name(key: str) -> str:
    """A JSON key as a Python attribute: ``detail-type`` -> ``detail_type``, ``class`` -> ``class_``."""
    name = re.sub(r"\W", "_", key)
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower() if not name.islower() else name
    if not name or name[0].isdigit():
        name = f"f_{name}"
    return f"{name}_" if keyword.iskeyword(name) or name in ("from_dict", "to_dict", "from_event") else name


class _Generator:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.definitions: dict[str, Any] = dict(document.get("definitions", {}))
        self.classes: dict[str, str] = {}  # definition name -> class source
        self.order: list[str] = []

    # -- types -------------------------------------------------------------------------------
    def _target(self, node: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool, str | None]:
        """(schema node without refs/unions, nullable, class name if it is a named object)."""
        nullable = False
        if "oneOf" in node:
            options = [o for o in node["oneOf"] if o != {"type": "null"}]
            nullable = len(options) < len(node["oneOf"])
            node = options[0] if len(options) == 1 else {}
        if "allOf" in node and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            self.emit(name)
            return self.definitions[name], nullable, pascal_case(name)
        types = node.get("type")
        types = [types] if isinstance(types, str) else list(types or [])
        if "null" in types:
            nullable = True
        return node, nullable, None

    def annotation(self, node: Mapping[str, Any]) -> tuple[str, bool, str, str]:
        """(type hint, nullable, from-JSON expression on ``v``, to-JSON expression on ``v``)."""
        node, nullable, cls = self._target(node)
        if cls:
            return cls, nullable, f"{cls}.from_dict(v)", "v.to_dict()"
        types = node.get("type")
        types = [t for t in ([types] if isinstance(types, str) else list(types or [])) if t != "null"]
        if len(types) != 1:
            return "Any", nullable, "v", "v"
        kind = types[0]
        if kind == "string" and node.get("format") == "date-time":
            return "datetime", nullable, "_parse_datetime(v)", "_format_datetime(v)"
        if kind == "number":  # JSON has one number type: 3 and 3.0 both become float
            return "float", nullable, "float(v)", "v"
        if kind in _SCALARS:  # taken as they are: a binding does not coerce a wrong type
            return _SCALARS[kind], nullable, "v", "v"
        if kind == "array":
            if "items" not in node:
                return "list[Any]", nullable, "v", "v"
            hint, _, load, dump = self.annotation(node["items"])
            item_nullable = self._target(node["items"])[1]
            if item_nullable:
                hint = f"{hint} | None"
            load_x, dump_x = _apply(load, "x", item_nullable), _apply(dump, "x", item_nullable)
            if load_x == "x" and dump_x == "x":
                return f"list[{hint}]", nullable, "v", "v"
            return f"list[{hint}]", nullable, f"[{load_x} for x in v]", f"[{dump_x} for x in v]"
        if kind == "object" and node.get("properties"):
            # An inline object (not a named definition): give it a class of its own.
            name = f"Inline{len(self.definitions)}"
            self.definitions[name] = node
            self.emit(name)
            return name, nullable, f"{name}.from_dict(v)", "v.to_dict()"
        return "dict[str, Any]", nullable, "v", "v"

    # -- classes -----------------------------------------------------------------------------
    def emit(self, name: str, node: Mapping[str, Any] | None = None, *, envelope: bool = False) -> str:
        cls = pascal_case(name)
        if cls in self.classes or cls in self.order:
            return cls
        self.order.append(cls)  # reserve: recursion through refs stops here
        node = node if node is not None else self.definitions[name]
        required = set(node.get("required", []))
        fields: list[tuple[str, str, str, str, bool]] = []
        for key, prop in node.get("properties", {}).items():
            hint, nullable, load, dump = self.annotation(prop)
            optional = nullable or key not in required
            fields.append((key, hint, load, dump, optional))
        fields.sort(key=lambda f: f[4])  # required first: dataclass fields without defaults
        lines = ["@dataclass", f"class {cls}:", f'    """{_doc(node, cls)}"""', ""]
        for key, hint, _, _, optional in fields:
            lines.append(f"    {field_name(key)}: {hint}{' | None = None' if optional else ''}")
        if not fields:
            lines.append("    pass")
        lines += ["", "    @classmethod", f"    def from_dict(cls, data: dict[str, Any]) -> {cls}:",
                  f'        """Build {cls} from its JSON object."""', "        return cls("]
        for key, _, load, _, optional in fields:
            lines.append(f"            {field_name(key)}={_apply(load, f'data.get({key!r})' if optional else f'data[{key!r}]', optional)},")
        lines += ["        )", "", "    def to_dict(self) -> dict[str, Any]:",
                  '        """The JSON object again; optional fields that are None are left out."""']
        if not fields:
            lines.append("        return {}")
        else:
            lines.append("        out: dict[str, Any] = {")
            required_fields = [f for f in fields if f[0] in required]
            for key, _, _, dump, optional in required_fields:
                lines.append(f"            {key!r}: {_apply(dump, f'self.{field_name(key)}', optional)},")
            lines.append("        }")
            for key, _, _, dump, _ in fields:
                if key in required:
                    continue
                attr = f"self.{field_name(key)}"
                lines += [f"        if {attr} is not None:", f"            out[{key!r}] = {_apply(dump, attr, False)}"]
            lines.append("        return out")
        if envelope:
            lines += ["", "    @classmethod", f"    def from_event(cls, event: dict[str, Any]) -> {cls}:",
                      '        """The typed event from an EventBridge event (e.g. an SQS body, parsed)."""',
                      "        return cls.from_dict(event)"]
        self.classes[cls] = "\n".join(lines)
        return cls


def _rename(expression: str, var: str) -> str:
    return re.sub(r"\bv\b", lambda _: var, expression)


def _apply(expression: str, value: str, nullable: bool) -> str:
    """``expression`` (written on ``v``) applied to ``value``; None passes through if ``nullable``."""
    if expression == "v":
        return value
    if nullable:
        return f"_maybe({value}, lambda v: {expression})"
    return _rename(expression, value)


def _doc(node: Mapping[str, Any], cls: str) -> str:
    source, detail_type = node.get("x-amazon-events-source"), node.get("x-amazon-events-detail-type")
    if source:
        return f"An event from {source} with detail-type {detail_type!r}."
    return f"The {cls} object of the event."


def python_bindings(content: str | Mapping[str, Any], schema_type: str | None = None, *,
                    header: str = "") -> str:
    """The source of a Python module with dataclasses for the schema and ``from_event()``.

    For an envelope schema the root class is ``AWSEvent`` and ``from_event(event)`` builds it;
    for a detail-only schema the root class is named after its title and ``from_event`` reads
    the event's ``detail``.
    """
    document = to_draft4(content, schema_type)
    gen = _Generator(document)
    envelope = is_envelope(document)
    root = ENVELOPE_NAME if envelope else pascal_case(str(document.get("title") or "Detail"))
    root_node = {k: v for k, v in document.items() if k != "definitions"}
    gen.emit(root, root_node, envelope=envelope)
    body = "\n\n\n".join(gen.classes[name] for name in reversed(gen.order) if name in gen.classes)
    # Emit dependencies before their users; with postponed annotations only readability cares.
    if not envelope:
        body += (f"\n\n\ndef from_event(event: dict[str, Any]) -> {root}:\n"
                 f'    """The typed detail of an EventBridge event."""\n'
                 f"    return {root}.from_dict(event['detail'] if 'detail-type' in event else event)\n")
    else:
        body += (f"\n\n\ndef from_event(event: dict[str, Any]) -> {root}:\n"
                 f'    """The typed event from an EventBridge event dict."""\n'
                 f"    return {root}.from_dict(event)\n")
    doc = header or "Typed bindings generated by eventlab.schemas.codegen. Do not edit; regenerate."
    return (f'"""{doc}"""\n\nfrom __future__ import annotations\n\n'
            "from collections.abc import Callable\nfrom dataclasses import dataclass\n"
            "from datetime import datetime\nfrom typing import Any\n\n"
            f"__all__ = {[*sorted(gen.classes), 'from_event']!r}\n"
            f"{_HELPERS}\n\n{body}")


def import_bindings(source: str, module_name: str, directory: Path | None = None) -> ModuleType:
    """Write generated code bindings to ``directory`` (a temporary folder by default) and import
    them as ``module_name``, the way an application would import a generated file."""
    folder = directory or Path(tempfile.mkdtemp(prefix="eventlab-bindings-"))
    path = folder / f"{module_name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import bindings from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    log.info("imported schema bindings %s from %s", module_name, path)
    return module
