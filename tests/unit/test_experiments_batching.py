"""The batch probe's log lines, read back into batches, concurrency and a timeline."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from eventlab.experiments import batching
from eventlab.handlers import handler_dir
from eventlab.patterns import notification_system


def row(start: float, end: float, size: int = 1) -> dict[str, object]:
    return {"start": start, "end": end, "size": size, "bodies": [f"b{start}-{n}" for n in range(size)]}


def test_concurrency_counts_invocations_that_overlap_in_time() -> None:
    assert batching.max_concurrency([]) == 0
    assert batching.max_concurrency([row(0, 1), row(1, 2), row(2, 3)]) == 1  # back to back: one at a time
    assert batching.max_concurrency([row(0, 2), row(0.5, 1.5), row(1, 3), row(2.5, 4)]) == 3


def test_the_timeline_puts_overlapping_invocations_in_different_lanes() -> None:
    frame = batching.timeline({1: [row(10, 12), row(10.5, 11), row(11.5, 13), row(13, 14)]})
    assert list(frame["lane"]) == [0, 1, 1, 0]
    assert frame["lane"].max() + 1 == batching.max_concurrency([row(10, 12), row(10.5, 11), row(11.5, 13), row(13, 14)])
    assert list(frame["start_s"]) == [0, 0.5, 1.5, 3]
    assert batching.plot_timeline(frame) is not None


def test_a_summary_counts_invocations_per_message_and_what_was_delivered() -> None:
    figures = batching.summary([row(0, 1, 3), row(2, 3, 1)], messages=4)
    assert figures["invocations"] == 2 and figures["invocations_per_message"] == 0.5
    assert figures["mean_batch"] == 2.0 and figures["max_batch"] == 3 and figures["delivered"] == 4
    assert figures["max_concurrency"] == 1 and figures["span_s"] == 3


def test_the_probe_logs_one_line_the_experiment_reads_back(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("batch_probe_main", handler_dir(batching.PROBE) / "main.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    monkeypatch.setenv("SLEEP_SECONDS", "0")
    result = module.handler({"Records": [{"body": "a"}, {"body": "b"}]}, SimpleNamespace(aws_request_id="r-1"))
    assert result == {"batchItemFailures": []}
    line = capsys.readouterr().out.strip()
    logged = "[INFO]\t2026-12-02T00:00:00.000Z\tr-1\t" + line  # as a runtime may prefix it
    for text in (line, logged):
        probe = SimpleNamespace(function=SimpleNamespace(name="f"))
        monkeypatch.setattr(batching.lambda_, "filter_log_events", lambda run, function, pattern="", text=text: [text, "START RequestId: r-1"])
        (seen,) = batching.invocations(None, probe)  # type: ignore[arg-type]
        assert seen["size"] == 2 and seen["bodies"] == ["a", "b"] and seen["request_id"] == "r-1"
        assert seen["start"] <= seen["end"]
    assert json.loads(line)[batching.PROBE]["size"] == 2


def test_log_lines_of_the_python_runtime_give_their_request_id_and_message() -> None:
    line = "[ERROR]\t2026-12-02T02:50:00.123Z\t6f1c-req\trecord 1 rejected (malformed): body is not JSON"
    assert notification_system.request_id(line) == "6f1c-req"
    assert notification_system.message_of(line) == "record 1 rejected (malformed): body is not JSON"
    assert notification_system.request_id("START RequestId: x Version: $LATEST") is None
    assert notification_system.message_of("Subject: No Subject") == "Subject: No Subject"


def test_the_articles_handler_swallows_a_malformed_record_and_reads_the_subject_from_the_wrong_level(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import importlib.util
    import logging

    spec = importlib.util.spec_from_file_location("article_handler", handler_dir("notification") / "article.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    monkeypatch.setenv("ADMIN_EMAIL", "admin@example.com")
    envelope = {"Type": "Notification", "Subject": "Critical Application Error", "Message": json.dumps(notification_system.GOOD)}
    event = {"Records": [{"body": json.dumps(envelope)}, {"body": notification_system.MALFORMED}]}
    with caplog.at_level(logging.INFO):
        result = module.handler(event, None)
    assert result["statusCode"] == 200  # a success: Lambda deletes the whole batch
    messages = [r.getMessage() for r in caplog.records]
    assert "Subject: No Subject" in messages
    assert any(m.startswith(notification_system.ARTICLE_DECODE_ERROR) for m in messages)


def test_the_runtime_table_sets_the_articles_python39_beside_the_functions_runtime() -> None:
    from datetime import date

    client = SimpleNamespace(get_function_configuration=lambda FunctionName: {"Runtime": "python3.13"})
    system = SimpleNamespace(run=SimpleNamespace(target=SimpleNamespace(client=lambda name: client)),
                             function=SimpleNamespace(name="f"))
    article, ours = notification_system.runtimes(system, date(2026, 12, 2))  # type: ignore[arg-type]
    assert (article["runtime"], article["status"], str(article["block create"])) == ("python3.9", "deprecated", "2027-02-01")
    assert (ours["runtime"], ours["status"], ours["deprecated"]) == ("python3.13", "supported", None)
