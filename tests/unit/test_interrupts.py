"""SIGTERM and SIGHUP clean up; the journal of live runs catches the runs of killed processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eventlab import interrupts, journal, leaks
from eventlab.processes import ProcessIdentity
from eventlab.run import Run
from eventlab.target import Target

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EVENTLAB_BUILD_DIR", str(tmp_path))
    return tmp_path


def nowhere() -> Target:
    """An emulated target whose endpoint nothing listens on (no call is made in these tests)."""
    return Target.localstack("http://127.0.0.1:9")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_the_cli_handler_turns_the_signal_into_an_unwinding_exception(signum: int) -> None:
    before = signal.getsignal(signum)
    unwound = []
    with pytest.raises(interrupts.Terminated) as caught:
        with interrupts.raise_on_termination():
            try:
                os.kill(os.getpid(), signum)
                time.sleep(10)
            finally:
                unwound.append(True)
    assert unwound == [True], "finally blocks run, as after Ctrl-C"
    assert isinstance(caught.value, KeyboardInterrupt)
    assert caught.value.exit_code == 128 + signum
    assert signal.getsignal(signum) is before, "the previous handler is back"


SCRIPT = """
import pathlib, sys, time
from eventlab.run import Run

class Offline:
    is_emulated = True
    region = "us-east-1"

run = Run(Offline()).destroy_at_exit()
run.track("x", "thing", "arn:thing", lambda: pathlib.Path(sys.argv[1]).write_text("deleted"))
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_destroy_at_exit_also_runs_on_sigterm_and_sighup(tmp_path: Path, signum: int) -> None:
    """As in a notebook kernel: atexit does not run when a signal ends the process."""
    marker = tmp_path / "deleted"
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(marker)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    child.send_signal(signum)
    assert child.wait(timeout=30) == -signum, "the process still ends by the signal"
    assert marker.read_text() == "deleted"


def test_a_run_is_journaled_until_it_is_destroyed(build: Path) -> None:
    run = Run(nowhere())
    path = build / "runs" / f"{run.run_id}.json"
    entry = json.loads(path.read_text())
    assert entry["prefix"] == run.prefix and entry["target"]["endpoint_url"] == "http://127.0.0.1:9"
    assert entry["owner"]["pid"] == os.getpid()
    assert [e.run_id for e in journal.orphans()] == [], "its owner is alive: not an orphan"
    run.destroy()
    assert not path.exists()


def test_runs_that_own_nothing_are_not_journaled(build: Path) -> None:
    Run(nowhere(), run_id="existing1")  # opened on another run's id, to find or delete its things
    released = Run(nowhere())
    released.release()  # a deployment: its record owns the resources now
    assert list((build / "runs").glob("*.json")) == []


def _dead_owner() -> ProcessIdentity:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = ProcessIdentity.of(child.pid) or ProcessIdentity(child.pid, time.time(), ("python",))
    child.wait()
    return identity


def _orphan(build: Path, run_id: str, target: dict[str, object]) -> Path:
    entry = journal.JournalEntry(run_id, f"el-{run_id}", target, _dead_owner(), time.time())
    path = build / "runs" / f"{run_id}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(entry.to_json()))
    return path


def test_the_reaper_deletes_an_orphan_by_prefix_and_spares_live_runs(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = Run(nowhere())
    orphan = _orphan(build, "orphan01", {"kind": "localstack", "region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"})
    deleted: list[str] = []
    monkeypatch.setattr(leaks, "_answers", lambda endpoint, timeout=1.0: True)
    monkeypatch.setattr(leaks, "delete_leaks", lambda target, prefix: (deleted.append(prefix), ([leaks.Leak("sqs:queue", prefix + "-q")], []))[1])
    reaped = leaks.reap_orphaned_runs()
    assert deleted == ["el-orphan01"], "the live run is not touched"
    assert [str(r.entry.run_id) for r in reaped] == ["orphan01"] and len(reaped[0].deleted) == 1
    assert not orphan.exists() and (build / "runs" / f"{live.run_id}.json").exists()
    live.destroy()


def test_an_orphan_on_a_stopped_emulator_is_just_dropped(build: Path) -> None:
    orphan = _orphan(build, "orphan02", {"kind": "localstack", "region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"})
    (reaped,) = leaks.reap_orphaned_runs()
    assert "stopped" in reaped.note and not orphan.exists()


def test_an_orphan_on_a_stopped_ministack_is_just_dropped(build: Path) -> None:
    orphan = _orphan(build, "orphan04", {"kind": "ministack", "region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"})
    (reaped,) = leaks.reap_orphaned_runs()
    assert "stopped" in reaped.note and not orphan.exists()


def test_an_orphan_whose_port_another_backend_holds_now_is_dropped_not_reaped_there(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventlab.runtime import EMULATORS

    orphan = _orphan(build, "orphan05", {"kind": "localstack", "region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"})
    monkeypatch.setattr(leaks, "_answers", lambda endpoint, timeout=1.0: True)
    monkeypatch.setattr(EMULATORS["ministack"].backend, "health", lambda url, timeout=2.0: {"version": "1.5.33"})
    monkeypatch.setattr(leaks, "delete_leaks", lambda target, prefix: (_ for _ in ()).throw(AssertionError("reaped on the wrong emulator")))
    (reaped,) = leaks.reap_orphaned_runs()
    assert "MiniStack holds the port now" in reaped.note and not orphan.exists()


def test_an_orphan_on_aws_is_reported_not_touched_unless_allowed(build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    orphan = _orphan(build, "orphan03", {"kind": "aws", "region": "eu-west-1", "profile": "sandbox"})

    def no_aws(**kwargs: object) -> Target:
        raise AssertionError("the reaper reached for AWS without being allowed to")

    monkeypatch.setattr(Target, "aws", staticmethod(no_aws))
    (reaped,) = leaks.reap_orphaned_runs()
    expected = "EVENTLAB_TARGET=aws EVENTLAB_AWS_PROFILE=sandbox EVENTLAB_AWS_REGION=eu-west-1 eventlab leaks el-orphan03 --delete"
    assert expected in reaped.note
    assert orphan.exists(), "kept until someone cleans it"


def test_a_killed_owner_leaves_its_entry_for_the_reaper(build: Path, tmp_path: Path) -> None:
    """A process killed outright (SIGKILL) leaves its entry, and the reaper takes it from there."""
    code = textwrap.dedent(
        """
        from eventlab.run import Run
        from eventlab.target import Target
        run = Run(Target.localstack("http://127.0.0.1:9"))
        print(run.run_id, flush=True)
        import time; time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert [e.run_id for e in journal.entries()] == [run_id]
    assert journal.orphans() == []
    child.kill()
    child.wait()
    assert [e.run_id for e in journal.orphans()] == [run_id]
    leaks.reap_orphaned_runs()
    assert journal.entries() == []


def test_a_destroy_interrupted_mid_deletion_stays_journaled(build: Path) -> None:
    """A signal handler's destroy inside another: the resource being deleted when the signal
    came may never finish, so the prefix must stay in the journal for the reaper."""
    run = Run(nowhere())
    journaled_after_the_handler: list[list[str]] = []

    def interrupted() -> None:  # SIGTERM arrives while this resource is being deleted
        run.destroy()  # the handler's destroy; then the handler ends the process
        journaled_after_the_handler.append([e.run_id for e in journal.entries()])

    run.track("x", "a", "arn:a", lambda: None)
    run.track("x", "b", "arn:b", interrupted)
    run.destroy()
    assert journaled_after_the_handler == [[run.run_id]]
    assert journal.entries() == [], "an uninterrupted destroy takes the run off the journal"
