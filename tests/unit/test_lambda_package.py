"""Packaging handler folders, and the executor's registration with LocalStack."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from eventlab.handlers import handler_dir
from eventlab.measure.consumers import HttpReceiver
from eventlab.measure.probes import ProbeFactory, ReceiptLog
from eventlab.runtime.localstack import LAMBDA_EXECUTOR_NAME as EXECUTOR_NAME
from eventlab.runtime.localstack import EmbeddedLocalStack, executor_registered
from eventlab.services.lambda_ import package


def test_package_is_reproducible_and_skips_caches(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.py").write_text("X = 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "main.cpython-313.pyc").write_bytes(b"\0")
    first = package(tmp_path)
    assert package(tmp_path) == first
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["lib/util.py", "main.py"]


def test_package_rejects_missing_or_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        package(tmp_path / "nope")
    with pytest.raises(ValueError, match="no files"):
        package(tmp_path)


def test_executor_is_registered_and_selected() -> None:
    # Registered in LocalStack's environment (.venv-localstack), which runs it; not in the workbook's.
    assert executor_registered()
    assert not importlib.metadata.entry_points(group="localstack.lambda.runtime_executor")
    assert EmbeddedLocalStack()._settings(4566)["LAMBDA_RUNTIME_EXECUTOR"] == EXECUTOR_NAME


def test_bundle_txt_adds_standalone_eventlab_modules(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("from idempotency import IdempotencyStore\n")
    (tmp_path / "bundle.txt").write_text("# shared with the host\neventlab.idempotency\n")
    archive = zipfile.ZipFile(io.BytesIO(package(tmp_path)))
    assert archive.namelist() == ["idempotency.py", "main.py"], "the manifest itself is not packaged"
    assert b"class IdempotencyStore" in archive.read("idempotency.py")


def test_a_module_that_needs_eventlab_cannot_be_bundled(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    (tmp_path / "bundle.txt").write_text("eventlab.topology.apply\n")
    with pytest.raises(ValueError, match="imports eventlab at its top level"):
        package(tmp_path)
    (tmp_path / "bundle.txt").write_text("json\n")
    with pytest.raises(ValueError, match="not an eventlab module"):
        package(tmp_path)


def test_the_receipt_sink_handler_and_the_receiver_share_one_wire_format(tmp_path: Path) -> None:
    """The packaged handler (with its bundled sink.py) reports to an HttpReceiver, as on Lambda."""
    archive = zipfile.ZipFile(io.BytesIO(package(handler_dir("receipt_sink"))))
    assert sorted(archive.namelist()) == ["main.py", "sink.py"]
    archive.extractall(tmp_path)
    receipts = ReceiptLog("sinkrun1")
    probes = [ProbeFactory("sinkrun1").make(0) for _ in range(2)]
    event = {"Records": [{"body": p.to_json(), "eventSource": "aws:sqs"} for p in probes]}
    invoke = (
        "import json, sys, types\nsys.path.insert(0, '.')\nimport main\n"
        "print(json.dumps(main.handler(json.loads(sys.argv[1]), types.SimpleNamespace(function_name='fn'))))"
    )
    with HttpReceiver(receipts) as receiver:
        env = {"PATH": os.environ.get("PATH", ""), "EVENTLAB_SINK_URL": receiver.sink_url}
        reply = subprocess.run([sys.executable, "-I", "-c", invoke, json.dumps(event)], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=60)
    assert reply.returncode == 0, reply.stderr
    assert json.loads(reply.stdout) == {"batchItemFailures": []}
    frame = receipts.to_frame()
    assert set(frame["msg_id"]) == {p.msg_id for p in probes} and set(frame["consumer"]) == {"fn"}


@pytest.mark.parametrize(("source", "options", "message"), [
    ("arn:aws:sqs:us-east-1:000000000000:q", {"on_failure": "arn:aws:sqs:us-east-1:000000000000:dlq"}, "redrive policy"),
    ("arn:aws:sqs:us-east-1:000000000000:q", {"maximum_retry_attempts": 2}, "are for stream mappings"),
    ("arn:aws:kinesis:us-east-1:000000000000:stream/s", {"maximum_retry_attempts": 10_001}, "-1 .* to 10,000"),
    ("arn:aws:kinesis:us-east-1:000000000000:stream/s", {"maximum_retry_attempts": -2}, "until the record expires"),
])
def test_a_mapping_with_failure_options_its_source_cannot_take_is_refused_before_anything(
        source: str, options: dict[str, object], message: str) -> None:
    from eventlab.services import lambda_ as functions

    class NoRun:  # any use of the run (a grant, a client) would fail the test
        def __getattr__(self, name: str) -> None:
            raise AssertionError(f"the mapping used run.{name} before checking its options")

    function = functions.Function(name="f", arn="arn:aws:lambda:us-east-1:000000000000:function:f", role=None,  # type: ignore[arg-type]
                                  log_group="/aws/lambda/f", runtime="python3.13", timeout=3)
    with pytest.raises(ValueError, match=message):
        functions.create_event_source_mapping(NoRun(), function, source, **options)  # type: ignore[arg-type]
