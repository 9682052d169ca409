"""The Custom Event Bus operations: buses, subscribers, tags, resource policies, and publishing.

Each public method is one API operation, named as AWS names it, taking the request (already
checked against the model by the protocol layer) and returning the response members. The rules
beyond the model come from AWS's Custom Event Bus guide and API reference; where AWS leaves a
choice open, the docstring of :mod:`eventlab.eventbridgev2` says what eventlab chose.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from eventlab.eventbridgev2.errors import (
    ServiceError,
    already_exists,
    invalid_input,
    invalid_state,
    not_found,
    not_implemented,
)
from eventlab.eventbridgev2.filters import check_filter_configuration
from eventlab.eventbridgev2.store import Store, dumps, loads
from eventlab.eventbridgev2.targets import TARGET_BATCH_LIMIT, check_target, resolve_target
from eventlab.eventbridgev2.transform import check_expression

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 7
DEDUP_WINDOW_SECONDS = 300.0
DEFAULT_MAX_EVENT_BUSES = 5
DEFAULT_PAGE_SIZE = 100
POLICY_QUOTA_BYTES = 20480
EVENTBRIDGE_CONTENT_TYPE = "application/eventbridge+json"
RAW_CONTENT_TYPES = ("application/json", "application/avro", "application/protobuf", "application/octet-stream")
PUBLISHABLE = ("ACTIVE", "UPDATING", "UPDATE_FAILED")
_ID_ALPHABET = string.ascii_lowercase + string.digits
# Condition keys that name the caller, so a wildcard principal limited by them is not public.
_CALLER_CONDITION_KEYS = {
    "aws:sourceaccount", "aws:sourcearn", "aws:sourceowner", "aws:sourceorgid", "aws:sourceorgpaths",
    "aws:principalaccount", "aws:principalarn", "aws:principalorgid", "aws:principalorgpaths",
    "aws:userid", "aws:principalservicename", "aws:sourcevpce", "aws:sourcevpc",
}


def new_id() -> str:
    """The 25-character id AWS appends to bus and subscriber ARNs."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(25))


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _epoch(moment: Any) -> float | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment.timestamp()
    return float(moment)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fingerprint(params: Mapping[str, Any]) -> str:
    payload = {k: v for k, v in params.items() if k != "ClientToken"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class _Page:
    """Opaque NextTokens: the sort key after which the next page starts."""

    @staticmethod
    def encode(after: str) -> str:
        return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()

    @staticmethod
    def decode(token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return str(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
        except (ValueError, KeyError, TypeError):
            raise invalid_input("The NextToken is not valid; pass the token a previous page returned") from None


def _page(items: list[dict[str, Any]], key: Callable[[dict[str, Any]], str], params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    after = _Page.decode(params.get("NextToken"))
    size = params.get("MaxResults") or DEFAULT_PAGE_SIZE
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[:size]
    token = _Page.encode(key(page[-1])) if len(ordered) > size else None
    return page, token


class EventBusService:
    """The operations, over one :class:`Store`. ``notify`` wakes the delivery engine."""

    def __init__(
        self,
        store: Store,
        *,
        region: str,
        account_id: str,
        clock: Callable[[], float],
        provisioning_delay: float = 0.5,
        max_event_buses: int = DEFAULT_MAX_EVENT_BUSES,
        notify: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.region = region
        self.account_id = account_id
        self.clock = clock
        self.provisioning_delay = provisioning_delay
        self.max_event_buses = max_event_buses
        self.notify = notify or (lambda: None)
        self._bus_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- shared helpers ----------------------------------------------------------------------
    def bus_arn(self, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account_id}:event-busv2/{name}/{new_id()}"

    def settle(self) -> None:
        """Finish the asynchronous transitions whose time has come (CREATING/UPDATING -> ACTIVE,
        DELETING -> gone)."""
        now = self.clock()
        due = self.store.query(
            "SELECT arn, state FROM buses WHERE state IN ('CREATING', 'UPDATING', 'DELETING') AND ready_at <= ?",
            (now,),
        )
        for row in due:
            with self.store.transaction():
                if row["state"] == "DELETING":
                    self._purge_bus(row["arn"])
                    log.info("event bus %s deleted", row["arn"])
                else:
                    self.store.execute(
                        "UPDATE buses SET state = 'ACTIVE', state_reason = NULL WHERE arn = ? AND state = ?",
                        (row["arn"], row["state"]),
                    )
        if due:
            self.notify()

    def _purge_bus(self, arn: str) -> None:
        for table, column in (("events", "bus_arn"), ("dedup", "bus_arn"), ("policies", "bus_arn"),
                              ("tags", "arn"), ("buses", "arn")):
            self.store.execute(f"DELETE FROM {table} WHERE {column} = ?", (arn,))

    def _bus(self, arn: str) -> dict[str, Any]:
        self.settle()
        row = self.store.one("SELECT * FROM buses WHERE arn = ?", (arn,))
        if row is None:
            raise not_found(f"Event bus {arn} does not exist.")
        return row

    def _subscriber(self, arn: str) -> dict[str, Any]:
        row = self.store.one("SELECT * FROM subscribers WHERE arn = ?", (arn,))
        if row is None:
            raise not_found(f"Subscriber {arn} does not exist.")
        return row

    def _bus_lock(self, arn: str) -> threading.Lock:
        with self._locks_guard:
            return self._bus_locks.setdefault(arn, threading.Lock())

    def _storage(self, bus: Mapping[str, Any]) -> dict[str, Any]:
        start = max(self.clock() - bus["retention_days"] * 86400.0, bus["created"])
        return {"RetentionPeriodInDays": bus["retention_days"], "RetentionWindowStartTime": _when(start)}

    def _window_start(self, bus: Mapping[str, Any]) -> float:
        return max(self.clock() - bus["retention_days"] * 86400.0, bus["created"])

    def _idempotent(self, operation: str, params: Mapping[str, Any]) -> str | None:
        """The ARN an earlier request with this ClientToken created, if any."""
        token = params.get("ClientToken")
        if not token:
            return None
        row = self.store.one("SELECT * FROM tokens WHERE operation = ? AND token = ?", (operation, token))
        if row is None:
            return None
        if row["fingerprint"] != _fingerprint(params):
            raise ServiceError(
                "IdempotentParameterMismatchException",
                f"The client token {token!r} was used by an earlier {operation} request with different "
                "parameters. Use a new client token, or resend the earlier request unchanged.",
            )
        return str(row["resource_arn"])

    def _remember(self, operation: str, params: Mapping[str, Any], arn: str) -> None:
        token = params.get("ClientToken")
        if token:
            self.store.execute(
                "INSERT OR REPLACE INTO tokens (operation, token, fingerprint, resource_arn, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (operation, token, _fingerprint(params), arn, self.clock()),
            )

    def _set_tags(self, arn: str, tags: Mapping[str, str] | None) -> None:
        for key, value in (tags or {}).items():
            self.store.execute("INSERT OR REPLACE INTO tags (arn, key, value) VALUES (?, ?, ?)", (arn, key, value))

    # -- event buses -------------------------------------------------------------------------
    def _bus_view(self, bus: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "EventBusArn": bus["arn"],
            "Name": bus["name"],
            "Description": bus["description"],
            "EncryptionConfiguration": {"KmsKeyIdentifier": bus["kms_key"]} if bus["kms_key"] else None,
            "StorageConfiguration": self._storage(bus),
            "CreationTime": _when(bus["created"]),
            "LastModifiedTime": _when(bus["modified"]),
            "State": bus["state"],
            "StateReason": bus["state_reason"],
        }

    def CreateEventBus(self, params: dict[str, Any]) -> dict[str, Any]:
        earlier = self._idempotent("CreateEventBus", params)
        if earlier is not None:
            return self._bus_view(self._bus(earlier))
        name = params["Name"]
        self.settle()
        with self.store.transaction():
            owned = self.store.scalar("SELECT COUNT(*) FROM buses WHERE state != 'DELETING'")
            if owned >= self.max_event_buses:
                raise ServiceError(
                    "LimitExceededException",
                    f"The account already owns {owned} event buses, the [EventsV2] Event Buses quota "
                    f"({self.max_event_buses}). Delete a bus, or raise the quota "
                    "(eventlab: --max-event-buses).",
                )
            if self.store.one("SELECT arn FROM buses WHERE name = ?", (name,)) is not None:
                raise already_exists(f"An event bus named {name} already exists in this account and Region.")
            now = self.clock()
            arn = self.bus_arn(name)
            retention = (params.get("StorageConfiguration") or {}).get("RetentionPeriodInDays") or DEFAULT_RETENTION_DAYS
            self.store.execute(
                "INSERT INTO buses (arn, name, description, kms_key, retention_days, state, ready_at, "
                "created, modified) VALUES (?, ?, ?, ?, ?, 'CREATING', ?, ?, ?)",
                (arn, name, params.get("Description"),
                 (params.get("EncryptionConfiguration") or {}).get("KmsKeyIdentifier") or None,
                 retention, now + self.provisioning_delay, now, now),
            )
            self._set_tags(arn, params.get("Tags"))
            self._remember("CreateEventBus", params, arn)
        log.info("event bus %s created (retention %d days)", arn, retention)
        return self._bus_view(self._bus(arn))

    def DescribeEventBus(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bus_view(self._bus(params["EventBusArn"]))

    def ListEventBuses(self, params: dict[str, Any]) -> dict[str, Any]:
        self.settle()
        account = params.get("EventBusAccountId")
        buses = [] if account not in (None, self.account_id) else self.store.query("SELECT * FROM buses")
        prefix = params.get("NamePrefix")
        if prefix:
            buses = [bus for bus in buses if bus["name"].startswith(prefix)]
        page, token = _page(buses, lambda bus: bus["name"], params)
        summaries = []
        for bus in page:
            view = self._bus_view(bus)
            summaries.append({k: view[k] for k in ("Name", "EventBusArn", "Description", "CreationTime",
                                                    "LastModifiedTime", "State", "StateReason")}
                             | {"EventBusAccountId": self.account_id})
        return {"EventBuses": summaries, "NextToken": token}

    def UpdateEventBus(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(params["EventBusArn"])
        if bus["state"] not in ("ACTIVE", "UPDATE_FAILED"):
            raise invalid_state(f"Event bus {bus['arn']} is {bus['state']}; it can be updated once it is ACTIVE.")
        now = self.clock()
        retention = (params.get("StorageConfiguration") or {}).get("RetentionPeriodInDays") or bus["retention_days"]
        description = params["Description"] if "Description" in params else bus["description"]
        kms = bus["kms_key"]
        if "EncryptionConfiguration" in params:
            kms = params["EncryptionConfiguration"].get("KmsKeyIdentifier") or None
        self.store.execute(
            "UPDATE buses SET description = ?, kms_key = ?, retention_days = ?, state = 'UPDATING', "
            "state_reason = NULL, ready_at = ?, modified = ? WHERE arn = ?",
            (description, kms, retention, now + self.provisioning_delay, now, bus["arn"]),
        )
        view = self._bus_view(self._bus(bus["arn"]))
        return {k: view[k] for k in ("EventBusArn", "Name", "Description", "EncryptionConfiguration",
                                     "StorageConfiguration", "State", "StateReason", "LastModifiedTime")}

    def DeleteEventBus(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(params["EventBusArn"])
        if bus["state"] in ("CREATING", "UPDATING", "DELETING"):
            raise invalid_state(f"Event bus {bus['arn']} is {bus['state']}; wait until it is ACTIVE, then delete it.")
        subscribers = self.store.scalar(
            "SELECT COUNT(*) FROM subscribers WHERE bus_arn = ? AND revoked = 0", (bus["arn"],)
        )
        if subscribers:
            raise ServiceError(
                "ResourceInUseException",
                f"Event bus {bus['arn']} still has {subscribers} subscriber(s); delete them first, "
                "then delete the bus.",
            )
        now = self.clock()
        with self.store.transaction():
            # Revoked subscribers do not block the delete; they go with the bus.
            for row in self.store.query("SELECT arn FROM subscribers WHERE bus_arn = ?", (bus["arn"],)):
                self._purge_subscriber(row["arn"])
            self.store.execute(
                "UPDATE buses SET state = 'DELETING', ready_at = ?, modified = ? WHERE arn = ?",
                (now + self.provisioning_delay, now, bus["arn"]),
            )
        return {}

    # -- subscribers -------------------------------------------------------------------------
    def _resolve_subscriber_config(self, params: Mapping[str, Any], bus: Mapping[str, Any], *,
                                   existing: Mapping[str, Any] | None) -> dict[str, Any]:
        """The stored configuration: the request's blocks (or the existing ones) with AWS's defaults."""
        base = dict(existing or {})
        invoke = params.get("InvokeConfiguration")
        if invoke is not None:
            target_arn = invoke.get("TargetArn") or base["InvokeConfiguration"]["TargetArn"]
            invoke = {**invoke, "TargetArn": target_arn}
            ref = resolve_target(target_arn)
            check_target(ref, invoke, region=self.region, account=self.account_id, own_bus_arn=bus["arn"])
            self._check_invoke_expressions(invoke)
            base["InvokeConfiguration"] = invoke
        ref = resolve_target(base["InvokeConfiguration"]["TargetArn"])
        if "FilterConfiguration" in params:
            raw = params["FilterConfiguration"]
            parsed = check_filter_configuration(raw, on_create=existing is None)
            if parsed is None:
                base.pop("FilterConfiguration", None)
                base.pop("Filters", None)
            else:
                base["FilterConfiguration"] = {"Language": raw.get("Language") or "EVENT_BRIDGE_PATTERN",
                                               "Filters": raw["Filters"]}
                base["Filters"] = parsed
        if "Transformer" in params:
            transformer = params["Transformer"]
            kind = transformer.get("Type") or "RAW"
            if kind == "JSONATA":
                expression = (transformer.get("JsonataConfiguration") or {}).get("Expression")
                if not expression:
                    raise invalid_input("Transformer.JsonataConfiguration is required when Transformer.Type is JSONATA")
                problem = check_expression(expression, "Transformer.JsonataConfiguration.Expression")
                if problem:
                    raise invalid_input(problem)
            base["Transformer"] = {**transformer, "Type": kind}
        batch = params.get("BatchConfiguration", base.get("BatchConfiguration")) or {}
        limit = TARGET_BATCH_LIMIT.get(ref.kind, 10)
        base["BatchConfiguration"] = {
            "MaxBatchSize": min(batch.get("MaxBatchSize") or min(10, limit), limit),
            "MaxBatchWindowInSeconds": batch.get("MaxBatchWindowInSeconds") or 0,
        }
        retry = params.get("RetryPolicy", base.get("RetryPolicy")) or {}
        base["RetryPolicy"] = {
            "MaxRetryAttempts": 5 if retry.get("MaxRetryAttempts") is None else retry["MaxRetryAttempts"],
            "MaxEventAgeInSeconds": retry.get("MaxEventAgeInSeconds") or 300,
            "RetryStrategy": retry.get("RetryStrategy") or "ALL",
        }
        if "OnFailureConfiguration" in params:
            base["OnFailureConfiguration"] = params["OnFailureConfiguration"] or None
        logging_config = params.get("LogConfiguration", base.get("LogConfiguration")) or {}
        base["LogConfiguration"] = {"Level": logging_config.get("Level") or "OFF",
                                    "IncludePayload": logging_config.get("IncludePayload") or "ON_ERROR_ONLY"}
        if "Description" in params:
            base["Description"] = params["Description"]
        return base

    def _check_invoke_expressions(self, invoke: Mapping[str, Any]) -> None:
        for block in ("SqsParameters", "SnsParameters", "KinesisParameters", "LambdaParameters", "EventBusV2Parameters"):
            values = invoke.get(block) or {}
            for member, value in values.items():
                where = f"InvokeConfiguration.{block}.{member}"
                if isinstance(value, str):
                    problem = check_expression(value, where)
                    if problem:
                        raise invalid_input(problem)
                elif isinstance(value, Mapping):
                    for key, item in value.items():
                        items = item.items() if isinstance(item, Mapping) else [(None, item)]
                        for field, text in items:
                            if not isinstance(text, str):
                                continue
                            if field == "BinaryValue" and ("{%" in text or "%}" in text):
                                raise invalid_input(f"{where}.{key}.BinaryValue must be a literal: it is forwarded unevaluated")
                            if field != "DataType":
                                problem = check_expression(text, f"{where}.{key}")
                                if problem:
                                    raise invalid_input(problem)
            timeout = values.get("InvocationTimeoutSeconds")
            if isinstance(timeout, str) and timeout.strip().isdigit() and not 1 <= int(timeout) <= 30:
                raise invalid_input(f"InvokeConfiguration.{block}.InvocationTimeoutSeconds must be between 1 and 30")

    def _subscriber_view(self, row: Mapping[str, Any]) -> dict[str, Any]:
        config = loads(row["config"])
        point = config.get("PointInTimeConfiguration")
        if point:
            point = {"PointType": point["PointType"], "StartingPoint": _when(point.get("StartingPoint")),
                     "EndPoint": _when(point.get("EndPoint"))}
        return {
            "SubscriberArn": row["arn"],
            "Name": row["name"],
            "EventBusArn": row["bus_arn"],
            "InvokeConfiguration": config["InvokeConfiguration"],
            "Description": config.get("Description"),
            "FilterConfiguration": config.get("FilterConfiguration"),
            "Type": config["Type"],
            "StartingPosition": config["StartingPosition"],
            "PointInTimeConfiguration": point,
            "BatchConfiguration": config["BatchConfiguration"],
            "Transformer": config.get("Transformer"),
            "RetryPolicy": config["RetryPolicy"],
            "OnFailureConfiguration": config.get("OnFailureConfiguration"),
            "LogConfiguration": config["LogConfiguration"],
            "State": row["state"],
            "Revoked": True if row["revoked"] else None,
            "CreationTime": _when(row["created"]),
            "LastModifiedTime": _when(row["modified"]),
        }

    def _starting_cursor(self, params: Mapping[str, Any], bus: Mapping[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """Where a new subscriber starts reading: the event sequence after which it delivers."""
        position = params.get("StartingPosition") or "LATEST"
        point = params.get("PointInTimeConfiguration")
        latest = self.store.scalar("SELECT COALESCE(MAX(seq), 0) FROM events") or 0
        if position == "LATEST":
            if point is not None:
                raise invalid_input("PointInTimeConfiguration is only applicable when StartingPosition is POINT_IN_TIME")
            return latest, None
        if point is None:
            raise invalid_input("PointInTimeConfiguration is required when StartingPosition is POINT_IN_TIME")
        now, window = self.clock(), self._window_start(bus)
        start, end = _epoch(point.get("StartingPoint")), _epoch(point.get("EndPoint"))
        if point["PointType"] == "TIMESTAMP":
            if start is None:
                raise invalid_input("PointInTimeConfiguration.StartingPoint is required when PointType is TIMESTAMP")
            if start < window or start > now:
                raise invalid_input(
                    f"PointInTimeConfiguration.StartingPoint must fall inside the retention window: at or "
                    f"after RetentionWindowStartTime ({_iso(window)}) and not in the future"
                )
        elif start is not None:
            raise invalid_input("PointInTimeConfiguration.StartingPoint applies only when PointType is TIMESTAMP")
        if end is not None and end <= (start if start is not None else window):
            raise invalid_input("PointInTimeConfiguration.EndPoint must be after the starting point")
        stored = {"PointType": point["PointType"], "StartingPoint": start, "EndPoint": end}
        if point["PointType"] == "HORIZON":
            return 0, stored
        before = self.store.scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE bus_arn = ? AND ingested < ?", (bus["arn"], start)
        )
        return before or 0, stored

    def CreateSubscriber(self, params: dict[str, Any]) -> dict[str, Any]:
        earlier = self._idempotent("CreateSubscriber", params)
        if earlier is not None:
            return self._create_response(self._subscriber(earlier))
        bus = self._bus(params["EventBusArn"])
        if bus["state"] not in PUBLISHABLE:
            raise invalid_state(f"Event bus {bus['arn']} is {bus['state']}; create subscribers once it is ACTIVE.")
        lock = self._bus_lock(bus["arn"])
        if not lock.acquire(blocking=False):
            raise ServiceError("ConcurrentModificationException",
                               "Another subscriber create or delete is in progress on this event bus. Retry the request.")
        try:
            name = params["Name"]
            if self.store.one("SELECT arn FROM subscribers WHERE bus_arn = ? AND name = ?", (bus["arn"], name)):
                raise already_exists(f"A subscriber named {name} already exists on event bus {bus['arn']}.")
            config = self._resolve_subscriber_config(params, bus, existing=None)
            config["Type"] = params.get("Type") or "UNORDERED"
            config["StartingPosition"] = params.get("StartingPosition") or "LATEST"
            now = self.clock()
            with self.store.transaction():
                latest = self.store.scalar("SELECT COALESCE(MAX(seq), 0) FROM events") or 0
                cursor, point = self._starting_cursor(params, bus)
                if point is not None:
                    config["PointInTimeConfiguration"] = point
                    config["EndPoint"] = point.get("EndPoint")
                arn = f"arn:aws:events:{self.region}:{self.account_id}:subscriber/{name}/{new_id()}"
                self.store.execute(
                    "INSERT INTO subscribers (arn, bus_arn, name, config, state, created, modified, cursor, "
                    "live_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (arn, bus["arn"], name, dumps(config), params.get("State") or "RUNNING", now, now, cursor, latest),
                )
                self._set_tags(arn, params.get("Tags"))
                self._remember("CreateSubscriber", params, arn)
        finally:
            lock.release()
        log.info("subscriber %s created on %s (%s, from %s)", arn, bus["arn"], config["Type"], config["StartingPosition"])
        self.notify()
        return self._create_response(self._subscriber(arn))

    def _create_response(self, row: Mapping[str, Any]) -> dict[str, Any]:
        view = self._subscriber_view(row)
        return {k: view[k] for k in ("SubscriberArn", "Name", "EventBusArn", "Type", "StartingPosition",
                                     "PointInTimeConfiguration", "State", "CreationTime")}

    def DescribeSubscriber(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._subscriber_view(self._subscriber(params["SubscriberArn"]))

    def ListSubscribers(self, params: dict[str, Any]) -> dict[str, Any]:
        bus_arn = params.get("EventBusArn")
        if bus_arn is not None:
            self._bus(bus_arn)
            rows = self.store.query("SELECT * FROM subscribers WHERE bus_arn = ?", (bus_arn,))
        else:
            rows = self.store.query("SELECT * FROM subscribers")
        prefix = params.get("NamePrefix")
        if prefix:
            rows = [row for row in rows if row["name"].startswith(prefix)]
        page, token = _page(rows, lambda row: f"{row['name']}\x00{row['arn']}", params)
        summaries = []
        for row in page:
            config = loads(row["config"])
            summaries.append({
                "SubscriberArn": row["arn"], "Name": row["name"], "EventBusArn": row["bus_arn"],
                "TargetArn": config["InvokeConfiguration"]["TargetArn"], "Type": config["Type"],
                "Revoked": True if row["revoked"] else None, "State": row["state"],
                "CreationTime": _when(row["created"]), "LastModifiedTime": _when(row["modified"]),
                "SubscriberAccountId": self.account_id,
            })
        return {"Subscribers": summaries, "NextToken": token}

    def UpdateSubscriber(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._subscriber(params["SubscriberArn"])
        if row["revoked"]:
            raise invalid_state(f"Subscriber {row['arn']} has been revoked by the bus owner; only DeleteSubscriber is allowed.")
        bus = self._bus(row["bus_arn"])
        config = self._resolve_subscriber_config(params, bus, existing=loads(row["config"]))
        state = params.get("State") or row["state"]
        now = self.clock()
        with self.store.transaction():
            cursor = row["cursor"]
            if row["state"] == "STOPPED" and state == "RUNNING" and params.get("ResumePosition") == "LATEST":
                # Skip the backlog: nothing published while paused, or still waiting, is delivered.
                cursor = self.store.scalar("SELECT COALESCE(MAX(seq), 0) FROM events") or 0
                self.store.execute("DELETE FROM pending WHERE subscriber_arn = ?", (row["arn"],))
            self.store.execute(
                "UPDATE subscribers SET config = ?, state = ?, modified = ?, cursor = ? WHERE arn = ?",
                (dumps(config), state, now, cursor, row["arn"]),
            )
        if state != row["state"]:
            log.info("subscriber %s is now %s", row["arn"], state)
        self.notify()
        view = self._subscriber_view(self._subscriber(row["arn"]))
        return {k: view[k] for k in ("SubscriberArn", "Name", "EventBusArn", "Type", "StartingPosition",
                                     "PointInTimeConfiguration", "State", "LastModifiedTime")}

    def _purge_subscriber(self, arn: str) -> None:
        for table, column in (("pending", "subscriber_arn"), ("tags", "arn"), ("subscribers", "arn")):
            self.store.execute(f"DELETE FROM {table} WHERE {column} = ?", (arn,))

    def DeleteSubscriber(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._subscriber(params["SubscriberArn"])
        lock = self._bus_lock(row["bus_arn"])
        if not lock.acquire(blocking=False):
            raise ServiceError("ConcurrentModificationException",
                               "Another subscriber create or delete is in progress on this event bus. Retry the request.")
        try:
            with self.store.transaction():
                self._purge_subscriber(row["arn"])
        finally:
            lock.release()
        log.info("subscriber %s deleted", row["arn"])
        return {}

    def RevokeResource(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["Arn"]
        if ":subscriber/" not in arn:
            raise not_found(f"Event source {arn} does not exist.")
        self._subscriber(arn)
        self.store.execute("UPDATE subscribers SET revoked = 1, modified = ? WHERE arn = ?", (self.clock(), arn))
        return {"Arn": arn}

    # -- tags --------------------------------------------------------------------------------
    def _taggable(self, arn: str) -> None:
        if ":event-busv2/" in arn:
            self._bus(arn)
        elif ":subscriber/" in arn:
            self._subscriber(arn)
        else:
            raise not_found(f"Event source {arn} does not exist.")

    def TagResource(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._taggable(arn)
        existing = {row["key"] for row in self.store.query("SELECT key FROM tags WHERE arn = ?", (arn,))}
        if len(existing | set(params["Tags"])) > 200:
            raise ServiceError("LimitExceededException", f"A resource can have at most 200 tags; {arn} would have more.")
        self._set_tags(arn, params["Tags"])
        return {}

    def UntagResource(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._taggable(arn)
        for key in params["TagKeys"]:
            self.store.execute("DELETE FROM tags WHERE arn = ? AND key = ?", (arn, key))
        return {}

    def ListTagsForResource(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._taggable(arn)
        rows = self.store.query("SELECT key, value FROM tags WHERE arn = ? ORDER BY key", (arn,))
        return {"Tags": {row["key"]: row["value"] for row in rows}}

    # -- resource policies -------------------------------------------------------------------
    @staticmethod
    def _policy_name(params: Mapping[str, Any], *, writing: bool) -> str:
        name = params.get("PolicyName") or "default"
        if name not in ("default", "AWS_RAM"):
            raise invalid_input(f"PolicyName {name!r} is not valid: use default (or AWS_RAM, which only AWS RAM writes)")
        if writing and name == "AWS_RAM":
            raise ServiceError("AccessDeniedException",
                               "Only AWS Resource Access Manager can write or delete the AWS_RAM policy.")
        return name

    @staticmethod
    def _check_public(document: Mapping[str, Any]) -> None:
        statements = document.get("Statement")
        statements = statements if isinstance(statements, list) else [statements]
        for statement in statements:
            if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal")
            values: list[Any] = []
            if principal == "*":
                values = ["*"]
            elif isinstance(principal, Mapping):
                for item in principal.values():
                    values.extend(item if isinstance(item, list) else [item])
            if "*" not in values:
                continue
            conditions = statement.get("Condition") or {}
            keys = {key.lower() for operator in conditions.values() if isinstance(operator, Mapping) for key in operator}
            if not keys & _CALLER_CONDITION_KEYS:
                raise ServiceError(
                    "PublicPolicyException",
                    "The policy grants public access to the event bus: a statement has a wildcard "
                    "principal and no condition that limits the callers to specific accounts or "
                    "principals. Name the principals, or add a condition such as aws:PrincipalAccount.",
                )

    def PutResourcePolicy(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._bus(arn)
        name = self._policy_name(params, writing=True)
        text = params["PolicyDocument"]
        if len(text.encode("utf-8")) > POLICY_QUOTA_BYTES:
            raise ServiceError("PolicyLengthExceededException",
                               f"The default policy is {len(text.encode('utf-8'))} bytes; the quota is {POLICY_QUOTA_BYTES}.")
        try:
            document = json.loads(text)
        except ValueError as error:
            raise invalid_input(f"PolicyDocument is not valid JSON: {error}") from None
        if not isinstance(document, Mapping) or "Statement" not in document:
            raise invalid_input("PolicyDocument must be a JSON policy object with a Statement")
        self._check_public(document)
        with self.store.transaction():
            current = self.store.one("SELECT revision FROM policies WHERE bus_arn = ? AND name = ?", (arn, name))
            expected = params.get("ExpectedRevisionId")
            if expected is not None:
                actual = current["revision"] if current else "NO_POLICY"
                if expected != actual:
                    raise ServiceError("ConflictException",
                                       f"ExpectedRevisionId {expected} does not match the policy's current revision.")
            revision = uuid.uuid4().hex
            self.store.execute(
                "INSERT OR REPLACE INTO policies (bus_arn, name, document, revision) VALUES (?, ?, ?, ?)",
                (arn, name, text, revision),
            )
        return {"ResourceArn": arn, "PolicyName": name, "RevisionId": revision}

    def GetResourcePolicy(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._bus(arn)
        name = self._policy_name(params, writing=False)
        row = self.store.one("SELECT * FROM policies WHERE bus_arn = ? AND name = ?", (arn, name))
        if row is None:
            raise not_found(f"Event bus {arn} has no {name} resource policy.")
        return {"ResourceArn": arn, "PolicyDocument": row["document"], "PolicyName": name, "RevisionId": row["revision"]}

    def DeleteResourcePolicy(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._bus(arn)
        name = self._policy_name(params, writing=True)
        expected = params.get("ExpectedRevisionId")
        if expected == "NO_POLICY":
            raise invalid_input("ExpectedRevisionId NO_POLICY is not valid on DeleteResourcePolicy")
        with self.store.transaction():
            row = self.store.one("SELECT revision FROM policies WHERE bus_arn = ? AND name = ?", (arn, name))
            if expected is not None and (row is None or row["revision"] != expected):
                raise ServiceError("ConflictException",
                                   f"ExpectedRevisionId {expected} does not match the policy's current revision.")
            if row is None:
                return {}
            self.store.execute("DELETE FROM policies WHERE bus_arn = ? AND name = ?", (arn, name))
        return {"RevisionId": row["revision"]}

    def ListResourcePolicies(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["ResourceArn"]
        self._bus(arn)
        rows = self.store.query("SELECT name, revision FROM policies WHERE bus_arn = ?", (arn,))
        page, token = _page(rows, lambda row: row["name"], params)
        return {"PolicySummaries": [{"PolicyName": r["name"], "RevisionId": r["revision"]} for r in page],
                "NextToken": token}

    # -- event sources (not emulated) ---------------------------------------------------------
    def CreateEventSource(self, params: dict[str, Any]) -> dict[str, Any]:
        self._bus(params["EventBusArn"])
        raise not_implemented("CreateEventSource", "AWS service, partner and webhook event sources need "
                              "the classic EventBridge side or a public HTTPS endpoint, which this "
                              "server does not run")

    def DescribeEventSource(self, params: dict[str, Any]) -> dict[str, Any]:
        raise not_found(f"Event source {params['EventSourceArn']} does not exist.")

    UpdateEventSource = DescribeEventSource
    DeleteEventSource = DescribeEventSource
    # botocore 1.44's model adds webhook event sources; none can exist here, so rotating one's
    # credential finds nothing, as on AWS for an ARN the account does not have.
    RotateWebhookCredentials = DescribeEventSource

    def ListEventSources(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("EventBusArn"):
            self._bus(params["EventBusArn"])
        return {"EventSources": []}

    # -- publishing --------------------------------------------------------------------------
    def _publishable_bus(self, arn: str) -> dict[str, Any]:
        bus = self._bus(arn)
        if bus["state"] not in PUBLISHABLE:
            raise invalid_state(f"Event bus {arn} is {bus['state']} and cannot accept events yet; "
                                "wait until DescribeEventBus reports ACTIVE (the EventBusActive waiter).")
        return bus

    def _ingest(self, bus_arn: str, entries: list[dict[str, Any]], dedup: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """Store accepted entries (or find their duplicates); one result per entry, in order.

        Each entry is ``{"ContentType", "Data", "Metadata", "System", "ContentKey"}`` or, when the
        caller already rejected it, ``{"Error": (code, message)}``.
        """
        content_based = (dedup or {}).get("DeduplicationType") == "CONTENT_BASED"
        results: list[dict[str, Any]] = []
        accepted = False
        with self.store.transaction():
            for entry in entries:
                if "Error" in entry:
                    code, message = entry["Error"]
                    results.append({"ErrorCode": code, "ErrorMessage": message})
                    continue
                now = self.clock()
                system = entry["System"]
                key = None
                if content_based:
                    key = "content:" + entry["ContentKey"]
                elif system.get("DeduplicationId"):
                    key = "id:" + system["DeduplicationId"]
                if key is not None:
                    seen = self.store.one("SELECT * FROM dedup WHERE bus_arn = ? AND key = ?", (bus_arn, key))
                    if seen is not None and now - seen["first_seen"] < DEDUP_WINDOW_SECONDS:
                        results.append({"EventId": seen["event_id"], "SequenceNumber": seen["sequence_number"],
                                        "SuccessCode": "DEDUPLICATED"})
                        continue
                event_id = entry.get("EventId") or str(uuid.uuid4())
                system = {**system, "aws:EventId": event_id, "aws:IngestionTime": _iso(now)}
                seq = self.store.execute(
                    "INSERT INTO events (bus_arn, event_id, ingested, content_type, data, metadata, "
                    "system_metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (bus_arn, event_id, now, entry["ContentType"], entry["Data"],
                     None if entry.get("Metadata") is None else dumps(entry["Metadata"]), "{}"),
                )
                sequence_number = f"{seq:020d}"
                system["aws:SequenceNumber"] = sequence_number
                self.store.execute("UPDATE events SET system_metadata = ? WHERE seq = ?", (dumps(system), seq))
                if key is not None:
                    self.store.execute(
                        "INSERT OR REPLACE INTO dedup (bus_arn, key, first_seen, event_id, sequence_number) "
                        "VALUES (?, ?, ?, ?, ?)", (bus_arn, key, now, event_id, sequence_number),
                    )
                results.append({"EventId": event_id, "SequenceNumber": sequence_number, "SuccessCode": "PUBLISHED"})
                accepted = True
        if accepted:
            self.notify()
        return results

    def _publish_response(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}

    def PutEvents(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._publishable_bus(params["EventBusArn"])
        prepared = []
        for entry in params["Entries"]:
            prepared.append(self._prepare_put_event(bus, entry))
        return self._publish_response(self._ingest(bus["arn"], prepared, params.get("DeduplicationConfiguration")))

    def _prepare_put_event(self, bus: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
        source, detail_type = entry["Source"], entry["DetailType"]
        if source.startswith("aws."):
            return {"Error": ("InvalidArgument", "Source: the aws. value prefix is service-reserved and "
                              "cannot be used as a value; use your own, e.g. com.example.orders")}
        text = entry.get("Detail")
        try:
            detail = json.loads(text) if text is not None else {}
        except ValueError:
            return {"Error": ("MalformedDetail", "Detail is malformed: it must be a JSON object.")}
        if not isinstance(detail, dict):
            return {"Error": ("MalformedDetail", "Detail is malformed: it must be a JSON object.")}
        event_id = str(uuid.uuid4())
        when = _epoch(entry.get("Time"))
        envelope = {
            "version": "0",
            "id": event_id,
            "detail-type": detail_type,
            "source": source,
            "account": self.account_id,
            "time": _iso(when if when is not None else self.clock()),
            "region": self.region,
            "resources": list(entry.get("Resources") or []),
            "detail": detail,
        }
        system = {"ContentType": EVENTBRIDGE_CONTENT_TYPE, "aws:Source": source, "aws:DetailType": detail_type}
        metadata_in = entry.get("SystemMetadata") or {}
        for member in ("EventGroupId", "DeduplicationId"):
            if metadata_in.get(member):
                system[member] = metadata_in[member]
        content = {"Source": source, "DetailType": detail_type, "Detail": text,
                   "Resources": entry.get("Resources") or [], "Time": when}
        return {
            "EventId": event_id,
            "ContentType": EVENTBRIDGE_CONTENT_TYPE,
            "Data": json.dumps(envelope, separators=(",", ":")).encode("utf-8"),
            "Metadata": None,
            "System": system,
            "ContentKey": hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest(),
        }

    def PutRawEvents(self, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._publishable_bus(params["EventBusArn"])
        registry = params.get("SchemaRegistryConfiguration")
        prepared = []
        for entry in params["Entries"]:
            content_type = entry["SystemMetadata"]["ContentType"]
            if content_type in ("application/avro", "application/protobuf") and registry is not None:
                raise ServiceError(
                    "SchemaRegistryUnavailableException",
                    f"The configured schema registry {registry['RegistryUri']} could not be reached: "
                    "eventlab's local Custom Event Bus has no schema registry. Publish "
                    "application/json or application/octet-stream locally.",
                )
            prepared.append(self._prepare_raw_event(entry, registry))
        return self._publish_response(self._ingest(bus["arn"], prepared, params.get("DeduplicationConfiguration")))

    @staticmethod
    def _prepare_raw_event(entry: Mapping[str, Any], registry: Mapping[str, Any] | None) -> dict[str, Any]:
        system_in = entry["SystemMetadata"]
        content_type = system_in["ContentType"]
        data: bytes = entry["Data"]
        if content_type not in RAW_CONTENT_TYPES:
            return {"Error": ("InvalidArgument", f"Unsupported contentType: {content_type}. Supported types: "
                              "application/json, application/avro, application/protobuf, application/octet-stream.")}
        if content_type in ("application/avro", "application/protobuf") and registry is None:
            return {"Error": ("InvalidArgument", "SchemaRegistryConfiguration is required for open-format events")}
        if content_type == "application/json":
            try:
                json.loads(data)
            except ValueError:
                return {"Error": ("InvalidArgument", "Data is not valid JSON, as ContentType application/json requires.")}
        system = {"ContentType": content_type}
        for member in ("EventGroupId", "DeduplicationId"):
            if system_in.get(member):
                system[member] = system_in[member]
        metadata = dict(entry.get("Metadata") or {})
        digest = hashlib.sha256()
        digest.update(content_type.encode() + b"\x00" + data + b"\x00" + json.dumps(metadata, sort_keys=True).encode())
        return {"ContentType": content_type, "Data": data, "Metadata": metadata if entry.get("Metadata") is not None else None,
                "System": system, "ContentKey": digest.hexdigest()}

    def forward(self, bus_arn: str, entries: list[dict[str, Any]], dedup: Mapping[str, Any] | None) -> list[str | None]:
        """Publish a subscriber's deliveries onto another Custom Event Bus (its target)."""
        try:
            bus = self._publishable_bus(bus_arn)
        except ServiceError as error:
            return [f"{error.code}: {error.message}"] * len(entries)
        prepared = []
        for entry in entries:
            system = {"ContentType": entry["ContentType"], **entry.get("Carried", {})}
            for member in ("EventGroupId", "DeduplicationId"):
                if entry.get(member):
                    system[member] = entry[member]
            digest = hashlib.sha256(entry["ContentType"].encode() + b"\x00" + entry["Data"] + b"\x00"
                                    + json.dumps(entry.get("Metadata") or {}, sort_keys=True).encode())
            prepared.append({"ContentType": entry["ContentType"], "Data": entry["Data"],
                             "Metadata": entry.get("Metadata"), "System": system, "ContentKey": digest.hexdigest()})
        results = self._ingest(bus["arn"], prepared, dedup)
        return [None if "ErrorCode" not in r else f"{r['ErrorCode']}: {r['ErrorMessage']}" for r in results]
