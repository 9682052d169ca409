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
