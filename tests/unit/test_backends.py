"""Two backends: the registry, the bad inputs refused before anything starts, MiniStack's settings
and launcher, the one reader of what an emulator sent, and notebook checks against the one table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eventlab import cli, processes
from eventlab.fidelity import KNOWN_DIFFERENCES, checks
from eventlab.runtime import (
    EMULATORS,
    EmbeddedLocalStack,
    EmbeddedMiniStack,
    EmulatorError,
    InstanceRecord,
    MiniStackMissingError,
    UnknownBackendError,
    backend_name,
    emulator_class,
    ministack,
    ministack_launcher,
    ministack_patches,
)
from eventlab.runtime import process as process_module
from eventlab.services import recorded
from eventlab.target import Target

ROOT = Path(__file__).resolve().parents[2]


class Tripwire(AssertionError):
    """A bad input got as far as starting a process."""


@pytest.fixture
def no_spawn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[object]:
    """Any attempt to start an emulator's process is recorded and stopped."""
    reached: list[object] = []

    def popen(*args: object, **kwargs: object) -> None:
        reached.append(args)
        raise Tripwire("an emulator process was started")

    monkeypatch.setattr(process_module.subprocess, "Popen", popen)
    monkeypatch.delenv("EVENTLAB_PORT", raising=False)
    monkeypatch.delenv("EVENTLAB_BACKEND", raising=False)
    monkeypatch.delenv("EVENTLAB_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("EVENTLAB_BUILD_DIR", str(tmp_path / "build"))
    return reached


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and " INFO " not in line]
    assert code not in (0, None), f"{argv}: exit {code}"
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("eventlab: "), lines[0]
    return lines[0]


# -- the registry and bad input -------------------------------------------------------------------
def test_the_registry_names_both_backends_and_localstack_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTLAB_BACKEND", raising=False)
    assert EMULATORS == {"localstack": EmbeddedLocalStack, "ministack": EmbeddedMiniStack}
    assert backend_name(None) == "localstack" and emulator_class("MiniStack") is EmbeddedMiniStack
    monkeypatch.setenv("EVENTLAB_BACKEND", "ministack")
    assert emulator_class() is EmbeddedMiniStack


@pytest.mark.parametrize("argv", [["up", "--backend", "minstack"], ["status", "--backend", "aws"], ["down", "--backend", "docker"],
                                  ["run", "--backend", "x"], ["bench", "--backend", "x"]])
def test_a_backend_that_does_not_exist_is_refused_with_the_names_that_do(
    argv: list[str], capsys: pytest.CaptureFixture[str], no_spawn: list[object]
) -> None:
    line = _refused(argv, capsys)
    assert "is not a backend eventlab runs: use one of localstack, ministack" in line, line
    assert no_spawn == []


def test_eventlab_backend_that_does_not_exist_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_spawn: list[object]
) -> None:
    monkeypatch.setenv("EVENTLAB_BACKEND", "localstak")
    line = _refused(["up"], capsys)
    assert "EVENTLAB_BACKEND='localstak' is not a backend" in line and "ministack" in line, line
    with pytest.raises(UnknownBackendError):
        emulator_class()
    assert no_spawn == []


def test_a_backend_whose_environment_is_missing_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_spawn: list[object]
) -> None:
    monkeypatch.setattr(ministack.importlib.util, "find_spec", lambda name, *a: None)
    line = _refused(["up", "--backend", "ministack"], capsys)
    assert "MiniStack is not installed for" in line and "make setup" in line and "--backend localstack" in line, line
    assert no_spawn == []
    with pytest.raises(MiniStackMissingError):
        EmbeddedMiniStack().start()


def _live_record(port: int) -> InstanceRecord:
    me = processes.ProcessIdentity.of(os.getpid())
    assert me is not None
    return InstanceRecord(pid=me.pid, create_time=me.create_time, cmdline=list(me.cmdline), port=port,
                          endpoint_url=f"http://127.0.0.1:{port}", log_path="", started_at=0.0, version="x",
                          state="running", startup_seconds=1.0)


@pytest.mark.parametrize("running, asked", [(EmbeddedLocalStack, EmbeddedMiniStack), (EmbeddedMiniStack, EmbeddedLocalStack)])
def test_two_backends_asked_for_on_one_port_are_refused_before_anything_starts(
    running: type, asked: type, no_spawn: list[object]
) -> None:
    other = running()
    other.state_dir.mkdir(parents=True, exist_ok=True)
    _live_record(45123).save(other.record_path)
    with pytest.raises(EmulatorError) as caught:
        asked(port=45123).start()
    message = str(caught.value)
    assert f"taken by this project's {running.backend.name}" in message and "two backends cannot share one port" in message
    assert f"eventlab down --backend {running.backend.key}" in message
    assert no_spawn == []


def test_each_backend_has_its_own_state_folder(no_spawn: list[object]) -> None:
    assert EmbeddedLocalStack().state_dir.name == "localstack" and EmbeddedMiniStack().state_dir.name == "ministack"


# -- MiniStack's settings and launcher ------------------------------------------------------------
def test_ministack_is_told_to_stay_on_loopback_offline_and_in_its_state_folder(tmp_path: Path) -> None:
    env = ministack.MiniStackBackend().environment(4599, tmp_path)
    assert env["BIND_HOST"] == "127.0.0.1" and env["GATEWAY_PORT"] == "4599"
    assert env["IOT_MTLS_ENABLED"] == "0" and env["SFTP_ENABLED"] == "0", "both listeners bind 0.0.0.0 otherwise"
    assert env["PERSIST_STATE"] == env["S3_PERSIST"] == "0" and env["LAMBDA_EXECUTOR"] == "local"
    for name in ("TMPDIR", "STATE_DIR", "S3_DATA_DIR"):
        assert Path(env[name]).is_relative_to(tmp_path), name
    assert env["DOCKER_HOST"].startswith(f"unix://{tmp_path}") and not Path(env["DOCKER_HOST"][7:]).exists()


def test_the_launcher_clears_what_the_environment_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {"SMTP_HOST": "mail", "AWS_ENDPOINT_URL": "x", "AWS_ENDPOINT_URL_SQS": "y", "USE_SSL": "1",
               "LOCALSTACK_PERSISTENCE": "1", "LAMBDA_STRICT": "1", "PATH": "/bin", "BIND_HOST": "127.0.0.1"}
    ministack_launcher.clean_environment(environ)
    assert environ == {"PATH": "/bin", "BIND_HOST": "127.0.0.1"}


def test_stop_removes_ministacks_temp_folder(tmp_path: Path) -> None:
    backend = ministack.MiniStackBackend()
    backend.prepare(tmp_path)
    (ministack.temp_dir(tmp_path) / "ministack-lambda-f-x").mkdir()
    backend.cleanup(tmp_path)
    assert not ministack.temp_dir(tmp_path).exists()


def test_every_name_eventlab_patches_in_ministack_exists() -> None:
    import importlib

    for module, name in ministack_patches.PATCHED:
        assert hasattr(importlib.import_module(module), name), f"{module}.{name} is gone: update eventlab's patch"


def test_the_kinesis_target_takes_the_partition_key_aws_takes() -> None:
    event = {"id": "e-1", "detail": {"order": "o-1", "nested": {"a": 1}}}
    assert ministack_patches.partition_key({"KinesisParameters": {"PartitionKeyPath": "$.detail.order"}}, event) == "o-1"
    assert ministack_patches.partition_key({}, event) == "e-1", "no path: the event id"
    assert ministack_patches.partition_key({"KinesisParameters": {"PartitionKeyPath": "$.detail.nothing"}}, event) == "e-1"


def test_the_patches_install_on_the_locked_ministack_twice_over() -> None:
    """In a process of its own, as the launcher runs them (they replace MiniStack's functions)."""
    code = "from eventlab.runtime import ministack_patches as p; p.install(); p.install(); print('ok')"
    reply = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert reply.returncode == 0 and reply.stdout.strip() == "ok", reply.stderr


# -- targets ---------------------------------------------------------------------------------------
def test_a_target_knows_its_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLAB_ENDPOINT_URL", "http://127.0.0.1:4599")
    monkeypatch.setenv("EVENTLAB_BACKEND", "ministack")
    target = Target.from_name("ministack")
    assert target.backend == "ministack" and target.is_emulated and target.endpoint_url == "http://127.0.0.1:4599"
    again = Target.from_description(target.describe())
    assert again.backend == "ministack" and again.endpoint_url == target.endpoint_url
    assert Target.localstack("http://127.0.0.1:1").backend == "localstack"


# -- what an emulator recorded as sent --------------------------------------------------------------
class _Reply:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def raise_for_status(self) -> None:
        pass

    def json(self) -> dict[str, Any]:
        return self.document


LOCALSTACK_MAIL = {"messages": [{"Id": "a", "Region": "us-east-1", "Timestamp": "2026-12-01T10:00:00.000Z", "Source": "s@example.com",
                                 "Destination": {"ToAddresses": ["t@example.com"], "CcAddresses": [], "BccAddresses": []},
                                 "Subject": "hi", "Body": {"text_part": "body", "html_part": None}}]}
MINISTACK_MAIL = {"messages": {"000000000000": [{"MessageId": "a@email.amazonses.com", "Source": "s@example.com", "To": ["t@example.com"],
                                                 "CC": [], "BCC": [], "Subject": "hi", "BodyText": "body", "BodyHtml": "",
                                                 "Timestamp": 1796155612.3, "Type": "SendEmail"}],
                               "111111111111": [{"MessageId": "other", "Source": "x", "To": ["t@example.com"], "Subject": "no",
                                                 "BodyText": "", "Timestamp": 1.0, "Type": "SendEmail"}]}}


@pytest.mark.parametrize("backend, document, path", [("localstack", LOCALSTACK_MAIL, "/_aws/ses"),
                                                     ("ministack", MINISTACK_MAIL, "/_ministack/ses/messages")])
def test_one_reader_of_sent_mail_for_both_backends(backend: str, document: dict[str, Any], path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(recorded.requests, "get", lambda url, timeout: asked.append(url) or _Reply(document))
    target = Target.emulator("http://127.0.0.1:4599", backend=backend)
    (mail,) = recorded.sent_emails(target, to="t@example.com")
    assert asked == [f"http://127.0.0.1:4599{path}"]
    assert (mail.source, mail.to, mail.subject, mail.text) == ("s@example.com", ("t@example.com",), "hi", "body")
    assert mail.sent_at is not None and recorded.sent_emails(target, to="nobody@example.com") == []


@pytest.mark.parametrize("backend, path", [("localstack", "/_aws/sns/sms-messages"), ("ministack", "/_ministack/sns/sms-messages")])
def test_one_reader_of_sent_sms_for_both_backends(backend: str, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    document = {"sms_messages": {"+15550100": [{"PhoneNumber": "+15550100", "Message": "order o-1 shipped", "MessageId": "m"}]}, "region": "us-east-1"}
    asked: list[str] = []
    monkeypatch.setattr(recorded.requests, "get", lambda url, timeout: asked.append(url) or _Reply(document))
    (text,) = recorded.sent_sms(Target.emulator("http://127.0.0.1:4599", backend=backend))
    assert asked == [f"http://127.0.0.1:4599{path}"] and text.message == "order o-1 shipped" and text.phone_number == "+15550100"


# -- notebook checks against the one table ----------------------------------------------------------
def test_a_check_holds_where_the_backend_has_no_known_difference() -> None:
    target = Target.localstack("http://127.0.0.1:1")
    assert checks.check(target, "kinesis.reshard.parent-kept", True, "lineage") is None
    with pytest.raises(AssertionError, match="lineage"):
        checks.check(target, "kinesis.reshard.parent-kept", False, "lineage")


def test_a_known_difference_is_recorded_with_aws_behaviour_and_never_passes_silently() -> None:
    target = Target.emulator("http://127.0.0.1:1", backend="ministack")
    assert "kinesis.reshard.parent-kept" in KNOWN_DIFFERENCES["ministack"]
    line = checks.check(target, "kinesis.reshard.parent-kept", False, "lineage")
    assert line is not None and line.startswith("known difference on ministack (kinesis.reshard.parent-kept)")
    assert "AWS: the parent is closed" in line and "https://docs.aws.amazon.com/" in line and "because" in line
    with pytest.raises(AssertionError, match="remove it from KNOWN_DIFFERENCES"):
        checks.check(target, "kinesis.reshard.parent-kept", True, "lineage")
    with pytest.raises(KeyError):
        checks.note(target, "no.such.case")


def test_the_readme_shows_the_one_table_of_known_differences() -> None:
    from eventlab.fidelity import CASES
    from eventlab.fidelity.differences import markdown

    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- known-differences -->\n", 1)[1].split("<!-- /known-differences -->", 1)[0]
    assert shown == markdown(CASES), "README's table differs from KNOWN_DIFFERENCES: paste eventlab.fidelity.differences.markdown(CASES)"
