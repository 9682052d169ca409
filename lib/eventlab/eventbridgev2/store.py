"""The server's state in one SQLite file: buses, subscribers, retained events, and delivery progress.

Every change is a transaction, so a restart (or a crash) loses nothing that a response already
confirmed: a published event is in ``events`` before ``PutEvents`` answers, and an event leaves a
subscriber's ``pending`` rows only once its delivery succeeded, was dead-lettered or was dropped.
One connection is shared by the server's threads behind a lock; SQLite's WAL journal keeps
writes cheap.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "1"
DB_NAME = "eventbridgev2.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS buses (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    kms_key TEXT,
    retention_days INTEGER NOT NULL,
    state TEXT NOT NULL,
    state_reason TEXT,
    ready_at REAL NOT NULL,
    created REAL NOT NULL,
    modified REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS subscribers (
    arn TEXT PRIMARY KEY,
    bus_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    modified REAL NOT NULL,
    cursor INTEGER NOT NULL,
    live_from INTEGER NOT NULL,
    UNIQUE (bus_arn, name)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bus_arn TEXT NOT NULL,
    event_id TEXT NOT NULL,
    ingested REAL NOT NULL,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    metadata TEXT,
    system_metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_bus ON events (bus_arn, seq);
CREATE TABLE IF NOT EXISTS pending (
    subscriber_arn TEXT NOT NULL,
    seq INTEGER NOT NULL,
    group_key TEXT NOT NULL,
    enqueued REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_attempt REAL,
    next_attempt REAL NOT NULL,
    last_error TEXT,
    delivery_type TEXT NOT NULL,
    PRIMARY KEY (subscriber_arn, seq)
);
CREATE TABLE IF NOT EXISTS dedup (
    bus_arn TEXT NOT NULL,
    key TEXT NOT NULL,
    first_seen REAL NOT NULL,
    event_id TEXT NOT NULL,
    sequence_number TEXT NOT NULL,
    PRIMARY KEY (bus_arn, key)
);
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key)
);
CREATE TABLE IF NOT EXISTS policies (
    bus_arn TEXT NOT NULL, name TEXT NOT NULL, document TEXT NOT NULL, revision TEXT NOT NULL,
    PRIMARY KEY (bus_arn, name)
);
CREATE TABLE IF NOT EXISTS tokens (
    operation TEXT NOT NULL, token TEXT NOT NULL, fingerprint TEXT NOT NULL,
    resource_arn TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (operation, token)
);
"""


class StoreError(RuntimeError):
    """The state folder cannot be used; the message names the folder and the fix."""


class Store:
    """SQLite-backed state; ``transaction()`` groups statements, ``query()``/``execute()`` run one."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the state folder {self.state_dir}: {error}") from None
        self.path = self.state_dir / DB_NAME
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
            version = self.scalar("SELECT value FROM meta WHERE key = 'schema'")
            if version is None:
                self.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} holds state of schema {version}; this eventlab writes schema "
                    f"{SCHEMA_VERSION}. Remove the folder {self.state_dir} to start afresh."
                )
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"{self.path} is not a usable SQLite database ({error}); remove it to start afresh"
            ) from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit; nested calls join the outer transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the rows it changed (or the new row id for an INSERT)."""
        with self._lock:
            cursor = self._conn.execute(sql, params)
            return cursor.lastrowid if sql.lstrip().upper().startswith("INSERT") else cursor.rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
            return None if row is None else row[0]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
