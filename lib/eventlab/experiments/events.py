"""EventBridge experiments: which events a pattern matches, what a target receives, replay, latency.

Used by ``notebooks/03-eventbridge.ipynb``; every function takes a :class:`~eventlab.run.Run`
and creates only resources of that run.

- :func:`match_patterns` puts one rule per pattern on a bus, all targeting one queue through an
  input transformer that labels each delivery with its rule, then reports which events each
  rule delivered (and what ``TestEventPattern`` says, as a second opinion).
- :func:`route_to_queues` is one rule with one queue per target, to compare what input paths
  and input transformers make of the same event.
- :func:`replay_archive` replays an archive back onto its bus with StartReplay, and
  :func:`replay_name` tells a replayed event from an original.
- :func:`measure_bus_to_queue` is the EventBridge -> SQS latency run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from botocore.config import Config

from eventlab.measure.load import LoadSpec
from eventlab.measure.paths import measure
from eventlab.measure.results import RunResult
from eventlab.run import Run
from eventlab.services import events, sqs
from eventlab.topology.filters import validate_event_pattern
from eventlab.waiting import until

log = logging.getLogger(__name__)

SAMPLE_SOURCE = "eventlab.samples"
SAMPLE_DETAIL_TYPE = "Sample"
REPLAY_FIELD = "replay-name"


# -- pattern matching --------------------------------------------------------------------------
@dataclass
class PatternMatches:
    """Which event ids each pattern matched: as delivered by rules, and as TestEventPattern says."""

    patterns: dict[str, dict[str, Any]]
    delivered: dict[str, list[str]]
    tested: dict[str, list[str]]

    def frame(self) -> pd.DataFrame:
        """One row per pattern: the pattern (JSON), the ids delivered, the ids TestEventPattern matched."""
        return pd.DataFrame(
            [
                {
                    "pattern": name,
                    "event pattern": json.dumps(pattern),
                    "delivered": ", ".join(self.delivered[name]) or "-",
                    "TestEventPattern": ", ".join(self.tested[name]) or "-",
                }
                for name, pattern in self.patterns.items()
            ]
        ).set_index("pattern")


def match_patterns(
    run: Run,
    bus: events.EventBus,
    patterns: Mapping[str, Mapping[str, Any]],
    details: Sequence[Mapping[str, Any]],
    *,
    id_field: str = "id",
    source: str = SAMPLE_SOURCE,
    detail_type: str = SAMPLE_DETAIL_TYPE,
    timeout: float = 20.0,
) -> PatternMatches:
    """Put ``details`` on ``bus`` as events and report which ones each pattern's rule delivered.

    Every pattern is validated offline first (:func:`validate_event_pattern`): a malformed one
    raises :class:`~eventlab.topology.PatternError` before anything is created. Then one rule
    per pattern targets one queue; an input transformer turns each delivery into
    ``{"rule": <pattern name>, "id": <detail[id_field]>}``.
    """
    for pattern in patterns.values():
        validate_event_pattern(pattern)
    ids = [str(d[id_field]) for d in details]
    if len(set(ids)) != len(ids):
        raise ValueError(f"match_patterns: every event needs a distinct {id_field!r}")
    client = run.target.client("events")
    identity = {"account": run.target.account_id, "region": run.target.region}
    tested = {
        name: [
            str(d[id_field]) for d in details
            if client.test_event_pattern(
                EventPattern=json.dumps(pattern),
                Event=json.dumps(events.envelope(d, source=source, detail_type=detail_type, **identity)),
            )["Result"]
        ]
        for name, pattern in patterns.items()
    }

    queue = sqs.create_queue(run, f"{bus.name.removeprefix(run.prefix + '-')}-matches")
    rules = {
        name: events.put_rule(run, bus, f"match-{i}", event_pattern=pattern, description=f"pattern {name}")
        for i, (name, pattern) in enumerate(patterns.items())
    }
    sqs.allow_senders(run, queue, service=events.PRINCIPAL, source_arns=[r.arn for r in rules.values()])
    for name, rule in rules.items():
        template = '{"rule": ' + json.dumps(name) + ', "id": <id>}'
        events.put_targets(run, rule, [{
            "Id": "matches", "Arn": queue.arn,
            "InputTransformer": {"InputPathsMap": {"id": f"$.detail.{id_field}"}, "InputTemplate": template},
        }])
    events.put_events(run, [
        {"EventBusName": bus.name, "Source": source, "DetailType": detail_type, "Detail": json.dumps(d)}
        for d in details
    ])
    expected = sum(len(v) for v in tested.values())
    delivered: dict[str, list[str]] = {name: [] for name in patterns}
    for body in sqs.receive_bodies(run, queue, expected, timeout=timeout):
        delivered[body["rule"]].append(str(body["id"]))
    order = {i: n for n, i in enumerate(ids)}
    for name in delivered:
        delivered[name].sort(key=lambda i: order.get(i, len(order)))
    return PatternMatches({k: dict(v) for k, v in patterns.items()}, delivered, tested)


# -- targets: input path and input transformer -------------------------------------------------
def route_to_queues(
    run: Run,
    bus: events.EventBus,
    base: str,
    event_pattern: Mapping[str, Any],
    targets: Mapping[str, Mapping[str, Any]],
) -> dict[str, sqs.Queue]:
    """One rule with one queue per named target; each target's extra fields (``InputPath``,
    ``InputTransformer``, ``Input``) say what that queue receives. Returns the queues by name."""
    rule = events.put_rule(run, bus, base, event_pattern=event_pattern)
    queues = {name: sqs.create_queue(run, f"{base}-{name}") for name in targets}
    for queue in queues.values():
        sqs.allow_senders(run, queue, service=events.PRINCIPAL, source_arns=[rule.arn])
    events.put_targets(run, rule, [
        {"Id": name, "Arn": queues[name].arn, **dict(extra)} for name, extra in targets.items()
    ])
    return queues


# -- archive and replay ------------------------------------------------------------------------
@dataclass
class Replay:
    """A replay of an archive, as DescribeReplay reported it when it ended."""

    name: str
    arn: str
    state: str
    described: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def last_replayed(self) -> datetime | None:
        """The time of the last event replayed (``EventLastReplayedTime``), if any was."""
        value = self.described.get("EventLastReplayedTime")
        return value if isinstance(value, datetime) else None


def replay_name(event: Mapping[str, Any]) -> str | None:
    """The replay an event came from, or None for an original: EventBridge adds ``replay-name``
    to the envelope of every replayed event."""
    name = event.get(REPLAY_FIELD)
    return str(name) if name else None


def replay_archive(
    run: Run,
    archive_arn: str,
    bus: events.EventBus,
    start: datetime,
    end: datetime,
    *,
    base: str = "replay",
    rules: Sequence[events.Rule] = (),
    timeout: float = 60.0,
) -> Replay:
    """Replay the archive's events from ``start`` to ``end`` onto ``bus`` (to ``rules`` only,
    if given) with StartReplay, then DescribeReplay until it ends; raises unless COMPLETED."""
    name = run.name(base, max_length=64)
    # No retries: a replay that failed must not be started twice.
    client = run.target.new_client("events", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    destination: dict[str, Any] = {"Arn": bus.arn}
    if rules:
        destination["FilterArns"] = [rule.arn for rule in rules]
    reply = client.start_replay(
        ReplayName=name, EventSourceArn=archive_arn, EventStartTime=start, EventEndTime=end, Destination=destination,
    )
    arn = str(reply.get("ReplayArn") or f"arn:aws:events:{run.target.region}:{run.target.account_id}:replay/{name}")

    def ended() -> dict[str, Any]:
        described = client.describe_replay(ReplayName=name)
        return described if described["State"] in ("COMPLETED", "FAILED", "CANCELLED") else {}

    described = until(ended, timeout=timeout)
    if not described:
        raise TimeoutError(f"replay {name} is {client.describe_replay(ReplayName=name)['State']} after {timeout:.0f} s")
    state = described["State"]
    if state != "COMPLETED":
        raise RuntimeError(f"replay {name} ended {state}: {described.get('StateReason', '')}")
    log.info("replay %s of %s completed", name, archive_arn)
    return Replay(name, arn, state, described=described)


# -- latency -----------------------------------------------------------------------------------
def measure_bus_to_queue(
    run: Run,
    *,
    rate: float,
    count: int,
    warmup: int = 0,
    batch: int = 1,
    threads: int = 2,
    timeout: float = 60.0,
) -> RunResult:
    """Open-loop probes into a custom bus, a rule to an SQS queue, a long-polling receiver.

    ``threads`` senders share the schedule, so one slow PutEvents call does not hold back the
    probes due after it (their wait would still count: latency starts at the intended time).

    Returns the :class:`RunResult` (path ``events-sqs``); latency counts from each probe's
    intended send time to its receipt from the queue.
    """
    spec = LoadSpec(rate=rate, count=count, warmup_count=warmup, batch=batch, threads=threads)
    spec.check()  # a bad bound (warmup >= messages) is refused before anything is built
    result = measure(run, "events-sqs", spec, receivers=2, timeout=timeout, name=f"events-sqs-{rate:g}")
    assert result is not None, "events-sqs runs on every target"
    return result
