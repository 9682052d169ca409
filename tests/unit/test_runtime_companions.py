"""Companions: the servers eventlab runs beside an emulator (eventbridgev2), started, recorded,
found again, checked for loopback and stopped with it, by the process manager for any backend.

The emulator here is a stand-in (a stdlib HTTP server as the backend's command), so the hook is
tested without LocalStack; the real eventbridgev2 server runs where botocore has its model.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from eventlab import cli
from eventlab.runtime import EmulatorError, EmulatorProcess, companions
from eventlab.runtime.backend import Backend
from eventlab.runtime.companions import EVENTBRIDGEV2, Companion
from eventlab.runtime.record import InstanceRecord
from eventlab.target import Target, TargetError

_FAKE_EMULATOR = (
    "import os, http.server\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'{}')\n"
    "    def log_message(self, *a): pass\n"
    "http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['FAKE_PORT'])), H).serve_forever()\n"
)
_FAKE_COMPANION = (
    "import sys, http.server\n"
    "port = int(sys.argv[sys.argv.index('--port') + 1])\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'{\"ok\": true}')\n"
    "    def log_message(self, *a): pass\n"
    "http.server.ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()\n"
)


class ScriptCompanion(Companion):
    """A companion that runs a script instead of a module (and needs no botocore model)."""

    def __init__(self, service: str, script: str) -> None:
        super().__init__(service=service, module="unused", min_botocore="1.44")
        object.__setattr__(self, "script", script)

    def unavailable(self) -> str | None:
        return None

    def command(self, *, port: int, state_dir: Path, backend_endpoint: str, region: str = "us-east-1") -> list[str]:
        return [sys.executable, "-c", self.script, "--port", str(port), "--backend-endpoint", backend_endpoint]  # type: ignore[attr-defined]


class FakeBackend(Backend):
    name = "fake emulator"
    key = "fake"
    log_name = "fake.log"

    def __init__(self, extra: tuple[Companion, ...]) -> None:
        self.extra = extra

    def version(self) -> str:
        return "0.0"

    def command(self) -> list[str]:
        return [sys.executable, "-c", _FAKE_EMULATOR]

    def environment(self, port: int, state_dir: Path) -> dict[str, str]:
        return {"FAKE_PORT": str(port)}

    def health(self, endpoint_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
        return _get(endpoint_url, timeout)

    def companions(self) -> tuple[Companion, ...]:
        return self.extra


def _get(url: str, timeout: float) -> dict[str, Any] | None:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/", timeout=timeout) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except OSError:
        return None


def _emulator(state_dir: Path, *extra: Companion) -> EmulatorProcess:
    """An EmulatorProcess of the fake backend (set on the instance, so no kind is registered)."""
    process = EmulatorProcess(state_dir=state_dir, start_timeout=30)
    process.backend = FakeBackend(extra)  # type: ignore[misc]
    return process


def test_every_backend_serves_eventbridgev2_beside_it() -> None:
    assert EVENTBRIDGEV2 in Backend().companions()
    assert companions.COMPANIONS["eventbridgev2"] is EVENTBRIDGEV2
    command = EVENTBRIDGEV2.command(port=5, state_dir=Path("/s"), backend_endpoint="http://127.0.0.1:4566")
    assert command[:3] == [sys.executable, "-m", "eventlab.eventbridgev2"]
    assert command[command.index("--host") + 1] == "127.0.0.1"


def test_a_companion_is_started_recorded_found_again_and_stopped_with_the_emulator(tmp_path: Path) -> None:
    emulator = _emulator(tmp_path, ScriptCompanion("fakev2", _FAKE_COMPANION))
    with emulator:
        url = emulator.endpoints["fakev2"]
        assert url.startswith("http://127.0.0.1:")
        assert companions.health(url) == {"ok": True}
        record = InstanceRecord.load(tmp_path / "instance.json")
        assert record is not None and record.endpoints == {"fakev2": url}
        entry = record.companions["fakev2"]
        assert Path(entry["log_path"]).parent == tmp_path / "fakev2"
        # Its sockets are the instance's: checked for loopback with the emulator's.
        assert entry["port"] in {s.port for s in emulator.check_listeners()}
        # Another process attaches and sees the same companion.
        again = _emulator(tmp_path, ScriptCompanion("fakev2", _FAKE_COMPANION)).start()
        assert not again.owned and again.endpoints == {"fakev2": url} and again.warnings == []
    assert companions.health(url, timeout=0.5) is None  # stopped with the emulator
    assert not (tmp_path / "instance.json").exists()


def test_a_companion_restarts_on_its_port_and_the_record_follows(tmp_path: Path) -> None:
    emulator = _emulator(tmp_path, ScriptCompanion("fakev2", _FAKE_COMPANION))
    with emulator:
        before = InstanceRecord.load(tmp_path / "instance.json").companions["fakev2"]  # type: ignore[union-attr]
        after = emulator.restart_companion("fakev2")
        assert after["port"] == before["port"] and after["pid"] != before["pid"]
        assert companions.health(after["endpoint_url"]) == {"ok": True}
        assert InstanceRecord.load(tmp_path / "instance.json").companions["fakev2"] == after  # type: ignore[union-attr]
        with pytest.raises(EmulatorError, match="no nov2 server runs beside fake emulator"):
            emulator.restart_companion("nov2")
    assert companions.health(after["endpoint_url"], timeout=0.5) is None  # stopped with the emulator


def test_the_eventbridgev2_server_runs_beside_the_emulator(tmp_path: Path) -> None:
    """Where botocore has the model: boto3 and Target.client reach the server by its record."""
    problem = EVENTBRIDGEV2.unavailable()
    if problem:
        pytest.skip(problem)
    with _emulator(tmp_path, EVENTBRIDGEV2) as emulator:
        url = emulator.endpoints["eventbridgev2"]
        assert companions.health(url)["backend_endpoint"] == emulator.endpoint_url  # type: ignore[index]
        import boto3

        direct = boto3.client("eventbridgev2", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        assert "EventBuses" in direct.list_event_buses()
        target = Target.localstack(emulator.endpoint_url)  # no endpoints given: read from the record
        client = target.client("eventbridgev2")
        assert client.meta.endpoint_url == url
        arn = client.create_event_bus(Name=f"companion-{tmp_path.name[-8:]}")["EventBusArn"]
        assert client.describe_event_bus(EventBusArn=arn)["Name"].startswith("companion-")
        client.get_waiter("event_bus_active").wait(EventBusArn=arn, WaiterConfig={"Delay": 1})
        client.delete_event_bus(EventBusArn=arn)
        assert (tmp_path / "eventbridgev2").is_dir()  # its state lives in the emulator's folder
    assert companions.health(url, timeout=0.5) is None


def test_the_eventbridgev2_server_serves_the_emulators_region_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EVENTLAB_AWS_REGION names the region of emulated targets: the server beside the emulator
    serves it, with ARNs in it, the embedded target signs for it, and another region is refused."""
    problem = EVENTBRIDGEV2.unavailable()
    if problem:
        pytest.skip(problem)
    from botocore.exceptions import ClientError

    monkeypatch.setenv("EVENTLAB_AWS_REGION", "eu-west-1")
    with _emulator(tmp_path, EVENTBRIDGEV2) as emulator:
        assert emulator.record is not None and emulator.record.region == "eu-west-1"
        url = emulator.endpoints["eventbridgev2"]
        assert companions.health(url)["region"] == "eu-west-1"  # type: ignore[index]
        monkeypatch.delenv("EVENTLAB_AWS_REGION")  # a later process without it still signs for the emulator's
        monkeypatch.setattr(emulator.backend, "key", "ministack")  # Target names a real backend's clients
        target = Target.embedded(localstack=emulator)
        assert target.region == "eu-west-1"
        client = target.client("eventbridgev2")
        arn = client.create_event_bus(Name=f"region-{tmp_path.name[-8:]}")["EventBusArn"]
        assert arn.startswith("arn:aws:events:eu-west-1:")
        client.get_waiter("event_bus_active").wait(EventBusArn=arn, WaiterConfig={"Delay": 1})
        other = Target.emulator(emulator.endpoint_url, region="us-east-1").client("eventbridgev2")
        with pytest.raises(ClientError, match="InvalidSignatureException"):
            other.describe_event_bus(EventBusArn=arn)
        client.delete_event_bus(EventBusArn=arn)


def test_buses_outlive_a_restart_of_the_emulator(tmp_path: Path) -> None:
    """The server's state sits in the emulator's folder, so a restart (`eventlab down && up`)
    finds its buses again (retained events and their delivery after a restart of the server:
    tests/integration/test_eventbridgev2_delivery.py)."""
    problem = EVENTBRIDGEV2.unavailable()
    if problem:
        pytest.skip(problem)
    import boto3

    def client(url: str) -> Any:
        return boto3.client("eventbridgev2", endpoint_url=url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    with _emulator(tmp_path, EVENTBRIDGEV2) as first:
        api = client(first.endpoints["eventbridgev2"])
        arn = api.create_event_bus(Name="kept")["EventBusArn"]
        api.get_waiter("event_bus_active").wait(EventBusArn=arn, WaiterConfig={"Delay": 1})
    with _emulator(tmp_path, EVENTBRIDGEV2) as second:
        api = client(second.endpoints["eventbridgev2"])
        assert api.describe_event_bus(EventBusArn=arn)["State"] == "ACTIVE"
        api.delete_event_bus(EventBusArn=arn)


def test_a_companion_that_fails_stops_the_start_with_its_log_tail(tmp_path: Path) -> None:
    broken = ScriptCompanion("brokenv2", "import sys; print('cannot serve: no model'); sys.exit(3)")
    with pytest.raises(EmulatorError) as caught:
        _emulator(tmp_path, broken).start()
    message = str(caught.value)
    assert "brokenv2 server beside fake emulator exited with code 3" in message
    assert "cannot serve: no model" in message
    assert not (tmp_path / "instance.json").exists()  # the emulator was stopped too


def test_a_companion_this_botocore_cannot_serve_is_skipped_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Unservable(ScriptCompanion):
        def unavailable(self) -> str | None:
            return "botocore 1.0 has no model of nov2 (use botocore 1.44 or later)"

    caplog.set_level(logging.INFO, "eventlab.runtime")
    with _emulator(tmp_path, Unservable("nov2", _FAKE_COMPANION)) as emulator:
        assert emulator.endpoints == {}
    lines = [r.getMessage() for r in caplog.records if "nov2" in r.getMessage()]
    assert lines == ["not serving nov2 beside fake emulator: botocore 1.0 has no model of nov2 (use botocore 1.44 or later)"]


def test_an_old_record_without_companions_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    path.write_text(json.dumps({"pid": 1, "create_time": 1.0, "cmdline": ["x"], "port": 1, "endpoint_url": "http://127.0.0.1:1",
                                "log_path": "l", "started_at": 1.0, "version": "v"}))
    record = InstanceRecord.load(path)
    assert record is not None and record.endpoints == {}


def test_a_missing_model_names_botocore_1_44(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.session

    monkeypatch.setattr(botocore.session.Session, "get_available_services", lambda self: ["sqs"])
    problem = EVENTBRIDGEV2.unavailable()
    assert problem is not None and "no model of eventbridgev2" in problem and "1.44 or later" in problem
    with pytest.raises(TargetError, match=r"1\.44 or later"):
        Target.localstack("http://127.0.0.1:4566").client("eventbridgev2")


def test_target_clients_of_a_companion_service(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.session

    monkeypatch.setattr(botocore.session.Session, "get_available_services", lambda self: ["sqs", "eventbridgev2"])
    target = Target.localstack("http://127.0.0.1:4566", endpoints={"eventbridgev2": "http://127.0.0.1:7001"})
    assert target.service_endpoint("eventbridgev2") == "http://127.0.0.1:7001"
    assert target.service_endpoint("sqs") == "http://127.0.0.1:4566"
    bare = Target.localstack("http://127.0.0.1:1")  # no record, no endpoints: the fix is named
    with pytest.raises(TargetError, match="eventlab down && eventlab up"):
        bare.service_endpoint("eventbridgev2")


def test_target_on_aws_uses_the_real_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    import botocore.session

    monkeypatch.setattr(botocore.session.Session, "get_available_services", lambda self: ["eventbridgev2"])
    target = Target.aws(session=boto3.Session(region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y"),
                        announce=False)
    assert target.service_endpoint("eventbridgev2") is None


def test_status_json_names_backend_version_and_endpoints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("EVENTLAB_AWS_REGION", raising=False)
    emulator = _emulator(tmp_path, ScriptCompanion("fakev2", _FAKE_COMPANION))
    with emulator:
        monkeypatch.setattr(cli, "emulator_class", lambda name: lambda: _attach_only(emulator))
        assert cli.main(["status", "--json"]) == 0
        printed: Mapping[str, Any] = json.loads(capsys.readouterr().out)
    assert printed == {"backend": "fake", "version": "0.0", "endpoint_url": emulator_url(printed),
                       "endpoints": {"fakev2": printed["endpoints"]["fakev2"]}, "region": "us-east-1"}
    assert printed["endpoints"]["fakev2"].startswith("http://127.0.0.1:")


def emulator_url(printed: Mapping[str, Any]) -> str:
    url = printed["endpoint_url"]
    assert isinstance(url, str) and url.startswith("http://127.0.0.1:")
    return url


def _attach_only(emulator: EmulatorProcess) -> EmulatorProcess:
    other = _emulator(emulator.state_dir, *emulator.backend.companions())
    return other


def test_the_eventbridgev2_server_loads_no_plotting_or_dataframes() -> None:
    """The server lives as long as the emulator: importing ``eventlab`` for it must not bring the
    workbook's pandas and matplotlib (~75 MB resident), which it never uses."""
    import subprocess

    probe = (
        "import sys, eventlab.eventbridgev2.server\n"
        "print(sorted(m for m in ('pandas', 'matplotlib', 'numpy', 'eventlab.workbook') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"
    from eventlab import Checks, record  # still there for the notebooks, imported when asked for

    assert Checks.__module__ == record.__module__ == "eventlab.workbook"
