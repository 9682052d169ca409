"""The idempotency store's rules, offline: an in-memory S3 that enforces conditional writes.

The fake keeps only what the store relies on: ``IfNoneMatch="*"`` fails with 412 if the key
exists, ``IfMatch`` fails with 412 if the ETag differs (and NoSuchKey if absent), each write
gets a new ETag. The same rules hold on LocalStack and AWS (see the integration tests).
"""

from __future__ import annotations

import hashlib
import io
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError
from eventlab.idempotency import (
    AlreadyInProgressError,
    ClaimLostError,
    IdempotencyError,
    IdempotencyStore,
    idempotent,
)


class ConditionalS3:
    """Just enough S3 for the store, with S3's conditional-write semantics."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.lock = threading.Lock()
        self.puts = 0

    @staticmethod
    def _error(code: str, status: int, op: str) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op)

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, IfNoneMatch: str | None = None,
                   IfMatch: str | None = None, **_: Any) -> dict[str, str]:
        with self.lock:
            self.puts += 1
            current = self.objects.get(Key)
            if IfNoneMatch == "*" and current is not None:
                raise self._error("PreconditionFailed", 412, "PutObject")
            if IfMatch is not None:
                if current is None:
                    raise self._error("NoSuchKey", 404, "PutObject")
                if current[1] != IfMatch:
                    raise self._error("PreconditionFailed", 412, "PutObject")
            etag = f'"{hashlib.md5(Body).hexdigest()}"'
            self.objects[Key] = (Body, etag)
            return {"ETag": etag}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        with self.lock:
            if Key not in self.objects:
                raise self._error("NoSuchKey", 404, "GetObject")
            body, etag = self.objects[Key]
        return {"Body": io.BytesIO(body), "ETag": etag}


class FakeTarget:
    is_emulated = True

    def __init__(self) -> None:
        self.s3 = ConditionalS3()

    def client(self, service: str) -> Any:
        assert service == "s3", f"the store must only use S3, not {service}"
        return self.s3


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> IdempotencyStore:
    return IdempotencyStore(FakeTarget(), "bucket", expires_after=60, in_progress_expiry=10, clock=clock)  # type: ignore[arg-type]


def test_first_claim_wins_and_duplicates_lose(store: IdempotencyStore) -> None:
    assert store.claim("order-1") is True
    assert store.claim("order-1") is False
    assert store.claim("order-2") is True
    store.complete("order-1", {"charged": 12.5})
    assert store.claim("order-1") is False
    assert store.result("order-1") == {"charged": 12.5}
    record = store.get("order-1")
    assert record is not None and record.status == "COMPLETED" and record.key == "order-1"
    assert store.get("never") is None


def test_keys_are_hashed_into_safe_object_names(store: IdempotencyStore) -> None:
    key = store.object_key("arn:aws:sqs:../../etc?x=1 #frag")
    assert key.startswith("idempotency/") and key.endswith(".json") and ".." not in key


def test_completed_keys_expire_after_the_ttl(store: IdempotencyStore, clock: Clock) -> None:
    assert store.claim("k")
    store.complete("k", 1)
    clock.now += 59
    assert not store.claim("k")
    clock.now += 1
    assert store.claim("k"), "a key past its TTL counts as new"
    with pytest.raises(IdempotencyError, match="no completed result"):
        store.result("k")


def test_a_crashed_claim_lapses_after_the_in_progress_expiry(store: IdempotencyStore, clock: Clock) -> None:
    other = IdempotencyStore(store.s3, "bucket", expires_after=60, in_progress_expiry=10, clock=clock)
    assert store.claim("k")  # ... and its owner dies without completing
    clock.now += 9
    assert not other.claim("k")
    clock.now += 1
    assert other.claim("k")
    other.complete("k", "second")
    with pytest.raises(ClaimLostError, match="in_progress_expiry"):
        store.complete("k", "first")  # the late owner cannot overwrite the new result
    assert store.result("k") == "second"


def test_release_lets_the_next_delivery_claim_again(store: IdempotencyStore) -> None:
    assert store.claim("k")
    store.release("k")
    assert store.get("k").status == "RELEASED"  # type: ignore[union-attr]
    assert store.claim("k")
    with pytest.raises(IdempotencyError, match="not claimed by this store"):
        store.release("other")


def test_decorator_runs_once_and_returns_the_first_result_to_duplicates(store: IdempotencyStore) -> None:
    calls: list[str] = []

    @idempotent(store, key_fn=lambda message: message["id"])
    def charge(message: dict[str, str]) -> dict[str, str]:
        calls.append(message["id"])
        return {"receipt": f"r-{message['id']}"}

    assert charge({"id": "m1"}) == {"receipt": "r-m1"}
    assert charge({"id": "m1"}) == {"receipt": "r-m1"}
    assert charge({"id": "m2"}) == {"receipt": "r-m2"}
    assert calls == ["m1", "m2"]
    assert charge.__name__ == "charge"


def test_a_failed_side_effect_does_not_count_as_done(store: IdempotencyStore) -> None:
    attempts: list[int] = []

    @idempotent(store, key_fn=lambda n: f"job-{n}")
    def flaky(n: int) -> str:
        attempts.append(n)
        if len(attempts) == 1:
            raise ConnectionError("payment provider down")
        return "ok"

    with pytest.raises(ConnectionError):
        flaky(7)
    assert store.get("job-7").status == "RELEASED"  # type: ignore[union-attr]
    assert flaky(7) == "ok"  # the redelivery runs it again
    assert flaky(7) == "ok"  # and then it is done
    assert attempts == [7, 7]


def test_a_result_that_is_not_json_releases_the_claim(store: IdempotencyStore) -> None:
    @idempotent(store, key_fn=lambda: "k")
    def returns_a_set() -> set[int]:
        return {1}

    with pytest.raises(TypeError):
        returns_a_set()
    assert store.get("k").status == "RELEASED"  # type: ignore[union-attr]


def test_a_duplicate_during_processing_is_told_to_retry(store: IdempotencyStore) -> None:
    assert store.claim("busy")

    @idempotent(store, key_fn=lambda: "busy")
    def handler() -> None:
        raise AssertionError("must not run while another consumer holds the key")

    with pytest.raises(AlreadyInProgressError, match="retry the message later"):
        handler()


def test_invalid_expiry_is_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        IdempotencyStore(FakeTarget(), "b", expires_after=0)  # type: ignore[arg-type]
