"""StartReplay with archived events in its window.

The bug: LocalStack 2026.3.0's ``StartReplay`` answers 500 (InternalError) whenever the window
holds events; botocore retries, and the retry then fails with ``ResourceAlreadyExists`` because
the first attempt had already registered the replay. So nothing is ever replayed.

The cause, in ``localstack/services/events``:

- ``archive.py``, ``ArchiveService._filter_events_start_end_time`` calls ``_normalize_datetime``
  (``dt.replace(second=0, microsecond=0)``) on each archived event's ``time``, which is the
  ISO-8601 *string* of the event envelope: ``str.replace`` takes no keyword arguments, TypeError;
- ``utils.py``, ``re_format_event`` hands that string back as ``Time``, and ``get_event_time``
  calls ``.replace(tzinfo=UTC)`` on it: the same TypeError, one step later;
- ``provider.py`` then re-puts the events with ``_process_entries``, one rule-matching thread
  per event, so even a working replay would reach a target in no particular order, and
  ``Destination.FilterArns`` is ignored.

What AWS does (EventBridge user guide, "Replaying archived events", and the StartReplay API
reference): a replay sends the archived events whose time lies in the window back to the rules
of the bus they came from (only to the rules in ``FilterArns`` when given), processing the
window one minute at a time from its first minute; each replayed event carries ``replay-name``,
which also keeps it out of the bus's archives (their managed rule matches
``{"replay-name": [{"exists": false}]}``); ``DescribeReplay`` ends in ``COMPLETED`` with
``EventLastReplayedTime`` set.

The fix replaces ``start_replay``: the same validations and bookkeeping as LocalStack's, then
the window's events sorted by minute (in archive order within a minute), each formatted as a
new event with ``replay-name`` and run through the bus's rules in order, synchronously.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger(__name__)


def event_time(value: Any) -> datetime:
    """An archived event's ``time`` (an ISO-8601 string, or a datetime) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _second(value: datetime) -> datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.replace(microsecond=0)


def in_window(events: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The events whose time lies in [start, end] (at the second resolution of ``time``),
    ordered by minute, archive order kept within a minute, as AWS replays them."""
    low, high = _second(start), _second(end)
    chosen = [(event_time(e["time"]), n, e) for n, e in enumerate(events)]
    chosen = [c for c in chosen if low <= c[0] <= high]
    chosen.sort(key=lambda c: (c[0].replace(second=0), c[1]))
    return [e for _, _, e in chosen]


def replay_entry(event: dict[str, Any], bus_name: str, replay_name: str) -> dict[str, Any]:
    """The PutEvents entry that re-creates an archived event as replayed (``Time`` a datetime)."""
    entry: dict[str, Any] = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Time": event_time(event["time"]),
        "EventBusName": bus_name,
        "ReplayName": replay_name,
    }
    if event.get("resources"):
        entry["Resources"] = event["resources"]
    return entry


def apply() -> None:
    from localstack.aws.api import RequestContext
    from localstack.aws.api.events import (
        ReplayState,
        ResourceAlreadyExistsException,
        StartReplayResponse,
    )
    from localstack.services.events.models import ValidationException
    from localstack.services.events.provider import EventsProvider
    from localstack.services.events.utils import extract_event_bus_name, format_event
    from localstack.utils.patch import patch

    @patch(EventsProvider.start_replay)
    def start_replay(
        fn: Any,
        self: EventsProvider,
        context: RequestContext,
        replay_name: str,
        event_source_arn: str,
        event_start_time: datetime,
        event_end_time: datetime,
        destination: dict[str, Any],
        description: str | None = None,
        **kwargs: Any,
    ) -> StartReplayResponse:
        region, account_id = context.region, context.account_id
        store = self.get_store(region, account_id)
        if replay_name in store.replays:
            raise ResourceAlreadyExistsException(f"Replay {replay_name} already exists.")
        self._validate_replay_time(event_start_time, event_end_time)
        if event_source_arn not in self._archive_service_store:
            archive_name = event_source_arn.split("/")[-1]
            raise ValidationException(
                f"Parameter EventSourceArn is not valid. Reason: Archive {archive_name} does not exist."
            )
        self._validate_replay_destination(destination, event_source_arn)
        replay_service = self.create_replay_service(
            replay_name, region, account_id, event_source_arn, destination,
            event_start_time, event_end_time, description,
        )
        replay = replay_service.replay
        store.replays[replay.name] = replay
        archive = self._archive_service_store[event_source_arn].archive
        events = in_window(list(archive.events.values()), replay.event_start_time, replay.event_end_time)

        replay_service.set_state(ReplayState.RUNNING)
        replay.replay_start_time = datetime.now(UTC)
        bus_name = extract_event_bus_name(destination["Arn"])
        bus = self.get_event_bus(bus_name, store)
        only = set(destination.get("FilterArns") or [])
        rules = [r for r in bus.rules.values() if not r.schedule_expression and (not only or r.arn in only)]
        trace_header = context.trace_context["aws_trace_header"]
        for event in events:
            replayed = format_event(replay_entry(event, bus_name, replay_name), region, account_id, bus_name)
            for rule in rules:
                self._process_rules(rule, region, account_id, replayed, trace_header)
            replay.event_last_replayed_time = event_time(event["time"])
        replay_service.finish()
        LOG.info("replay %s: %d event(s) of %s replayed to %d rule(s)", replay_name, len(events), event_source_arn, len(rules))
        return StartReplayResponse(
            ReplayArn=replay_service.arn,
            State=replay_service.state,
            StateReason=replay_service.state_reason,
            ReplayStartTime=replay.replay_start_time,
        )
