"""Helpers shared by the Lambda integration tests (imported by test modules in this folder)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psutil

from eventlab import policies
from eventlab.run import Run
from eventlab.services import lambda_, sqs

PROBE = Path(__file__).parent / "handlers" / "probe"


def probe(run: Run, base: str = "probe", **options: Any) -> tuple[lambda_.Function, sqs.Queue]:
    """The probe handler, with a sink queue that it may send to."""
    sink = sqs.create_queue(run, f"{base}-sink")
    environment = {"SINK_QUEUE_URL": sink.url, **options.pop("environment", {})}
    function = lambda_.create_function(
        run,
        base,
        PROBE,
        environment=environment,
        statements=[policies.allow(["sqs:SendMessage"], [sink.arn])],
        **options,
    )
    return function, sink


def receive(run: Run, queue: sqs.Queue, count: int, timeout: float = 60) -> list[Any]:
    """Receive and delete until ``count`` messages arrived (or the timeout), decoded from JSON."""
    client = run.target.client("sqs")
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        reply = client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in reply.get("Messages", []):
            got.append(json.loads(message["Body"]))
            client.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    return got


def wait_gone(pids: set[int], timeout: float = 30) -> set[int]:
    """The pids still alive (not zombies) after waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if _alive(pid)}
        time.sleep(0.2)
    return alive


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
