"""The notification handler without AWS: parsing, partial batch failures, configuration errors."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType
from typing import Any

import pytest

from eventlab.handlers import handler_dir


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("notification_main", handler_dir("notification") / "main.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    monkeypatch.setenv("ADMIN_EMAIL", "admin@example.com")
    monkeypatch.setenv("SENDER_EMAIL", "alerts@example.com")
    return module


class FakeSes:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_email(self, **kwargs: Any) -> dict[str, str]:
        self.sent.append(kwargs)
        return {"MessageId": f"m-{len(self.sent)}"}


def envelope(message: str, subject: str = "Critical Application Error") -> str:
    return json.dumps({"Type": "Notification", "MessageId": "sns-1", "Subject": subject, "Message": message})


def record(message_id: str, body: str) -> dict[str, str]:
    return {"messageId": message_id, "body": body, "eventSource": "aws:sqs"}


GOOD = envelope(json.dumps({"EventSource": "UserService", "Message": "Database connection failed."}))


def test_a_good_record_is_emailed_with_the_envelope_subject(handler: ModuleType) -> None:
    notification = handler.parse(GOOD)
    assert (notification.subject, notification.source) == ("Critical Application Error", "UserService")
    ses = FakeSes()
    handler._ses = ses
    assert handler.handler({"Records": [record("1", GOOD)]}, None) == {"batchItemFailures": []}
    (mail,) = ses.sent
    assert mail["Destination"] == {"ToAddresses": ["admin@example.com"]}
    assert mail["Source"] == "alerts@example.com"
    assert "Critical Application Error" in mail["Message"]["Subject"]["Data"]
    assert "Database connection failed." in mail["Message"]["Body"]["Text"]["Data"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"Message": "{}"}),  # not an SNS envelope
        envelope("not json"),
        envelope(json.dumps(["a", "list"])),
        envelope(json.dumps({"EventSource": "UserService"})),  # no Message text
    ],
)
def test_malformed_records_fail_alone_and_are_not_dropped(handler: ModuleType, body: str) -> None:
    ses = FakeSes()
    handler._ses = ses
    reply = handler.handler({"Records": [record("bad", body), record("good", GOOD)]}, None)
    assert reply == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert len(ses.sent) == 1


def test_an_ses_failure_is_retried(handler: ModuleType) -> None:
    class Refusing:
        def send_email(self, **kwargs: Any) -> None:
            raise RuntimeError("MessageRejected")

    handler._ses = Refusing()
    assert handler.handler({"Records": [record("1", GOOD)]}, None) == {"batchItemFailures": [{"itemIdentifier": "1"}]}


def test_missing_configuration_fails_the_whole_batch(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADMIN_EMAIL")
    with pytest.raises(RuntimeError, match="ADMIN_EMAIL"):
        handler.handler({"Records": [record("1", GOOD)]}, None)
