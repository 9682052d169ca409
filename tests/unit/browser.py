"""A headless Chromium driven over the DevTools protocol, for the tests of pages people look at.

It loads a page, waits until it is ready, gathers what the console reports as errors (uncaught
exceptions, ``console.error``, resources that failed to load) and takes a screenshot. Chromium
is Debian's ``chromium`` package (``make setup-browser``); without it the tests skip, except in
CI, where they fail: there the set-up must have installed it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from tornado.websocket import WebSocketClientConnection, websocket_connect

NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    """The browser's path; skips the test without one (fails in CI, where set-up installs it)."""
    for name in NAMES:
        if found := shutil.which(name):
            return found
    message = "no headless Chromium on this machine: `make setup-browser` installs Debian's chromium package"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Visit:
    """What loading a page gave: its title, the console's errors, and a PNG screenshot."""

    url: str
    title: str
    errors: list[str]
    screenshot: bytes
    log: list[str] = field(default_factory=list)

    def blank(self) -> bool:
        """True when the screenshot is one flat colour (nothing rendered)."""
        from PIL import Image, ImageStat

        image = Image.open(io.BytesIO(self.screenshot)).convert("L")
        return max(ImageStat.Stat(image).stddev) < 2.0 or len(image.getcolors(1 << 16) or []) < 8


class Browser:
    """One headless Chromium for a test module, on a loopback DevTools port, its profile in a
    temporary folder; :meth:`visit` opens a page in a fresh tab."""

    def __init__(self, width: int = 1300, height: int = 1000) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="eventlab-chromium-")
        self.loop = asyncio.new_event_loop()
        self.size = (width, height)
        self.process = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        self.port = self._port()

    def _port(self, timeout: float = 30.0) -> int:
        active = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited at start ({self.process.returncode}): "
                                   f"{self.process.stderr.read().decode(errors='replace')[-2000:] if self.process.stderr else ''}")
            if active.exists() and (lines := active.read_text().split()):
                return int(lines[0])
            time.sleep(0.1)
        raise RuntimeError(f"chromium wrote no DevTools port in {timeout:.0f} s")

    def close(self) -> None:
        """Stop Chromium and every process it started (its renderers and crash handler write to
        the profile until they end), then remove the profile."""
        try:
            family = [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.Error:
            family = []
        for member in family:
            with contextlib.suppress(psutil.Error):
                member.terminate()
        _, alive = psutil.wait_procs(family, timeout=10)
        for member in alive:
            with contextlib.suppress(psutil.Error):
                member.kill()
        psutil.wait_procs(alive, timeout=10)
        with contextlib.suppress(ProcessLookupError):  # one that left the tree, not its group
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.loop.close()
        self.profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def visit(self, url: str, *, ready: str = "document.readyState === 'complete'", timeout: float = 60.0) -> Visit:
        """Open ``url`` in a new tab, wait until the JavaScript expression ``ready`` is true, then
        take a screenshot; the tab is closed after."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            tab = json.load(response)
        try:
            return self.loop.run_until_complete(asyncio.wait_for(self._visit(tab["webSocketDebuggerUrl"], url, ready), timeout))
        finally:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/close/{tab['id']}", timeout=10).close()

    async def _visit(self, socket: str, url: str, ready: str) -> Visit:
        connection = await websocket_connect(socket, max_message_size=64 << 20)
        session = _Session(connection)
        try:
            for method in ("Runtime.enable", "Log.enable", "Page.enable"):
                await session.call(method)
            await session.call("Emulation.setDeviceMetricsOverride",
                               {"width": self.size[0], "height": self.size[1], "deviceScaleFactor": 1, "mobile": False})
            await session.call("Page.navigate", {"url": url})
            while not (await session.call("Runtime.evaluate", {"expression": f"Boolean({ready})", "returnByValue": True}))[
                    "result"].get("value"):
                await asyncio.sleep(0.25)
            await asyncio.sleep(0.5)  # let late errors and paints land
            title = (await session.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True}))["result"]["value"]
            shot = await session.call("Page.captureScreenshot", {"format": "png"})
            return Visit(url=url, title=title, errors=session.errors, screenshot=base64.b64decode(shot["data"]), log=session.log)
        finally:
            connection.close()


class _Session:
    """One tab's DevTools connection: numbered calls, and the console events that arrive between."""

    def __init__(self, connection: WebSocketClientConnection) -> None:
        self.connection = connection
        self.next_id = 0
        self.errors: list[str] = []
        self.log: list[str] = []

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        await self.connection.write_message(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        while True:
            raw = await self.connection.read_message()
            if raw is None:
                raise RuntimeError(f"chromium closed the DevTools connection during {method}")
            message = json.loads(raw)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._event(message.get("method", ""), message.get("params", {}))

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.log.append(f"{params.get('type')}: {text}")
            if params.get("type") in ("error", "assert"):
                self.errors.append(f"console.{params['type']}: {text}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.log.append(f"{entry.get('level')}: {entry.get('text')}")
            if entry.get("level") == "error":
                self.errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
