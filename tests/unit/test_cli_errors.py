"""Every CLI mistake is one clean line with the fix and a non-zero exit, before anything starts.

Each case goes through ``eventlab.cli.main`` with LocalStack's start and papermill's execution
replaced by tripwires: a bad input must be refused before either is reached.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlab import cli, runtime, workbook
from eventlab.runtime import EmbeddedLocalStack, LocalStackError, parse_port

ROOT = Path(__file__).resolve().parents[2]


class Tripwire(AssertionError):
    """Raised when a bad input got as far as starting something."""


@pytest.fixture(autouse=True)
def tripwires(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Record (and stop) any attempt to start LocalStack or execute a notebook."""
    reached: list[str] = []

    def start(self: EmbeddedLocalStack) -> EmbeddedLocalStack:
        reached.append("localstack")
        raise Tripwire("LocalStack was started")

    def execute(*args: object, **kwargs: object) -> None:
        reached.append("notebook")
        raise Tripwire("a notebook was executed")

    monkeypatch.setattr(EmbeddedLocalStack, "start", start)
    monkeypatch.setattr(workbook, "_execute", execute)
    monkeypatch.setattr("papermill.execute_notebook", execute)
    monkeypatch.delenv("EVENTLAB_PORT", raising=False)
    monkeypatch.delenv("EVENTLAB_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("EVENTLAB_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.chdir(ROOT)
    return reached


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], reached: list[str]) -> str:
    """Run the CLI; assert a non-zero exit, one line on stderr, no traceback, nothing started."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse's errors
        code = exit_.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and " INFO " not in line]
    assert code not in (0, None), f"{argv}: exit {code}"
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"{argv}: one line, got {lines}"
    assert lines[0].startswith("eventlab: "), lines[0]
    assert reached == [], f"{argv}: {reached} started for a bad input"
    return lines[0]


# -- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "-p", "mesages=10"], "unknown parameter 'mesages' (did you mean 'messages'?)"),
        (["run", "-p", "messages=-5"], "messages=-5 is out of range: it must be at least 1"),
        (["run", "-p", "rate=abc"], "rate=abc is not a float"),
        (["run", "-p", "messages=1.5"], "messages=1.5 is not an int"),
        (["run", "-p", "target=awz"], "did you mean 'aws'?"),
        (["run", "-p", "messages"], "write it as name=value"),
        (["run", "-p", "=5"], "write it as name=value"),
        (["run", "notebooks/04-kinesis.ipynb", "-p", "quota_scale=2"], "quota_scale=2 is out of range: it must be above 0 and at most 1"),
        (["run", "notebooks/04-kinesis.ipynb", "-p", "messages=10"], "04-kinesis.ipynb has target, aws_profile"),
        (["run", "notebooks/07-choosing-a-service.ipynb", "-p", "paths=sqs,kinesiss"], "(did you mean 'kinesis'?)"),
        (["run", "notebooks/01-sqs.ipynb", "-p", "long_poll_wait=30"], "long_poll_wait=30 is out of range: it must be from 1 to 20"),
        (["run", "notebooks/09-best-practices.ipynb", "-p", "lose_every=1"], "lose_every=1 is out of range: it must be at least 2"),
    ],
)
def test_bad_parameters_are_refused_before_anything_starts(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str], tripwires: list[str]
) -> None:
    assert expected in refused(argv, capsys, tripwires)


# -- notebooks, workloads, prefixes ------------------------------------------------------------
def test_a_missing_notebook_is_named_with_the_notebooks_that_exist(capsys: pytest.CaptureFixture[str], tripwires: list[str]) -> None:
    line = refused(["run", "nosuch.ipynb"], capsys, tripwires)
    assert "no notebook nosuch.ipynb" in line and "notebooks/01-sqs.ipynb" in line and "notebooks/09-best-practices.ipynb" in line


def test_a_file_that_is_not_a_notebook_is_refused(capsys: pytest.CaptureFixture[str], tripwires: list[str]) -> None:
    assert "README.md is not a notebook" in refused(["run", "README.md"], capsys, tripwires)


@pytest.mark.parametrize("prefix", ["el-", "el-ab12", "el", "", "x", "ab12cd34", "EL-AB12CD34"])
def test_a_prefix_that_is_not_a_runs_is_refused(prefix: str, capsys: pytest.CaptureFixture[str], tripwires: list[str]) -> None:
    line = refused(["leaks", prefix], capsys, tripwires)
    assert "is not a run's" in line and "el-<run id>" in line and "8 letters or digits" in line


def test_a_runs_prefix_is_accepted() -> None:
    from eventlab.leaks import check_prefix

    assert check_prefix("el-ab12cd34") == "el-ab12cd34"
    assert check_prefix("el-ab12cd34-orders") == "el-ab12cd34-orders"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bench", "nosuch"], "no workload 'nosuch'"),
        (["bench", "--set", "nosuch"], "no workload set 'nosuch'"),
        (["bench", "--repeats", "0"], "argument --repeats: 0 must be at least 1"),
        (["bench", "--threshold", "-1"], "argument --threshold: -1 must be at least 0"),
        (["up", "--timeout", "0"], "argument --timeout: 0 must be above 0"),
        (["up", "--timeout", "soon"], "'soon' is not a number"),
        (["nosuch"], "invalid choice: 'nosuch'"),
    ],
)
def test_bad_bench_and_runtime_options_are_refused(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str], tripwires: list[str]
) -> None:
    assert expected in refused(argv, capsys, tripwires)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("path: sqs\nrate: abc\n", "rate=abc"),
        ("path: sqs\nrate: -5\n", "rate=-5 is out of range"),
        ("path: sqss\nrate: 10\n", "(did you mean 'sqs'?)"),
        ("path: sqs\nrate: 10\nbatch: 501\n", "batch=501 is out of range: it must be from 1 to 500"),
        ("path: sqs\nrate: 10\nwarmup: 1\n", "unknown key(s) ['warmup']"),
        ("rate: 10\n", "a workload needs path"),
        ("- sqs\n", "a workload is a mapping"),
        ("path: [sqs\n", "cannot read workload"),
    ],
)
def test_bad_workload_files_are_refused_before_localstack_starts(
    body: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], tripwires: list[str]
) -> None:
    workload = tmp_path / "mine.yaml"
    workload.write_text(body)
    assert expected in refused(["bench", str(workload)], capsys, tripwires)


# -- ports -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("70000", "--port=70000 is not a port: ports go from 1 to 65535"),
        ("65536", "ports go from 1 to 65535"),
        ("-1", "ports go from 1 to 65535"),
        ("0", "--port=0 names no port: leave --port unset to take a free port"),
        ("abc", "--port='abc' is not a port number"),
        ("80.5", "is not a port number"),
    ],
)
def test_a_bad_port_option_is_refused(port: str, expected: str, capsys: pytest.CaptureFixture[str], tripwires: list[str]) -> None:
    for command in ("up", "run"):
        assert expected in refused([command, "--port", port], capsys, tripwires)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "EVENTLAB_PORT='abc' is not a port number: give one from 1 to 65535, or leave EVENTLAB_PORT unset"),
        ("0", "EVENTLAB_PORT=0 names no port: leave EVENTLAB_PORT unset"),
        ("70000", "EVENTLAB_PORT=70000 is not a port"),
        (" ", "EVENTLAB_PORT=' ' is not a port number"),
    ],
)
def test_a_bad_eventlab_port_is_refused(
    value: str, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tripwires: list[str]
) -> None:
    monkeypatch.setenv("EVENTLAB_PORT", value)
    assert expected in refused(["up"], capsys, tripwires)


def test_one_parser_serves_the_option_the_variable_and_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_port("4566") == 4566 and parse_port(" 1 ") == 1 and parse_port(65535) == 65535
    with pytest.raises(LocalStackError, match="port=0 names no port"):
        EmbeddedLocalStack(port=0)
    monkeypatch.setenv("EVENTLAB_PORT", "4567")
    assert EmbeddedLocalStack().requested_port == 4567
    assert EmbeddedLocalStack(port=4568).requested_port == 4568, "an explicit port wins"
    monkeypatch.setenv("EVENTLAB_PORT", "")
    assert EmbeddedLocalStack().requested_port is None, "empty means unset"
    assert runtime.parse_port is cli.parse_port


# -- what is not a user error ------------------------------------------------------------------
def test_verbose_adds_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-v", "leaks", "el-"]) == cli.USER_ERROR_EXIT
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("eventlab: prefix 'el-'")


def test_a_genuine_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "cmd_leaks", broken)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), "leaks", broken))
    with pytest.raises(KeyError, match="a bug"):
        cli.main(["leaks", "el-ab12cd34"])


def _with_func(parser: object, command: str, func: object) -> object:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices[command].set_defaults(func=func)
    return parser



# -- Dask clusters -----------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dask_scheduler_that_does_not_answer_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tripwires: list[str]
) -> None:
    port = _free_port()
    line = refused(["bench", "sqs-r100-s256-b10-k4-p1-d3s", "--cluster", f"tcp://127.0.0.1:{port}"], capsys, tripwires)
    assert f"the Dask scheduler at tcp://127.0.0.1:{port} does not answer" in line
    monkeypatch.setenv("EVENTLAB_DASK_SCHEDULER", f"tcp://127.0.0.1:{port}")
    assert "does not answer" in refused(["bench", "sqs-r100-s256-b10-k4-p1-d3s"], capsys, tripwires)
    assert "choose one" in refused(["bench", "--cluster", "tcp://h:1", "--workers", "2"], capsys, tripwires)
    assert "--workers: 0 must be at least 1" in refused(["bench", "--workers", "0"], capsys, tripwires)
