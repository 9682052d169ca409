"""eventlab's patches to MiniStack (other than Lambda's), applied by the launcher before it serves.

Each replaces one module-level name MiniStack looks up at call time, and says what MiniStack does
and what AWS does. ``tests/unit/test_ministack_patches.py`` fails when a patched name is gone.

- :func:`no_init_scripts`: MiniStack runs every ``.sh``/``.py`` file it finds in
  ``/docker-entrypoint-initaws.d`` and ``/etc/localstack/init/{boot,ready}.d`` on the host
  (``ministack/app.py`` ``_collect_scripts``); an emulator eventlab starts runs none.
- :func:`kinesis_target`: MiniStack's EventBridge has no Kinesis target (``_invoke_target`` logs
  "unsupported target type"); AWS puts the event into the stream, with the partition key from
  ``KinesisParameters.PartitionKeyPath``, or the event's id when there is none
  (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_KinesisParameters.html).
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)

PATCHED = [
    ("ministack.app", "_collect_scripts"),
    ("ministack.services.eventbridge", "_invoke_target"),
]


def json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (``$.detail.id``) in ``document``; None when absent."""
    value = document
    for part in path.strip().removeprefix("$").strip(".").split("."):
        if not part:
            continue
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def partition_key(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The partition key AWS uses for ``event`` on a Kinesis ``target``."""
    path = (target.get("KinesisParameters") or {}).get("PartitionKeyPath")
    value = json_path(event, path) if path else None
    if value is None or isinstance(value, dict | list):
        return str(event.get("id", ""))
    return str(value)


def no_init_scripts() -> None:
    from ministack import app

    app._collect_scripts = lambda *_dirs: []  # type: ignore[attr-defined]


def kinesis_target() -> None:
    from ministack.core.arn import ArnParseError, parse_arn  # type: ignore[import-not-found]
    from ministack.services import eventbridge, kinesis

    original = eventbridge._invoke_target
    if getattr(original, "eventlab_patch", False):
        return

    def invoke_target(target: dict[str, Any], event: dict[str, Any], rule: Any, view: Any = None) -> Any:
        arn = target.get("Arn", "")
        try:
            spec = parse_arn(arn)
        except ArnParseError:
            return original(target, event, rule, view)
        if spec.service != "kinesis":
            return original(target, event, rule, view)
        view = view or eventbridge._pattern_event_view(event)
        whole = view.event_with_detail()
        payload = json.dumps(whole)
        if target.get("InputTransformer"):
            payload = eventbridge._apply_input_transformer(target["InputTransformer"], rule, view)
        elif target.get("Input"):
            payload = target["Input"]
        elif target.get("InputPath"):
            picked = json_path(whole, target["InputPath"])
            payload = payload if picked is None else json.dumps(picked)
        if not kinesis.put_record_internal(arn, partition_key(target, whole), payload.encode()):
            log.warning("EventBridge → Kinesis: stream %s not found or not active", arn)
        return None

    invoke_target.eventlab_patch = True  # type: ignore[attr-defined]
    eventbridge._invoke_target = invoke_target


def install() -> None:
    """Apply every patch to the importable ``ministack`` package; safe to call more than once."""
    no_init_scripts()
    kinesis_target()
