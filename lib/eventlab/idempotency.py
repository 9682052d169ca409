"""An idempotency store on S3 conditional writes: each message's side effect runs once per key.

This module depends on the standard library and botocore only, so that Lambda handlers can
bundle it as a file of their package (``bundle.txt`` in a handler folder; see
:func:`eventlab.services.lambda_.package`) and use the same store on the emulator and on AWS.

SQS standard queues, SNS and EventBridge deliver *at least once*, so a consumer sees
duplicates. The usual cure is a table keyed by message id (Powertools uses DynamoDB); DynamoDB
Local cannot run here, so this store uses what both LocalStack 2026.3.0 and AWS enforce: S3
``PutObject`` with ``IfNoneMatch="*"`` (create only if absent) and ``IfMatch=<etag>`` (replace
only the version read). S3 decides who wins, so the store is thread- and process-safe by
construction: no lock, no read-then-write race.

One object per key, ``<namespace>/<sha256(key)>.json``, holding a record:

- ``IN_PROGRESS``: claimed, side effect running. Others' claims fail. If the owner dies, the
  claim lapses after ``in_progress_expiry`` seconds (a lease) and the next delivery may take it.
- ``COMPLETED``: done, with the JSON result. Claims fail until ``expires_after`` seconds
  (the TTL, default one hour) have passed; then the key counts as new again.
- ``RELEASED``: the side effect failed and gave the claim back: the next delivery may run it.

Failure semantics (the safe choice): a side effect that raises does **not** count as done.
:func:`idempotent` releases the claim and re-raises, so the message is not deleted and its
redelivery runs the side effect again. A duplicate that arrives while the first is still in
progress gets :class:`AlreadyInProgressError` (leave the message for redelivery) unless
``wait`` is given.

Expiry is logical: it is checked on each claim against the writer's clock
(``time.time()``; hosts need roughly synchronised clocks). Objects themselves stay until the
run's bucket is deleted; on a long-lived bucket add an S3 lifecycle rule that expires the
namespace prefix after a day or more (S3 lifecycle works in days).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from botocore.exceptions import ClientError

if TYPE_CHECKING:  # only type names: this module must import without eventlab (see below)
    from eventlab.run import Run
    from eventlab.target import Target

log = logging.getLogger(__name__)

Status = Literal["IN_PROGRESS", "COMPLETED", "RELEASED"]
P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_EXPIRES_AFTER = 3600.0
DEFAULT_IN_PROGRESS_EXPIRY = 300.0
MAX_ATTEMPTS = 20
_CONFLICT = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


class IdempotencyError(RuntimeError):
    """An idempotency store problem; the message says what and what to do."""


class AlreadyInProgressError(IdempotencyError):
    """Another consumer holds the key and has not finished: retry the message later."""


class ClaimLostError(IdempotencyError):
    """Our claim lapsed (its lease expired) and another consumer took the key over."""


@dataclass(frozen=True)
class IdempotencyRecord:
    """What the store holds for one key."""

    key: str
    status: Status
    token: str
    claimed_at: float
    expires_at: float
    result: Any = None

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class IdempotencyStore:
    """Claims on keys, kept in an S3 bucket; the conditional write decides who wins."""

    def __init__(
        self,
        s3: Target | Any,
        bucket: str,
        *,
        namespace: str = "idempotency",
        expires_after: float = DEFAULT_EXPIRES_AFTER,
        in_progress_expiry: float = DEFAULT_IN_PROGRESS_EXPIRY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if expires_after <= 0 or in_progress_expiry <= 0:
            raise ValueError("expires_after and in_progress_expiry are seconds and must be positive")
        self.bucket = bucket
        self.namespace = namespace.strip("/")
        self.expires_after = expires_after
        self.in_progress_expiry = in_progress_expiry
        self.clock = clock
        # A Target (its S3 client), or an S3 client itself (inside a Lambda handler).
        self.s3 = s3.client("s3") if hasattr(s3, "client") else s3
        self._held: dict[str, tuple[str, str]] = {}  # key -> (ETag, token) of the claims we hold
        self._lock = threading.Lock()

    @classmethod
    def create(cls, run: Run, base: str = "idempotency", **options: Any) -> IdempotencyStore:
        """A store in a new bucket of the run (deleted with it)."""
        from eventlab.services import s3

        bucket = s3.create_bucket(run, base)
        return cls(run.target, bucket.name, **options)

    # -- records -------------------------------------------------------------------------------
    def object_key(self, key: str) -> str:
        """The S3 key for an idempotency key (hashed: any string is a valid key)."""
        return f"{self.namespace}/{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _read(self, key: str) -> tuple[IdempotencyRecord, str] | None:
        try:
            reply = self.s3.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                return None
            raise
        data = json.loads(reply["Body"].read())
        return IdempotencyRecord(**data), reply["ETag"]

    def _write(self, record: IdempotencyRecord, *, if_match: str | None = None) -> str | None:
        """Write a record: only if absent (``if_match`` None) or if unchanged since read.

        Returns the new ETag, or None when another writer got there first.
        """
        condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
        try:
            reply = self.s3.put_object(
                Bucket=self.bucket,
                Key=self.object_key(record.key),
                Body=json.dumps(asdict(record)).encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if _code(error) in _CONFLICT or _code(error) in ("NoSuchKey", "404"):
                return None
            raise
        return str(reply["ETag"])

    def get(self, key: str) -> IdempotencyRecord | None:
        """The record for ``key``, or None if it was never claimed."""
        found = self._read(key)
        return found[0] if found else None

    # -- claims --------------------------------------------------------------------------------
    def claim(self, key: str) -> bool:
        """Claim ``key``: True for the first claim (run the side effect), False for a duplicate.

        A key whose record was released, or has expired (completed longer than
        ``expires_after`` ago, or in progress longer than ``in_progress_expiry``), is claimed
        again by replacing exactly the record read (``IfMatch``), so only one claimer wins.
        """
        for _ in range(MAX_ATTEMPTS):
            now = self.clock()
            token = uuid.uuid4().hex  # makes every record's ETag unique
            record = IdempotencyRecord(key, "IN_PROGRESS", token, now, now + self.in_progress_expiry)
            etag = self._write(record)
            if etag is not None:
                return self._hold(key, etag, token)
            found = self._read(key)
            if found is None:
                continue  # deleted in between: try to create again
            current, current_etag = found
            if current.status != "RELEASED" and not current.expired(now):
                return False
            etag = self._write(record, if_match=current_etag)
            if etag is not None:
                log.info("idempotency key %r taken over from a %s record", key,
                         "released" if current.status == "RELEASED" else "expired")
                return self._hold(key, etag, token)
        raise IdempotencyError(f"key {key!r}: {MAX_ATTEMPTS} claim attempts all raced with other writers")

    def _hold(self, key: str, etag: str, token: str) -> bool:
        with self._lock:
            self._held[key] = (etag, token)
        return True

    def _take(self, key: str) -> tuple[str, str]:
        with self._lock:
            held = self._held.pop(key, None)
        if held is None:
            raise IdempotencyError(f"key {key!r} is not claimed by this store: call claim() first")
        return held

    def complete(self, key: str, result: Any = None) -> None:
        """Mark our claim done and keep ``result`` (JSON-serialisable) for duplicates to return.

        Raises :class:`ClaimLostError` if the claim lapsed and another consumer took the key.
        """
        json.dumps(result)  # a TypeError here leaves the claim held, so the caller can release it
        etag, token = self._take(key)
        now = self.clock()
        record = IdempotencyRecord(key, "COMPLETED", token, now, now + self.expires_after, result)
        if self._write(record, if_match=etag) is None:
            raise ClaimLostError(
                f"key {key!r}: the claim lapsed after {self.in_progress_expiry:.0f} s and another consumer "
                "took it over; raise in_progress_expiry above the longest side effect"
            )

    def release(self, key: str) -> None:
        """Give our claim back (the side effect failed): the next delivery may claim the key."""
        etag, token = self._take(key)
        now = self.clock()
        if self._write(IdempotencyRecord(key, "RELEASED", token, now, now), if_match=etag) is None:
            log.warning("key %r: claim had already been taken over; nothing to release", key)

    def result(self, key: str) -> Any:
        """The stored result of a completed key; raises if it is not completed."""
        record = self.get(key)
        if record is None or record.status != "COMPLETED" or record.expired(self.clock()):
            raise IdempotencyError(f"key {key!r} has no completed result (record: {record})")
        return record.result


def idempotent(
    store: IdempotencyStore,
    key_fn: Callable[..., str],
    *,
    wait: float = 0.0,
    poll: float = 0.2,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make ``fn`` run its side effect once per ``key_fn(*args, **kwargs)``.

    The first call for a key runs ``fn`` and stores its result; a duplicate returns that result
    without running ``fn``. If ``fn`` raises, the claim is released and the error re-raised: a
    failed message is not done, and its redelivery runs ``fn`` again. A duplicate that arrives
    while the first call is still running waits up to ``wait`` seconds for its result, then
    raises :class:`AlreadyInProgressError` (leave that message for redelivery)::

        @idempotent(store, key_fn=lambda message: message["MessageId"])
        def handle(message): ...
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = key_fn(*args, **kwargs)
            deadline = time.monotonic() + wait
            while True:
                if store.claim(key):
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException:
                        store.release(key)
                        raise
                    try:
                        store.complete(key, result)
                    except TypeError:
                        store.release(key)
                        raise
                    return result
                record = store.get(key)
                if record is not None and record.status == "COMPLETED":
                    log.debug("duplicate of %r: returning the first result", key)
                    return record.result  # type: ignore[no-any-return]
                if record is not None and record.status == "IN_PROGRESS" and time.monotonic() >= deadline:
                    raise AlreadyInProgressError(
                        f"key {key!r} is being processed by another consumer: retry the message later"
                    )
                time.sleep(poll if record is not None and record.status == "IN_PROGRESS" else 0)

        return wrapper

    return decorate
