"""`make lab`'s JupyterLab starts beside the session's emulator and its tree page loads in a
headless browser: the notebooks are listed, nothing errs in the console, the page is not blank."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser import Browser

from eventlab.runtime import EmulatorProcess
from eventlab.runtime.ports import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _wait_for(url: str, lab: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.poll() is not None:
            raise AssertionError(f"`eventlab lab` exited with {lab.returncode} before JupyterLab answered")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer {url} within {timeout:.0f} s")


def test_make_labs_jupyterlab_lists_the_notebooks_in_a_browser(emulator: EmulatorProcess, tmp_path: Path) -> None:
    port, token = free_port(), secrets.token_hex(16)
    eventlab = Path(sys.executable).with_name("eventlab")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    log = (tmp_path / "lab.log").open("wb")
    lab = subprocess.Popen(
        [str(eventlab), "lab", "--backend", emulator.backend.key, "--no-browser", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/status?token={token}", lab)
        with Browser() as browser:
            visit = browser.visit(
                f"http://127.0.0.1:{port}/lab/tree?token={token}",
                ready="document.querySelector('.jp-DirListing-content') !== null && "
                      "document.querySelector('.jp-DirListing-content').innerText.includes('01-sqs.ipynb')",
                timeout=120,
            )
        assert "JupyterLab" in visit.title, visit.title
        assert visit.errors == [], f"console errors: {visit.errors}"
        assert not visit.blank(), "the screenshot shows nothing"
        (tmp_path / "lab.png").write_bytes(visit.screenshot)
    finally:
        os.killpg(lab.pid, signal.SIGINT)
        try:
            lab.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()
        log.close()
    assert emulator.running() is not None, "the session's emulator outlives the Lab that used it"
