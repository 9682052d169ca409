"""Targets: the emulator is isolated from the user's AWS set-up; AWS is never reached by accident."""

from __future__ import annotations

import logging

import boto3
import pytest
from botocore.stub import Stubber

from eventlab.target import Target, TargetError


def test_aws_needs_an_explicit_profile_or_region() -> None:
    with pytest.raises(TargetError, match="name a profile or a region"):
        Target.aws()


def test_a_plain_aws_profile_in_the_environment_is_not_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    with pytest.raises(TargetError):
        Target.from_env({"EVENTLAB_TARGET": "aws", "AWS_PROFILE": "production"})


def test_an_unknown_target_kind_is_refused() -> None:
    with pytest.raises(TargetError, match="use one of localstack, ministack, aws"):
        Target.from_env({"EVENTLAB_TARGET": "azure"})


def test_localstack_target_ignores_the_users_aws_profile_and_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "does-not-exist")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing"))
    target = Target.from_env({"EVENTLAB_ENDPOINT_URL": "http://127.0.0.1:9"})
    client = target.client("sqs")
    credentials = target.session.get_credentials()
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert (credentials.access_key, credentials.secret_key) == ("test", "test")
    assert target.is_emulated and target.account_id == "000000000000"
    assert target.client("sqs") is client, "clients are created once and shared"


def test_aws_announces_the_account_before_anything_is_created(caplog: pytest.LogCaptureFixture) -> None:
    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="eu-west-1")
    target = Target.aws(session=session, announce=False)
    assert not target.is_emulated and target.endpoint_url is None
    with Stubber(target.client("sts")) as stub:
        stub.add_response(
            "get_caller_identity",
            {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/dev", "UserId": "AID"},
        )
        with caplog.at_level(logging.WARNING, logger="eventlab.target"):
            who = target.announce()
    assert who["account"] == "123456789012"
    assert "AWS account 123456789012" in caplog.text and "eu-west-1" in caplog.text


def test_a_profile_without_a_region_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile sandbox]\naws_access_key_id = a\naws_secret_access_key = b\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(TargetError, match="names no region"):
        Target.aws(profile="sandbox")


def test_from_description_inverts_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    emulated = Target.localstack("http://127.0.0.1:4566", region="eu-west-1")
    again = Target.from_description(emulated.describe())
    assert again.describe() == emulated.describe() and again.is_emulated
    moved = Target.from_description(emulated.describe(), endpoint_url="http://127.0.0.1:5000")
    assert moved.endpoint_url == "http://127.0.0.1:5000", "the emulator's endpoint now wins"
    asked: list[dict[str, object]] = []
    monkeypatch.setattr(Target, "aws", classmethod(lambda cls, **kwargs: asked.append(kwargs)))
    Target.from_description({"kind": "aws", "region": "eu-west-1", "endpoint_url": None, "profile": "sandbox"})
    assert asked == [{"profile": "sandbox", "region": "eu-west-1", "announce": False}]
    with pytest.raises(TargetError, match="unknown target kind 'gcp'"):
        Target.from_description({"kind": "gcp"})
