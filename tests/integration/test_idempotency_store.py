"""The idempotency store on the embedded LocalStack's S3: duplicates, concurrency, failures, TTL.

Side effects are counted in the test; nothing asserts on how long anything took.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from eventlab.idempotency import AlreadyInProgressError, IdempotencyStore, idempotent
from eventlab.run import Run
from eventlab.services import sqs

pytestmark = pytest.mark.integration


def test_concurrent_duplicates_run_each_side_effect_once(run: Run) -> None:
    store = IdempotencyStore.create(run)
    effects: Counter[str] = Counter()
    lock = threading.Lock()
    threads = 16
    start = threading.Barrier(threads)

    @idempotent(store, key_fn=lambda message: message["orderId"], wait=30, poll=0.05)
    def charge(message: dict[str, Any]) -> dict[str, Any]:
        with lock:
            effects[message["orderId"]] += 1
        return {"charged": message["orderId"], "by": threading.get_ident()}

    deliveries = [{"orderId": f"o-{i % 4}"} for i in range(64)]  # each order delivered 16 times

    def deliver(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        start.wait()  # all threads begin together: the duplicates really race
        return [charge(m) for m in batch]

    with ThreadPoolExecutor(threads) as pool:
        results = [r for batch in pool.map(deliver, [deliveries[i::threads] for i in range(threads)]) for r in batch]

    assert effects == {f"o-{i}": 1 for i in range(4)}
    by_order: dict[str, set[int]] = {}
    for result in results:
        by_order.setdefault(result["charged"], set()).add(result["by"])
    assert all(len(winners) == 1 for winners in by_order.values()), "every duplicate got the first result"


def test_duplicate_sqs_deliveries_are_processed_once_by_competing_consumers(run: Run) -> None:
    store = IdempotencyStore.create(run, "consumer-idem")
    queue = sqs.create_queue(run, "orders", attributes={"VisibilityTimeout": 30})
    client = run.target.client("sqs")
    orders = [f"o-{i}" for i in range(5)]
    for copy in range(6):  # at-least-once: every order arrives six times
        client.send_message_batch(QueueUrl=queue.url, Entries=[
            {"Id": f"{o}-{copy}", "MessageBody": json.dumps({"orderId": o})} for o in orders])
    shipped: Counter[str] = Counter()
    lock = threading.Lock()

    @idempotent(store, key_fn=lambda body: body["orderId"], wait=30, poll=0.05)
    def ship(body: dict[str, str]) -> str:
        with lock:
            shipped[body["orderId"]] += 1
        return f"parcel-{body['orderId']}"

    def consume() -> int:
        handled = 0
        while True:
            got = client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = got.get("Messages", [])
            if not messages:
                return handled
            for message in messages:
                ship(json.loads(message["Body"]))
                client.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
                handled += 1

    with ThreadPoolExecutor(4) as pool:
        handled = sum(pool.map(lambda _: consume(), range(4)))
    assert handled >= 30  # SQS may deliver a copy more than once itself
    assert shipped == dict.fromkeys(orders, 1)
    assert all(store.result(o) == f"parcel-{o}" for o in orders)


def test_a_failed_side_effect_releases_the_claim_for_the_redelivery(run: Run) -> None:
    store = IdempotencyStore.create(run)
    attempts: list[str] = []

    @idempotent(store, key_fn=lambda message: message["id"])
    def send_email(message: dict[str, str]) -> str:
        attempts.append(message["id"])
        if len(attempts) == 1:
            raise TimeoutError("mail server did not answer")
        return "sent"

    with pytest.raises(TimeoutError):
        send_email({"id": "m-1"})
    record = store.get("m-1")
    assert record is not None and record.status == "RELEASED"
    assert send_email({"id": "m-1"}) == "sent"
    assert send_email({"id": "m-1"}) == "sent"
    assert attempts == ["m-1", "m-1"]


def test_in_progress_duplicates_are_told_to_retry_and_completed_keys_expire(run: Run) -> None:
    now = [1_000_000.0]
    store = IdempotencyStore.create(run, expires_after=60, in_progress_expiry=10, clock=lambda: now[0])

    assert store.claim("k")
    with pytest.raises(AlreadyInProgressError):
        idempotent(store, key_fn=lambda: "k")(lambda: "never")()
    store.complete("k", {"n": 1})
    assert not store.claim("k")
    now[0] += 60
    assert store.claim("k"), "a completed key past its TTL counts as new"
    now[0] += 10
    other = IdempotencyStore(run.target, store.bucket, expires_after=60, in_progress_expiry=10, clock=lambda: now[0])
    assert other.claim("k"), "an in-progress claim past its lease is taken over"


CLAIMER = """
import json, sys
from eventlab.idempotency import IdempotencyStore
from eventlab.target import Target

store = IdempotencyStore(Target.localstack(sys.argv[1]), sys.argv[2])
print(json.dumps([key for key in (f"order-{i}" for i in range(25)) if store.claim(key)]))
"""


def test_separate_processes_share_the_claims(run: Run) -> None:
    """Process-safe by construction: S3, not a lock in this process, decides who wins."""
    store = IdempotencyStore.create(run)
    endpoint = run.target.endpoint_url
    assert endpoint is not None
    workers = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, endpoint, store.bucket], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    won: list[str] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        won.extend(json.loads(out))
    assert sorted(won) == sorted(f"order-{i}" for i in range(25)), "every key was won by exactly one process"
