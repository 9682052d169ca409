"""Input transformers: numbers, zeros and escaped quotes in an ``InputTemplate``.

The bug: LocalStack 2026.3.0 drops an event whose ``InputTemplate`` puts a number inside a
string (``"Order <order> totals <total>"`` with ``total`` = 42.5), delivers a ``0`` or ``false``
taken from the event as ``""``, and escapes twice the escaped quotes of a string template.

The cause, in ``localstack/services/events/target.py``:

- ``replace_template_placeholders`` returns a number as is when its placeholder sits inside a
  JSON string: ``re.sub`` needs a string and raises TypeError, so nothing is sent;
- ``get_template_replacements`` turns every falsy value into ``""`` (``if not value``);
- a string template (``"instance \\"<instance>\\" is in <state>"``) loses its outer quotes with
  ``[1:-1]`` and is then JSON-encoded again by the target, its escaped quotes with it.

What AWS does (EventBridge user guide, "Input transformation", and the API reference of
``InputTransformer``): a placeholder used as a JSON value is replaced by the value in its JSON
form (a string quoted, a number, ``true``, an object, an array); inside a JSON string, or in a
string template, by the value's text, unescaped. A string template is delivered as the JSON
string it is, its escaped quotes kept as written. A path that matches nothing yields an empty
value.

The fix replaces both functions with LocalStack's own logic, corrected on those three points.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from typing import Any

LOG = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"<(.*?)>")
MISSING = ""  # what a path that matches nothing becomes


def apply() -> None:
    from jsonpath_rw import parse
    from localstack.services.events import target
    from localstack.services.events.utils import (
        event_time_to_time_string,
        is_nested_in_string,
        to_json_str,
    )
    from localstack.utils.patch import Patch

    def get_template_replacements(input_transformer: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        """Each InputPathsMap variable's value in the event: the one match, a list of several,
        :data:`MISSING` for none (a 0, false or null stays what it is)."""
        replacements: dict[str, Any] = {}
        for placeholder, path in (input_transformer.get("InputPathsMap") or {}).items():
            if placeholder in target.PREDEFINED_PLACEHOLDERS:
                continue
            matches = [m.value for m in parse(path).find(event)]
            replacements[placeholder] = MISSING if not matches else matches[0] if len(matches) == 1 else matches
        return replacements

    def as_text(value: Any) -> str:
        """A value written inside a string: its text, not escaped (as EventBridge does)."""
        if isinstance(value, datetime.datetime):
            return event_time_to_time_string(value)
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            return to_json_str(value).replace('"', "")
        if isinstance(value, list):
            return "[" + ",".join(as_text(v) for v in value) + "]"
        return json.dumps(value)  # numbers, true/false, null

    def replace_template_placeholders(template: str, replacements: dict[str, Any]) -> Any:
        is_json_template = template.strip().startswith("{")

        def replace(match: re.Match[str]) -> str:
            value = replacements.get(match.group(1), MISSING)
            if not is_json_template or is_nested_in_string(template, match):
                return as_text(value)
            if isinstance(value, datetime.datetime):
                return json.dumps(event_time_to_time_string(value))
            if isinstance(value, dict):
                return to_json_str(value).replace('\\"', '"')
            return json.dumps(value)

        formatted = PLACEHOLDER.sub(replace, template)
        if is_json_template:
            try:
                return json.loads(formatted)
            except json.JSONDecodeError:
                LOG.info("input template %r: the result is not valid JSON, nothing is sent: %s", template, formatted)
                return None
        try:  # a string template is a JSON string: deliver the text it stands for
            text = json.loads(formatted)
            if isinstance(text, str):
                return text
        except json.JSONDecodeError:
            pass
        stripped = formatted.strip()
        return stripped[1:-1] if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"' else stripped

    Patch.function(target.get_template_replacements, get_template_replacements, pass_target=False).apply()
    Patch.function(target.replace_template_placeholders, replace_template_placeholders, pass_target=False).apply()
