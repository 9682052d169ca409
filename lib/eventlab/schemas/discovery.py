"""Schema discovery: watch a bus, infer a schema per source + detail-type, register versions.

EventBridge discovery (AWS) is a setting on a bus; this does the same thing visibly and on
both targets: a catch-all rule on the bus sends a copy of every event to an SQS queue, the
events read from it are merged into one schema per ``<source>@<DetailType>``, and each is put
into a registry, where an unchanged schema makes no new version::

    observer = observe_bus(run, bus)
    ...  # producers put events on the bus
    results = discover(registry, observer.receive(min_events=3))
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eventlab.run import Run
from eventlab.schemas.infer import DRAFT4, infer_schemas
from eventlab.schemas.registry import PutResult, SchemaRegistry
from eventlab.services import events, sqs

log = logging.getLogger(__name__)

# Matches every event: every event has a source, and every string starts with "".
CATCH_ALL_PATTERN: dict[str, Any] = {"source": [{"prefix": ""}]}


@dataclass
class BusObserver:
    """A catch-all rule on a bus and the queue that receives a copy of every event on it."""

    run: Run
    bus_name: str
    rule: events.Rule
    queue: sqs.Queue

    def receive(self, *, min_events: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The events seen since the last call (envelopes as EventBridge delivers them).

        Reads (and deletes) until at least ``min_events`` have arrived, or until ``timeout``
        seconds have passed (then returns what it has, with a warning).
        """
        seen = [json.loads(m["Body"]) for m in sqs.receive_all(self.run, self.queue, expected=min_events, timeout=timeout)]
        if len(seen) < min_events:
            log.warning("observer on bus %s: %d event(s) within %.0f s, wanted %d", self.bus_name, len(seen), timeout, min_events)
        return seen


def observe_bus(run: Run, bus: events.EventBus | str | None = None, base: str = "discovery") -> BusObserver:
    """Put a catch-all rule on ``bus`` (None: the default bus) with a queue of the run as target.

    The queue lets only this rule send to it; rule and queue are deleted with the run.
    """
    bus_obj = events.EventBus(name=bus, arn="") if isinstance(bus, str) else bus
    queue = sqs.create_queue(run, f"{base}-q")
    rule = events.put_rule(run, bus_obj, f"{base}-all", event_pattern=CATCH_ALL_PATTERN,
                           description="eventlab schema discovery: a copy of every event")
    sqs.allow_senders(run, queue, service=events.PRINCIPAL, source_arns=[rule.arn])
    events.put_targets(run, rule, [{"Id": "discovery", "Arn": queue.arn}])
    return BusObserver(run=run, bus_name=rule.bus_name, rule=rule, queue=queue)


def discover(registry: SchemaRegistry, seen: Iterable[Mapping[str, Any]], *, schema_type: str = DRAFT4,
             merge: bool = True) -> dict[str, PutResult]:
    """Infer a schema per ``source@DetailType`` from ``seen`` and put each into ``registry``.

    Returns, by schema name, whether a new version was made and what changed (see
    :meth:`SchemaRegistry.put_inferred`).
    """
    results: dict[str, PutResult] = {}
    for name, inferred in sorted(infer_schemas(seen).items()):
        results[name] = registry.put_inferred(inferred, schema_type=schema_type, merge=merge)
    return results
