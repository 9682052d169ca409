"""Delivery: every running subscriber reads its bus's retained events from its own position.

One dispatcher thread does two things per subscriber, in a loop:

1. **Scan**: events after the subscriber's cursor are checked against its filters; matches become
   ``pending`` rows and the cursor moves on, in one transaction. Pausing stops the scan; the
   backlog waits in the retained events, bounded by retention.
2. **Dispatch**: due pending rows are handed to a worker pool in batches. A ``FIFO`` subscriber
   sends one batch per event group at a time, in publish order, and a group whose first event is
   waiting for a retry is held while other groups go on. An ``UNORDERED`` subscriber sends up to
   ``UNORDERED_CONCURRENCY`` batches in parallel and holds nothing.

A failed attempt is retried with exponential backoff and jitter until the subscriber's
``RetryPolicy`` runs out (``MaxRetryAttempts`` first, then ``MaxEventAgeInSeconds``, counted
from the first attempt), then one failure record per failed batch goes to the
``OnFailureConfiguration`` queue, or the events are dropped when there is none. Progress is in
the store, so a restart resumes where it stopped; an attempt cut short by the restart is made
again (at-least-once).
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from eventlab.eventbridgev2.filters import event_matches
from eventlab.eventbridgev2.store import Store, dumps, loads
from eventlab.eventbridgev2.targets import DeliveryEvent, Failure, TargetClients, resolve_target
from eventlab.eventbridgev2.transform import JSON_CONTENT_TYPES

log = logging.getLogger(__name__)

UNORDERED_CONCURRENCY = 8
SCAN_LIMIT = 500
PENDING_WINDOW = 5000
PURGE_INTERVAL = 60.0
DEDUP_WINDOW = 300.0
PER_ENTRY_TARGETS = ("sqs", "sns", "kinesis", "eventbusv2")


def iso_millis(epoch: float) -> str:
    """``2026-09-07T01:43:53.768Z``, the form AWS's dead-letter record uses."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class DeliveryEngine:
    """Scans, dispatches and records deliveries for every running subscriber."""

    def __init__(
        self,
        store: Store,
        targets: TargetClients,
        *,
        clock: Callable[[], float],
        retry_base_delay: float = 1.0,
        retry_max_delay: float = 60.0,
        workers: int = 16,
        idle_interval: float = 1.0,
        on_tick: Callable[[], None] | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.targets = targets
        self.clock = clock
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.idle_interval = idle_interval
        self.on_tick = on_tick
        self._cond = threading.Condition()
        self._wake = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pool = executor or ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventbridgev2-delivery")
        self._in_flight: dict[str, set[int]] = defaultdict(set)
        self._busy_groups: dict[str, set[str]] = defaultdict(set)
        self._batches: dict[str, int] = defaultdict(int)
        self.stats: dict[str, dict[str, int]] = defaultdict(
            lambda: {"attempts": 0, "failed_attempts": 0, "delivered": 0, "dead_lettered": 0,
                     "dropped": 0, "in_flight": 0, "max_in_flight": 0}
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="eventbridgev2-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=True)

    def notify(self) -> None:
        """Something changed (an event published, a subscriber updated): look again now."""
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._cond:
            return {arn: dict(values) for arn, values in self.stats.items()}

    # -- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        last_purge = float("-inf")
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._wake = False
            next_due: float | None = None
            try:
                if self.on_tick is not None:
                    self.on_tick()
                now = self.clock()
                if now - last_purge >= PURGE_INTERVAL:
                    self.purge(now)
                    last_purge = now
                next_due = self._tick(now)
            except Exception:
                log.exception("the delivery loop failed; trying again")
            timeout = self.idle_interval
            if next_due is not None:
                timeout = max(0.0, min(timeout, next_due - self.clock()))
            with self._cond:
                if not self._wake and not self._stopping:
                    self._cond.wait(timeout)

    def _tick(self, now: float) -> float | None:
        """Scan and dispatch every running subscriber once; returns when the next retry is due."""
        subscribers = self.store.query(
            "SELECT s.* FROM subscribers s JOIN buses b ON b.arn = s.bus_arn "
            "WHERE s.state = 'RUNNING' AND s.revoked = 0 "
            "AND b.state IN ('ACTIVE', 'UPDATING', 'UPDATE_FAILED') ORDER BY s.created"
        )
        next_due: float | None = None
        for subscriber in subscribers:
            config = loads(subscriber["config"])
            self._scan(subscriber, config, now)
            due = self._dispatch(subscriber["arn"], config, now)
            if due is not None:
                next_due = due if next_due is None else min(next_due, due)
        return next_due

    def _scan(self, subscriber: Mapping[str, Any], config: Mapping[str, Any], now: float) -> None:
        arn, cursor = subscriber["arn"], subscriber["cursor"]
        end = config.get("EndPoint")
        filters = config.get("Filters")
        fifo = config.get("Type") == "FIFO"
        for _ in range(4):
            rows = self.store.query(
                "SELECT * FROM events WHERE bus_arn = ? AND seq > ? ORDER BY seq LIMIT ?",
                (subscriber["bus_arn"], cursor, SCAN_LIMIT),
            )
            if not rows:
                return
            with self.store.transaction():
                if self.store.scalar("SELECT cursor FROM subscribers WHERE arn = ?", (arn,)) != cursor:
                    return  # moved meanwhile (a resume at LATEST, or a delete): look next tick
                for row in rows:
                    if end is not None and row["ingested"] > end:
                        continue
                    system = loads(row["system_metadata"])
                    json_data = row["content_type"] in JSON_CONTENT_TYPES
                    if filters:
                        if not event_matches(
                            filters,
                            data=json.loads(row["data"]) if json_data else None,
                            has_data=json_data,
                            metadata=loads(row["metadata"]),
                            system_metadata=system,
                        ):
                            continue
                    self.store.execute(
                        "INSERT OR IGNORE INTO pending (subscriber_arn, seq, group_key, enqueued, "
                        "next_attempt, delivery_type) VALUES (?, ?, ?, ?, ?, ?)",
                        (arn, row["seq"], system.get("EventGroupId", "") if fifo else "", now, now,
                         "REPLAY" if row["seq"] <= subscriber["live_from"] else "LIVE"),
                    )
                cursor = rows[-1]["seq"]
                self.store.execute("UPDATE subscribers SET cursor = ? WHERE arn = ?", (cursor, arn))
            if len(rows) < SCAN_LIMIT:
                return

    def _dispatch(self, arn: str, config: Mapping[str, Any], now: float) -> float | None:
        batch_config = config["BatchConfiguration"]
        size, window = batch_config["MaxBatchSize"], batch_config["MaxBatchWindowInSeconds"]
        if config.get("Type") == "FIFO" and resolve_target(config["InvokeConfiguration"]["TargetArn"]).kind in PER_ENTRY_TARGETS:
            # A batch API can refuse entry k and accept entry k+1, which would deliver a group out
            # of order; so a FIFO subscriber sends these targets one event per call.
            size = 1
        rows = self.store.query(
            "SELECT seq, group_key, enqueued, next_attempt, attempts FROM pending "
            "WHERE subscriber_arn = ? ORDER BY seq LIMIT ?",
            (arn, PENDING_WINDOW),
        )
        next_due: float | None = None

        def later(moment: float) -> None:
            nonlocal next_due
            next_due = moment if next_due is None else min(next_due, moment)

        with self._cond:
            in_flight = self._in_flight[arn]
            if config.get("Type") == "FIFO":
                groups: dict[str, list[dict[str, Any]]] = {}
                for row in rows:
                    groups.setdefault(row["group_key"], []).append(row)
                for group, items in groups.items():
                    if group in self._busy_groups[arn]:
                        continue
                    head = items[0]
                    if head["next_attempt"] > now:
                        later(head["next_attempt"])  # the group is held until its head is retried
                        continue
                    batch = [head]
                    for row in items[1:]:
                        if len(batch) >= size or row["next_attempt"] > now:
                            break
                        batch.append(row)
                    if window and len(batch) < size and head["attempts"] == 0 and head["enqueued"] + window > now:
                        later(head["enqueued"] + window)
                        continue
                    self._busy_groups[arn].add(group)
                    self._submit(arn, group, batch)
                return next_due
            due = []
            for row in rows:
                if row["seq"] in in_flight:
                    continue
                if row["next_attempt"] > now:
                    later(row["next_attempt"])
                else:
                    due.append(row)
            if due and window and len(due) < size and min(r["enqueued"] for r in due) + window > now:
                later(min(r["enqueued"] for r in due) + window)
                return next_due
            for start in range(0, len(due), size):
                if self._batches[arn] >= UNORDERED_CONCURRENCY:
                    later(now + 0.05)
                    break
                self._submit(arn, None, due[start : start + size])
        return next_due

    def _submit(self, arn: str, group: str | None, batch: list[dict[str, Any]]) -> None:
        """Hand a batch to a worker (called with the condition held)."""
        self._in_flight[arn].update(row["seq"] for row in batch)
        self._batches[arn] += 1
        stats = self.stats[arn]
        stats["in_flight"] += len(batch)
        stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        self._pool.submit(self._deliver, arn, group, batch)

    # -- one attempt -------------------------------------------------------------------------
    def _deliver(self, arn: str, group: str | None, batch: list[dict[str, Any]]) -> None:
        try:
            self._attempt(arn, batch)
        except Exception:
            log.exception("delivery for %s failed unexpectedly; it will be retried", arn)
            with self.store.transaction():
                for row in batch:
                    self.store.execute(
                        "UPDATE pending SET next_attempt = ? WHERE subscriber_arn = ? AND seq = ?",
                        (self.clock() + self.retry_base_delay, arn, row["seq"]),
                    )
        finally:
            with self._cond:
                self._in_flight[arn].difference_update(row["seq"] for row in batch)
                self._batches[arn] -= 1
                self.stats[arn]["in_flight"] -= len(batch)
                if group is not None:
                    self._busy_groups[arn].discard(group)
                self._wake = True
                self._cond.notify_all()

    def _attempt(self, arn: str, batch: list[dict[str, Any]]) -> None:
        subscriber = self.store.one("SELECT * FROM subscribers WHERE arn = ?", (arn,))
        if subscriber is None:
            return
        config = loads(subscriber["config"])
        seqs = [row["seq"] for row in batch]
        marks = ",".join("?" * len(seqs))
        pending = {
            row["seq"]: row
            for row in self.store.query(
                f"SELECT * FROM pending WHERE subscriber_arn = ? AND seq IN ({marks})", (arn, *seqs)
            )
        }
        stored = {
            row["seq"]: row
            for row in self.store.query(f"SELECT * FROM events WHERE seq IN ({marks})", seqs)
        }
        events: list[DeliveryEvent] = []
        rows: list[dict[str, Any]] = []
        for seq in seqs:
            if seq not in pending:
                continue  # discarded meanwhile (resumed at LATEST)
            row = stored.get(seq)
            if row is None:  # expired from retention while it waited
                self.store.execute("DELETE FROM pending WHERE subscriber_arn = ? AND seq = ?", (arn, seq))
                continue
            events.append(DeliveryEvent(
                seq=seq, event_id=row["event_id"], content_type=row["content_type"], data=row["data"],
                metadata=loads(row["metadata"]), system_metadata=loads(row["system_metadata"]),
                delivery_type=pending[seq]["delivery_type"],
            ))
            rows.append({**pending[seq], "ingested": row["ingested"]})
        if not events:
            return
        ref = resolve_target(config["InvokeConfiguration"]["TargetArn"])
        outcomes = self.targets.deliver(ref, config, events)
        self._record(subscriber, config, ref.arn, rows, events, outcomes)

    def _backoff(self, attempts: int) -> float:
        delay = min(self.retry_max_delay, self.retry_base_delay * 2 ** (attempts - 1))
        return delay * random.uniform(0.5, 1.0)

    def _record(self, subscriber: Mapping[str, Any], config: Mapping[str, Any], target_arn: str,
                rows: list[dict[str, Any]], events: list[DeliveryEvent],
                outcomes: list[Failure | None]) -> None:
        arn = subscriber["arn"]
        policy = config["RetryPolicy"]
        now = self.clock()
        exhausted: dict[tuple[str, str, str, int], list[tuple[dict[str, Any], DeliveryEvent, Failure]]] = defaultdict(list)
        delivered = failed = 0
        # One delay for the whole call, so its events are retried together (one failure record).
        delay = self._backoff(max(row["attempts"] for row in rows) + 1)
        with self.store.transaction():
            for row, event, outcome in zip(rows, events, outcomes, strict=True):
                if outcome is None:
                    delivered += 1
                    self.store.execute("DELETE FROM pending WHERE subscriber_arn = ? AND seq = ?", (arn, row["seq"]))
                    continue
                failed += 1
                attempts = row["attempts"] + 1
                first = row["first_attempt"] if row["first_attempt"] is not None else now
                retries = attempts - 1
                condition = None
                if retries >= policy["MaxRetryAttempts"]:
                    condition = "MaximumRetryAttempts"
                elif now - first >= policy["MaxEventAgeInSeconds"]:
                    condition = "MaximumEventAgeInSeconds"
                if condition is not None:
                    self.store.execute("DELETE FROM pending WHERE subscriber_arn = ? AND seq = ?", (arn, row["seq"]))
                    exhausted[(outcome.code, outcome.message, condition, retries)].append((row, event, outcome))
                    continue
                retry_at = min(now + delay, first + policy["MaxEventAgeInSeconds"])
                self.store.execute(
                    "UPDATE pending SET attempts = ?, first_attempt = ?, next_attempt = ?, last_error = ? "
                    "WHERE subscriber_arn = ? AND seq = ?",
                    (attempts, first, retry_at, dumps({"code": outcome.code, "message": outcome.message}),
                     arn, row["seq"]),
                )
        with self._cond:
            stats = self.stats[arn]
            stats["attempts"] += len(events)
            stats["delivered"] += delivered
            stats["failed_attempts"] += failed
        self._log_attempts(config, arn, events, outcomes)
        for (code, message, condition, retries), items in exhausted.items():
            self._dead_letter(subscriber, config, target_arn, code, message, condition, retries, items)

    def _dead_letter(self, subscriber: Mapping[str, Any], config: Mapping[str, Any], target_arn: str,
                     code: str, message: str, condition: str, retries: int,
                     items: list[tuple[dict[str, Any], DeliveryEvent, Failure]]) -> None:
        arn = subscriber["arn"]
        record = {
            "version": "1.0",
            "busArn": subscriber["bus_arn"],
            "subscriberArn": arn,
            "targetArn": target_arn,
            "errorCode": code,
            "errorMessage": message,
            "exhaustedRetryCondition": condition,
            "retryAttempts": retries,
            "failedMessages": [
                {
                    "eventId": event.event_id,
                    "eventGroupId": event.system_metadata.get("EventGroupId"),
                    "deduplicationId": event.system_metadata.get("DeduplicationId"),
                    "timestamp": iso_millis(row["ingested"]),
                    "targetRequestId": failure.request_id,
                }
                for row, event, failure in items
            ],
        }
        queue = (config.get("OnFailureConfiguration") or {}).get("Arn")
        counter = "dropped"
        if queue:
            try:
                self.targets.send_dead_letter(queue, record, record["failedMessages"][0]["eventGroupId"])
                counter = "dead_lettered"
                log.info("%s: %d event(s) dead-lettered to %s after %d retries (%s)", arn, len(items), queue, retries, condition)
            except Exception as error:  # noqa: BLE001 - a failed dead letter is a loss, as on AWS
                log.error("%s: could not write the failure record to %s (%s); %d event(s) dropped", arn, queue, error, len(items))
        else:
            log.warning("%s: %d event(s) dropped after %d retries (%s); the subscriber has no "
                        "OnFailureConfiguration", arn, len(items), retries, condition)
        with self._cond:
            self.stats[arn][counter] += len(items)

    def _log_attempts(self, config: Mapping[str, Any], arn: str, events: list[DeliveryEvent],
                      outcomes: list[Failure | None]) -> None:
        logging_config = config.get("LogConfiguration") or {}
        level = logging_config.get("Level", "OFF")
        for event, outcome in zip(events, outcomes, strict=True):
            if level == "OFF" or (level == "ERROR" and outcome is None):
                log.debug("%s: event %s %s", arn, event.event_id, "delivered" if outcome is None else outcome.message)
                continue
            record: dict[str, Any] = {
                "message_type": "EVENT_DELIVERY_ATTEMPT",
                "subscriber_arn": arn,
                "event_id": event.event_id,
                "details": {"outcome": "SUCCESS" if outcome is None else "FAILURE",
                            "target_request_id": "" if outcome is None else outcome.request_id},
            }
            if outcome is not None:
                record["error"] = {"error_code": outcome.code, "error_message": outcome.message}
            include = logging_config.get("IncludePayload", "ON_ERROR_ONLY")
            if include == "FULL" or (include == "ON_ERROR_ONLY" and outcome is not None):
                record["details"]["target_input"] = event.view
            log.log(logging.INFO if outcome is None else logging.ERROR, "%s", json.dumps(record, default=str))

    # -- housekeeping ------------------------------------------------------------------------
    def purge(self, now: float) -> None:
        """Expire events older than their bus's retention (unless a subscriber still owes them) and
        deduplication keys older than the 5-minute window."""
        with self.store.transaction():
            for bus in self.store.query("SELECT arn, retention_days FROM buses"):
                self.store.execute(
                    "DELETE FROM events WHERE bus_arn = ? AND ingested < ? "
                    "AND seq NOT IN (SELECT seq FROM pending)",
                    (bus["arn"], now - bus["retention_days"] * 86400.0),
                )
            self.store.execute("DELETE FROM dedup WHERE first_seen <= ?", (now - DEDUP_WINDOW,))
