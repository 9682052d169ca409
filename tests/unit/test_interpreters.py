"""The interpreter finder: versions come from the binaries themselves, and bad input is named."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eventlab.locations import project_root
from eventlab.runtime import interpreters

HERE = sys.version_info[:2]


def test_finds_the_running_interpreters_minor_by_asking_it() -> None:
    found = interpreters.find(HERE)
    assert found is not None and found.minor == HERE
    assert interpreters.probe(found.path) == found


def test_a_binary_that_is_not_python_is_not_trusted(tmp_path) -> None:
    fake = tmp_path / "python3.99"
    fake.write_text("#!/bin/sh\necho 3.99.0; echo cpython\nexit 3\n")
    fake.chmod(0o755)
    assert interpreters.probe(str(fake)) is None


def test_eventlab_python_of_another_version_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("EVENTLAB_PYTHON", sys.executable)
    other = (HERE[0], HERE[1] + 1)
    assert interpreters.find_newest(other, (3, 99)) is None
    assert interpreters.find_newest(HERE, HERE).minor == HERE


@pytest.mark.parametrize("text", ["3", "3.x", "three.twelve", "3.12.1"])
def test_a_malformed_minor_names_the_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"like 3\.13"):
        interpreters.parse_minor(text)


def test_runs_by_path_without_the_package() -> None:
    script = project_root() / "lib" / "eventlab" / "runtime" / "interpreters.py"
    out = subprocess.run([sys.executable, "-I", str(script), f"{HERE[0]}.{HERE[1]}"],
                         capture_output=True, text=True, check=True)
    assert interpreters.probe(out.stdout.strip()).minor == HERE


def test_each_environment_says_which_python_it_needs(monkeypatch) -> None:
    monkeypatch.setenv("EVENTLAB_PYTHON", sys.executable)
    assert interpreters.find_for("workbook").path == sys.executable, "3.11 to 3.14 fits the workbook"
    monkeypatch.setenv("EVENTLAB_LOCALSTACK_PYTHON", sys.executable)
    if HERE != (3, 13):
        with pytest.raises(interpreters.NoInterpreter, match=r"EVENTLAB_LOCALSTACK_PYTHON=.* must be a Python 3\.13"):
            interpreters.find_for("localstack")
    assert interpreters.PURPOSES["workbook"].wanted == "3.11 to 3.14"
    assert interpreters.PURPOSES["localstack"].wanted == "3.13"
