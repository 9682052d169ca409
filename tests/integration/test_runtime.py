"""The embedded LocalStack, for real: reuse, the CLI, a stop that leaves no process behind, every
socket on loopback, and what a user sees when it stops or Node.js is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import psutil
import pytest
from lambda_helpers import probe

from eventlab import processes
from eventlab.run import Run
from eventlab.runtime import EmbeddedLocalStack, EmulatorStoppedError, ExposedEmulatorError
from eventlab.services import kinesis, lambda_
from eventlab.target import Target

pytestmark = [
    pytest.mark.integration,
    pytest.mark.backend("localstack", reason="the LocalStack runtime's own tests; MiniStack's are in test_runtime_ministack.py"),
]


def _eventlab(*args: str, build: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if build is not None:
        env["EVENTLAB_BUILD_DIR"] = str(build)
    return subprocess.run(
        [sys.executable, "-m", "eventlab.cli", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_a_second_start_reuses_the_running_instance(localstack: EmbeddedLocalStack) -> None:
    with EmbeddedLocalStack() as again:
        assert again.endpoint_url == localstack.endpoint_url
        assert not again.owned
    assert localstack.health() is not None, "leaving the reuser's block did not stop it"


def test_status_prints_the_endpoint_of_the_running_instance(localstack: EmbeddedLocalStack) -> None:
    result = _eventlab("status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == localstack.endpoint_url


def test_status_json_and_the_eventbridgev2_companion(localstack: EmbeddedLocalStack, target: Target) -> None:
    """status --json names the backend and the servers beside it; eventbridgev2 is one of them
    where botocore has its model, else it is skipped and Target.client names the fix."""
    import json

    from eventlab.runtime.companions import EVENTBRIDGEV2
    from eventlab.target import TargetError

    result = _eventlab("status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert set(status) == {"backend", "version", "endpoint_url", "endpoints", "region"}
    assert status["region"] == target.region
    assert (status["backend"], status["endpoint_url"]) == ("localstack", localstack.endpoint_url)
    problem = EVENTBRIDGEV2.unavailable()
    if problem:
        assert status["endpoints"] == {}
        with pytest.raises(TargetError, match="botocore"):
            target.client("eventbridgev2")
        return
    url = status["endpoints"]["eventbridgev2"]
    assert url == localstack.endpoints["eventbridgev2"] != localstack.endpoint_url
    client = target.client("eventbridgev2")
    assert client.meta.endpoint_url == url and "EventBuses" in client.list_event_buses()
    ports = {s.port for s in localstack.check_listeners()}
    assert int(url.rsplit(":", 1)[1]) in ports  # checked for loopback with the emulator's sockets


def test_up_status_down_from_the_command_line(tmp_path: Path) -> None:
    assert _eventlab("status", build=tmp_path).returncode == 1
    up = _eventlab("up", build=tmp_path)
    assert up.returncode == 0, up.stderr
    status = _eventlab("status", build=tmp_path)
    assert status.returncode == 0 and status.stdout.startswith("http://127.0.0.1:")
    pid = int((tmp_path / "localstack" / "instance.json").read_text().split('"pid": ')[1].split(",")[0])
    assert _eventlab("down", build=tmp_path).returncode == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _eventlab("status", build=tmp_path).returncode == 1


def test_stop_ends_every_child_kinesis_mock_included(tmp_path: Path) -> None:
    with EmbeddedLocalStack(state_dir=tmp_path / "ls") as runtime:
        with Run(Target.localstack(runtime.endpoint_url)) as run:
            kinesis.create_stream(run, "wakes-kinesis-mock")
            family = psutil.Process(runtime.record.pid).children(recursive=True)
            marker = str(runtime.filesystem_root)
            others = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or ())]
            assert any("kinesis" in " ".join(p.cmdline()) for p in others), "kinesis-mock was started"
        family = [*family, *others]
    alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"


def test_a_new_state_folder_loads_the_service_catalog_index_instead_of_building_it(tmp_path: Path) -> None:
    """Finding no index of AWS's services, LocalStack builds one in its own process on the first
    request and keeps every service specification it read (~370 MB resident). eventlab's plugin
    (eventlab_localstack.catalog) puts the environment's index where LocalStack looks first."""
    with EmbeddedLocalStack(state_dir=tmp_path / "ls") as runtime:
        Target.localstack(runtime.endpoint_url).client("sqs").list_queues()
        static_libs = runtime.filesystem_root / "usr" / "lib" / "localstack"
        assert list(static_libs.glob("service-catalog-*.dill")), f"no index in {static_libs}"
        assert not list((runtime.filesystem_root / "var" / "lib" / "localstack" / "cache").glob("service-catalog-*")), \
            "LocalStack built an index of its own"


def test_every_socket_of_the_emulator_tree_is_on_loopback(localstack: EmbeddedLocalStack, run: Run) -> None:
    """The README's promise: LocalStack, kinesis-mock and the Lambda handler processes all
    listen on 127.0.0.1 only (LocalStack's own defaults bind 0.0.0.0 for two of them)."""
    kinesis.create_stream(run, "loopback")  # starts kinesis-mock
    function, _ = probe(run, "loopback")
    lambda_.invoke(run, function, {})  # starts a handler process
    sockets = localstack.listeners()
    commands = {s.process for s in sockets}
    assert any(c.startswith("node ") for c in commands), f"kinesis-mock listens: {sockets}"
    # A handler process listens on nothing: its Runtime API is served by LocalStack, on loopback.
    handlers = [p for p in localstack.processes() if "awslambdaric" in " ".join(p.cmdline())]
    assert handlers, "no handler process in the emulator's tree"
    assert any(s.port == localstack.port for s in sockets), "the gateway"
    exposed = [str(s) for s in sockets if not s.loopback]
    assert exposed == [], f"reachable from other machines: {exposed}"
    # ... and the same seen from the outside: nothing of the tree on any other address.
    pids = {p.pid for p in localstack.processes()}
    others = [
        c for c in psutil.net_connections(kind="inet")
        if c.pid in pids and c.status == psutil.CONN_LISTEN and c.laddr.ip not in ("127.0.0.1", "::1")
    ]
    assert others == []


def test_a_stopped_emulator_is_explained_and_comes_back_on_the_same_port(tmp_path: Path) -> None:
    state = tmp_path / "ls"
    with EmbeddedLocalStack(state_dir=state) as first:
        target = Target.localstack(first.endpoint_url)
        target.client("sqs").list_queues()
        endpoint, port = first.endpoint_url, first.port
        emulator = psutil.Process(first.record.pid)
        emulator.kill()  # it dies under a live target
        emulator.wait(timeout=10)
        with pytest.raises(EmulatorStoppedError) as caught:
            target.client("sqs").list_queues()
    message = str(caught.value)
    assert f"the embedded LocalStack at {endpoint} has stopped" in message
    assert "eventlab up" in message and "localstack.log" in message
    with EmbeddedLocalStack(state_dir=state) as again:  # no port asked for
        assert again.port == port, "an exported EVENTLAB_ENDPOINT_URL stays valid"
        target.client("sqs").list_queues()  # the old target works again


def test_up_without_node_says_so_on_the_command_line(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("sh", "rm"):  # what LocalStack itself runs; no node, no npm
        found = shutil.which(name)
        assert found is not None
        (tools / name).symlink_to(found)
    env = {**os.environ, "PATH": str(tools), "EVENTLAB_BUILD_DIR": str(tmp_path / "build")}
    try:
        up = subprocess.run([sys.executable, "-m", "eventlab.cli", "up"], env=env, capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stderr
        warning = [line for line in up.stdout.splitlines() if line.strip().startswith("warning:")]
        assert warning and "Node.js (node) and npm not found on PATH" in warning[0], up.stdout
        assert "Kinesis" in warning[0] and "Install Node.js 20" in warning[0]
    finally:
        subprocess.run([sys.executable, "-m", "eventlab.cli", "down"], env=env, capture_output=True, timeout=120)


def test_a_start_that_listens_on_every_interface_is_refused_and_stopped(tmp_path: Path) -> None:
    """LocalStack's own gateway server (twisted) binds 0.0.0.0 whatever GATEWAY_LISTEN says:
    the check after start catches it, names the socket, and stops the instance."""
    state = tmp_path / "ls"
    with pytest.raises(ExposedEmulatorError) as caught:
        EmbeddedLocalStack(state_dir=state, extra_env={"GATEWAY_SERVER": "twisted"}).start()
    (exposed,) = caught.value.listeners
    assert exposed.address == "0.0.0.0" and f"tcp 0.0.0.0:{exposed.port} of pid {exposed.pid}" in str(caught.value)
    assert not (state / "instance.json").exists()
    assert processes.marked(str(state.resolve())) == [], "the exposed instance was stopped"


def _kinesis_mock_of(localstack: EmbeddedLocalStack, account: str) -> list[psutil.Process]:
    """The emulator's kinesis-mock (Node) processes that serve ``account``."""
    found = []
    for process in localstack.processes():
        try:
            if process.name().startswith("node") and process.environ().get("AWS_ACCOUNT_ID") == account:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _stop_idle_kinesis_mock(localstack: EmbeddedLocalStack, idle_s: float, account: str) -> list[str]:
    """Ask the plugin to stop, now, the account's kinesis-mock if idle for ``idle_s`` and holding no stream."""
    request = urllib.request.Request(
        f"{localstack.endpoint_url}/_eventlab/kinesis-mock",
        data=json.dumps({"idle_s": idle_s, "accounts": [account]}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return list(json.load(response)["stopped"])


def test_an_idle_kinesis_mock_with_no_stream_stops_and_the_next_request_starts_another(localstack: EmbeddedLocalStack, target: Target) -> None:
    """A kinesis-mock that holds no stream is stopped once idle (eventlab_localstack.kinesis_idle),
    one that holds a stream never is, and Kinesis works again afterwards. On an account of its own,
    so that the session's kinesis-mock and its streams are not involved; the window is the
    plugin's on-demand stop, not a short window for the whole session."""
    account = "000000000042"
    client = boto3.client(
        "kinesis", endpoint_url=localstack.endpoint_url, region_name=target.region,
        aws_access_key_id=account, aws_secret_access_key="test",
    )
    name = f"eventlab-idle-{uuid.uuid4().hex[:12]}"

    def write_and_read(data: bytes) -> None:
        client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60})
        client.put_record(StreamName=name, Data=data, PartitionKey="k")
        shard = client.list_shards(StreamName=name)["Shards"][0]["ShardId"]
        iterator = client.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        assert [r["Data"] for r in client.get_records(ShardIterator=iterator)["Records"]] == [data]

    def delete() -> None:
        client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
        deadline = time.monotonic() + 60
        while client.list_streams()["StreamNames"] and time.monotonic() < deadline:
            time.sleep(0.2)

    try:
        client.create_stream(StreamName=name, ShardCount=1)
        write_and_read(b"first")
        (node,) = _kinesis_mock_of(localstack, account)
        time.sleep(1.5)
        assert _stop_idle_kinesis_mock(localstack, 1.0, account) == [], "a kinesis-mock holding a stream is kept"
        assert node.is_running()
        delete()
        time.sleep(1.5)
        assert _stop_idle_kinesis_mock(localstack, 1.0, account) == [account]
        node.wait(timeout=30)
        assert _kinesis_mock_of(localstack, account) == []
        client.create_stream(StreamName=name, ShardCount=1)
        write_and_read(b"second")
        assert len(_kinesis_mock_of(localstack, account)) == 1
    finally:
        try:
            delete()
        except client.exceptions.ResourceNotFoundException:
            pass
