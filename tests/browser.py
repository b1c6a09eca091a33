"""Real headless Chromium for the report tests, driven over the DevTools protocol.

The protocol runs over a pipe (`--remote-debugging-pipe`: Chromium reads commands on fd 3
and writes replies and events on fd 4, each a JSON message ended by a NUL byte), so no port
is opened and no websocket package is needed. `open_page` loads a file and reports what a
practitioner's browser would have done with it: console errors, network requests, dialogs,
the page's text, and a full-page screenshot.

Use the `chromium` fixture: it skips (with the reason) when Debian's chromium is absent.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.snapshot import CHROMIUM_FLAGS

CHROMIUM = "/usr/bin/chromium"
# The product's own offline flags (pipeline.snapshot), plus the DevTools pipe the tests drive.
FLAGS = (*CHROMIUM_FLAGS, "--remote-debugging-pipe")
TIMEOUT_S = 60


@dataclass
class PageLoad:
    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    text: str = ""
    values: dict = field(default_factory=dict)
    screenshot: bytes = b""

    @property
    def other_requests(self) -> list[str]:
        """Requests for anything but the page itself."""
        return [r for r in self.requests if r != self.url]


class Chromium:
    """One headless Chromium process; `open_page` may be called many times."""

    def __init__(self, executable: str, profile: Path):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium reads our commands on its fd 3 and writes replies on its fd 4. A small
        # Python launcher puts the pipes there rather than a preexec_fn: without one, subprocess
        # starts the child by vfork, which needs no copy of this (possibly large) process's
        # memory; a fork of a test worker holding GBs of address space can fail with ENOMEM.
        wire = (
            "import fcntl, os, sys\n"
            "r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD_CLOEXEC, 10) for fd in sys.argv[1:3])\n"
            "os.dup2(r, 3); os.dup2(w, 4); os.set_inheritable(3, True); os.set_inheritable(4, True)\n"
            "os.execv(sys.argv[3], sys.argv[3:])\n"
        )
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                wire,
                str(to_browser_r),
                str(from_browser_w),
                executable,
                *FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []

    # -- protocol plumbing

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command, keep the events that arrive meanwhile, return its result."""
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._handle(message)

    def _handle(self, event: dict) -> None:
        self._events.append(event)
        if event["method"] == "Page.javascriptDialogOpening":  # dismiss it, or the page hangs
            self._send("Page.handleJavaScriptDialog", {"accept": True}, event.get("sessionId"))

    def _wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not any(e["method"] == method and e.get("sessionId") == session for e in self._events):
            message = self._receive(deadline)
            if "method" in message:
                self._handle(message)

    # -- what the tests use

    def open_page(self, path: Path, width: int = 1280, evaluate: dict[str, str] | None = None) -> PageLoad:
        """Load `path`, then read the page's text and the value of each JavaScript expression in
        `evaluate` (run by DevTools, not by the page), then take a full-page screenshot."""
        url = Path(path).resolve().as_uri()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self._events.clear()
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable", {}, session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        self.call("Page.navigate", {"url": url}, session)
        self._wait_for("Page.loadEventFired", session)
        values = {
            name: self.call("Runtime.evaluate", {"expression": js, "returnByValue": True}, session)[
                "result"
            ].get("value")
            for name, js in {"text": "document.body.innerText", **(evaluate or {})}.items()
        }
        height = self.call("Page.getLayoutMetrics", {}, session)["cssContentSize"]["height"]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": int(height), "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        load = PageLoad(
            url=url, text=values.pop("text") or "", values=values, screenshot=base64.b64decode(shot["data"])
        )
        for event in self._events:
            self._record(load, event)
        self.call("Target.closeTarget", {"targetId": target})
        return load

    @staticmethod
    def _record(load: PageLoad, event: dict) -> None:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            load.requests.append(params["request"]["url"])
        elif method == "Page.javascriptDialogOpening":
            load.dialogs.append(f"{params.get('type')}: {params.get('message')}")
        elif method == "Runtime.exceptionThrown":
            load.console_errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            load.console_errors.append(json.dumps(params.get("args", []))[:500])
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            load.console_errors.append(f"{params['entry'].get('source')}: {params['entry'].get('text')}")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass  # it may close the pipe before it answers
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="session")
def chromium():
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not executable:
        pytest.skip("chromium not installed; make test installs it when running as root")
    with tempfile.TemporaryDirectory(prefix="vsm-test-chromium-") as profile:
        browser = Chromium(executable, Path(profile))
        yield browser
        browser.close()
