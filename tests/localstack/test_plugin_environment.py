"""LocalStack's environment registers eventlab's plugin, and each plugin loads against LocalStack 2026.3.0."""

from __future__ import annotations

import importlib.metadata
import sys

import eventlab_localstack as plugin


def test_runs_on_python_313_with_localstack_2026_3() -> None:
    assert sys.version_info[:2] == (3, 13)
    assert importlib.metadata.version("localstack-core") == "2026.3.0"


def test_every_entry_point_is_registered_and_loads() -> None:
    wanted = [
        (plugin.EXECUTOR_GROUP, plugin.EXECUTOR_NAME),
        (plugin.GATEWAY_SERVER_GROUP, plugin.GATEWAY_SERVER_NAME),
        (plugin.KINESIS_HOOK_GROUP, plugin.KINESIS_HOOK_NAME),
        ("localstack.hooks.on_infra_start", "eventlab_localstack_fixes"),
        ("localstack.hooks.on_infra_start", "eventlab_service_catalog"),
        ("localstack.hooks.on_infra_start", "eventlab_kinesis_idle_stop"),
    ]
    for group, name in wanted:
        (entry,) = [ep for ep in importlib.metadata.entry_points(group=group) if ep.name == name]
        assert entry.value.startswith("eventlab_localstack."), (group, name)
        assert entry.load() is not None, (group, name)


def test_the_workbook_is_not_installed_here() -> None:
    """LocalStack's environment needs nothing of the workbook: eventlab is not a distribution here."""
    try:
        importlib.metadata.version("eventlab")
    except importlib.metadata.PackageNotFoundError:
        return
    raise AssertionError("eventlab is installed in LocalStack's environment")
