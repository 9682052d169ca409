"""kinesis-mock's command line as the loopback hook gives it (eventlab_localstack.loopback.plugins)."""

from __future__ import annotations

from pathlib import Path

from eventlab_localstack.loopback import node_preload_path, plugins


def test_kinesis_mock_runs_on_node_with_the_preload_and_a_small_young_generation() -> None:
    from localstack.services.kinesis.kinesis_mock_server import KinesisMockNodeServer

    original = KinesisMockNodeServer._create_shell_command
    plugins.eventlab_kinesis_mock_on_loopback()
    try:
        server = KinesisMockNodeServer(port=4999, exe_path=Path("/opt/kinesis-local/main.js"), latency="0ms", account_id="000000000000")
        cmd, env = server._create_shell_command()
    finally:
        plugins.installed.pop().undo()
    assert KinesisMockNodeServer._create_shell_command is original
    assert cmd[0] == "node" and cmd[-1] == Path("/opt/kinesis-local/main.js")
    assert "--max-semi-space-size=1" in cmd[1:-1], "Node's flags go on the command line"
    assert cmd[cmd.index("--require") + 1] == str(node_preload_path())
    assert "NODE_OPTIONS" not in env, "NODE_OPTIONS would reach the npm install too"
