"""Fault injection on the embedded LocalStack: each fault's duplicates, and nothing lost."""

from __future__ import annotations

import pytest

from eventlab.experiments import faults
from eventlab.run import Run

pytestmark = pytest.mark.integration


def test_consumer_dies_before_delete(run: Run) -> None:
    report = faults.consumer_dies_before_delete(run, count=10)
    assert report.lost == 0 and report.delivered == 10
    assert report.duplicates == report.expected_duplicates > 0


def test_visibility_timeout_shorter_than_processing(run: Run) -> None:
    report = faults.visibility_shorter_than_processing(run, count=10)
    assert report.lost == 0 and report.delivered == 10
    assert report.duplicates >= report.expected_duplicates == 10


def test_handler_exceptions_with_and_without_partial_batch_response(run: Run) -> None:
    partial = faults.handler_exceptions(run, count=20, fail_every=5, partial_batch=True)
    whole = faults.handler_exceptions(run, count=20, fail_every=5, partial_batch=False)
    assert partial.lost == whole.lost == 0
    assert partial.duplicates == partial.expected_duplicates == 4
    # without a partial batch response the whole batch comes back, not just the failures
    assert whole.duplicates == whole.expected_duplicates > partial.duplicates
    assert partial.detail["first_attempt_failures"] == 4
    table = faults.fault_table([partial, whole])
    assert list(table["lost"]) == [0, 0]


def test_poison_messages_end_in_the_dlq(run: Run) -> None:
    report = faults.poison_messages(run, count=20, poison_every=10, max_receive_count=2)
    assert report.in_dlq == 2 and report.delivered == 18 and report.lost == 0
    assert report.duplicates == report.expected_duplicates == 2


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_producer_retry_after_lost_response(run: Run, fifo: bool) -> None:
    report = faults.producer_retry_after_lost_response(run, count=20, every=4, fifo=fifo)
    assert report.lost == 0 and report.delivered == 20
    assert report.detail["replies_lost"] >= 4 and report.detail["producer_retries"] == report.detail["replies_lost"]
    assert report.duplicates == report.expected_duplicates
