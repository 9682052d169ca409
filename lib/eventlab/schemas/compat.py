"""Compatibility between two versions of a schema: which changes break the consumers.

The rule eventlab reports on (consumers written against the old version must keep working):

- **breaking**: a required field is removed or becomes optional, a field's type changes
  (``integer`` -> ``number`` too: a consumer that expects whole numbers gets fractions), a
  field becomes nullable, an array's items change type, a new *required* field appears (events
  from producers still on the old version no longer validate);
- **compatible**: a new optional field, an optional field removed, a format added or dropped.

Both are listed as :class:`Change` records, the path naming the field (``detail.customer.id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventlab.schemas.document import resolve, to_draft4
from eventlab.schemas.infer import Shape


@dataclass(frozen=True)
class Change:
    """One difference between two versions of a schema."""

    path: str
    kind: str
    breaking: bool
    detail: str

    def __str__(self) -> str:
        flag = "BREAKING" if self.breaking else "compatible"
        return f"{flag}: {self.path}: {self.detail}"


def _types(shape: Shape) -> set[str]:
    t = shape.get("type")
    return set() if t is None else ({t} if isinstance(t, str) else set(t))


def _show(types: set[str]) -> str:
    return "|".join(sorted(types)) or "any"


def compare_shapes(old: Shape, new: Shape, path: str = "") -> list[Change]:
    """Every change from ``old`` to ``new`` (resolved shapes), field by field."""
    changes: list[Change] = []
    here = path or "(root)"
    old_t, new_t = _types(old), _types(new)
    if old_t != new_t:
        if new_t == old_t | {"null"}:
            changes.append(Change(here, "became-nullable", True, f"may now be null ({_show(old_t)} -> {_show(new_t)})"))
        elif old_t - {"null"} == new_t:
            changes.append(Change(here, "no-longer-nullable", False, f"no longer null ({_show(old_t)} -> {_show(new_t)})"))
        else:
            changes.append(Change(here, "type-changed", True, f"type changed from {_show(old_t)} to {_show(new_t)}"))
    if old.get("format") != new.get("format") and "string" in old_t & new_t:
        changes.append(Change(here, "format-changed", False,
                              f"format {old.get('format') or 'none'} -> {new.get('format') or 'none'}"))
    if "object" in old_t & new_t:
        old_p, new_p = old.get("properties", {}), new.get("properties", {})
        old_r, new_r = set(old.get("required", [])), set(new.get("required", []))
        for key in sorted(set(old_p) | set(new_p)):
            sub = f"{path}.{key}" if path else key
            if key not in new_p:
                if key in old_r:
                    changes.append(Change(sub, "removed-required", True, "required field removed"))
                else:
                    changes.append(Change(sub, "removed-optional", False, "optional field removed"))
                continue
            if key not in old_p:
                if key in new_r:
                    changes.append(Change(sub, "added-required", True,
                                          "new required field: events of the old version lack it"))
                else:
                    changes.append(Change(sub, "added-optional", False, "new optional field"))
                continue
            if key in old_r and key not in new_r:
                changes.append(Change(sub, "became-optional", True, "was required, now optional"))
            elif key in new_r and key not in old_r:
                changes.append(Change(sub, "became-required", True,
                                      "was optional, now required: events without it no longer validate"))
            changes.extend(compare_shapes(old_p[key], new_p[key], sub))
    if "array" in old_t & new_t and "items" in old and "items" in new:
        changes.extend(compare_shapes(old["items"], new["items"], f"{path}[]"))
    return changes


def compare(old_content: str | dict[str, Any], new_content: str | dict[str, Any],
            old_type: str | None = None, new_type: str | None = None) -> list[Change]:
    """Every change between two schema documents (either type; the whole event is compared)."""
    old_doc, new_doc = to_draft4(old_content, old_type), to_draft4(new_content, new_type)
    return compare_shapes(resolve(old_doc), resolve(new_doc))


def breaking(changes: list[Change]) -> list[Change]:
    """Only the breaking changes."""
    return [c for c in changes if c.breaking]
