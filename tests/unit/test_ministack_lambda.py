"""eventlab's Lambda patches to MiniStack: every name they replace or call still exists in the
pinned MiniStack, and install() routes Python functions to the shared runtime (once)."""

from __future__ import annotations

import importlib

import pytest

from eventlab.runtime import ministack_lambda

ministack = pytest.importorskip("ministack")


@pytest.mark.parametrize(("module", "name"), ministack_lambda.PATCHED)
def test_every_patched_name_exists(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name), f"{module}.{name} is gone: review the patch"


def test_install_routes_python_functions_to_the_aws_runtime_worker() -> None:
    from ministack.core import lambda_runtime

    ministack_lambda.install()
    ministack_lambda.install()  # a second call changes nothing
    worker = lambda_runtime._worker_class_for({"Runtime": "python3.12"})
    assert worker.__name__ == "AwsPythonWorker" and issubclass(worker, lambda_runtime.Worker)
    assert lambda_runtime._worker_class_for({"Runtime": "nodejs20.x"}) is lambda_runtime.Worker


def test_a_mapping_with_a_batching_window_is_held_until_its_first_record_is_old_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    import contextvars
    from types import SimpleNamespace

    from ministack.services import sqs as sqs_svc

    queue: dict[str, list[dict[str, float]]] = {"messages": []}
    monkeypatch.setattr(sqs_svc, "_queue_by_arn", lambda arn: queue)
    esm = {"UUID": "u-1", "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q", "BatchSize": 10,
           "MaximumBatchingWindowInSeconds": 3, "Enabled": True}
    lambda_svc = SimpleNamespace(
        _iter_all_esms=lambda: [("000000000000", "us-east-1", esm)],
        _request_account_id=contextvars.ContextVar("account"), _request_region=contextvars.ContextVar("region"),
        _esm_backoff_until={},
    )
    hold = ministack_lambda.hold_for_batching_window
    # empty: held too, so a message arriving before MiniStack's receive is not invoked at once
    assert hold(lambda_svc, now=100.0) == ["u-1"]
    queue["messages"] = [{"sent_at": 100.5, "visible_at": 100.5}]
    assert hold(lambda_svc, now=101.0) == ["u-1"]  # inside the window
    assert hold(lambda_svc, now=103.6) == []  # the window counted from the first record has passed
    queue["messages"] = [{"sent_at": 103.5, "visible_at": 103.5}] * 10
    assert hold(lambda_svc, now=103.6) == []  # a full batch goes at once
    esm["MaximumBatchingWindowInSeconds"] = 0
    queue["messages"] = []
    assert hold(lambda_svc, now=104.0) == []  # no window: as MiniStack
    lambda_svc._esm_backoff_until["u-1"] = 500.0
    esm["MaximumBatchingWindowInSeconds"] = 3
    assert hold(lambda_svc, now=104.0) == ["u-1"] and lambda_svc._esm_backoff_until["u-1"] == 500.0  # MiniStack's own backoff stays
