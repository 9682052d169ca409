"""The workbook and its LocalStack plugin agree on the names they share.

The plugin (``emulators/localstack/eventlab_localstack``) runs inside LocalStack and imports
nothing of eventlab, so each side writes the shared names down itself: these tests keep them equal.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import eventlab_localstack as plugin
from eventlab import processes
from eventlab.runtime import localstack, ports

ROOT = Path(__file__).resolve().parents[2]


def test_the_workbook_and_the_plugin_agree_on_their_shared_names() -> None:
    assert (localstack.LAMBDA_EXECUTOR_NAME, localstack.LAMBDA_EXECUTOR_GROUP) == (plugin.EXECUTOR_NAME, plugin.EXECUTOR_GROUP)
    assert (localstack.GATEWAY_SERVER_NAME, localstack.GATEWAY_SERVER_GROUP) == (plugin.GATEWAY_SERVER_NAME, plugin.GATEWAY_SERVER_GROUP)
    assert (localstack.KINESIS_HOOK_NAME, localstack.KINESIS_HOOK_GROUP) == (plugin.KINESIS_HOOK_NAME, plugin.KINESIS_HOOK_GROUP)
    assert processes.MARKER_ENV == plugin.MARKER_ENV
    assert localstack.KINESIS_IDLE_SETTING == plugin.KINESIS_IDLE_SETTING
    assert ports.HOST == plugin.LISTEN_HOST


def test_the_entry_points_register_the_plugin_under_those_names() -> None:
    entry_points = tomllib.loads((ROOT / "emulators" / "localstack" / "pyproject.toml").read_text())["project"]["entry-points"]
    for group, name in (
        (plugin.EXECUTOR_GROUP, plugin.EXECUTOR_NAME),
        (plugin.GATEWAY_SERVER_GROUP, plugin.GATEWAY_SERVER_NAME),
        (plugin.KINESIS_HOOK_GROUP, plugin.KINESIS_HOOK_NAME),
    ):
        assert entry_points[group][name].startswith("eventlab_localstack."), (group, name)
