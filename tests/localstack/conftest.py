"""The LocalStack plugin's own tests: they import LocalStack 2026.3.0, so they run in LocalStack's
environment (``.venv-localstack/bin/python -m pytest tests/localstack``, as ``make test`` does).
In the workbook's .venv, which holds no LocalStack, they are not collected, and the header says so."""

from __future__ import annotations

import importlib.util

import pytest

IN_LOCALSTACK_ENV = importlib.util.find_spec("localstack") is not None
if not IN_LOCALSTACK_ENV:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config: pytest.Config) -> str | None:
    if IN_LOCALSTACK_ENV:
        return None
    return "tests/localstack: not collected here (no LocalStack); they run in .venv-localstack (make test)"
