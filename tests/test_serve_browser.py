"""`tracetui serve`: the explorer as a web page, in a real headless Chromium.

The page draws the terminal on a canvas (xterm.js with its WebGL / canvas addons), so the
test reads what the app sends: the DevTools protocol reports every WebSocket frame the page
receives, and those frames are the terminal's output. Skipped when Chromium (Debian's
`chromium` package) or textual-serve is absent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from .conftest import free_port, stop_process, wait_port
from .paths import REPO, sample

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")]
aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("textual_serve")

_ANSI = re.compile(r"\x1b(?:\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[=>NOPMc78])")


@pytest.fixture
def served():
    trace = sample("opencode_like.jsonl")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tracetui", "serve", str(trace), "--port", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, "TRACETUI_NO_PROGRESS": "1"})
    try:
        wait_port(port, proc)
        yield trace, port
    finally:
        stop_process(proc)


@pytest.fixture
def chromium(tmp_path):
    proc = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-dev-shm-usage", "--window-size=1600,900", "--remote-debugging-port=0",
                             f"--user-data-dir={tmp_path / 'profile'}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < end:
            line = proc.stderr.readline().decode(errors="replace")
            if not line and proc.poll() is not None:
                pytest.skip("chromium did not start")
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                url = m.group(1)
        if url is None:
            pytest.skip("chromium gave no DevTools address")
        yield url
    finally:
        stop_process(proc)


class _Page:
    """A minimal DevTools protocol client for one page: commands, and the text of every
    WebSocket frame the page received so far."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 0
        self.frames: list[str] = []
        self.replies: dict[int, dict] = {}

    async def pump(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._pump_forever(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _pump_forever(self) -> None:
        async for msg in self.ws:
            self._take(json.loads(msg.data))

    def _take(self, data: dict) -> None:
        if "id" in data:
            self.replies[data["id"]] = data
        elif data.get("method") == "Network.webSocketFrameReceived":
            r = data["params"]["response"]
            payload = r["payloadData"]
            if r.get("opcode") == 2:
                payload = base64.b64decode(payload).decode("utf-8", "replace")
            self.frames.append(payload)

    async def send(self, method: str, **params) -> dict:
        self.next_id += 1
        k = self.next_id
        await self.ws.send_str(json.dumps({"id": k, "method": method, "params": params}))
        while k not in self.replies:
            self._take(json.loads((await self.ws.receive()).data))
        return self.replies.pop(k)

    def text(self) -> str:
        return _ANSI.sub("", "".join(self.frames))

    async def wait_for(self, pattern: str, timeout: float = 60) -> re.Match | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.text())
            if m:
                return m
            await self.pump(0.5)
        return None


async def _browse(devtools: str, url: str, expected: dict) -> None:
    async with aiohttp.ClientSession() as http:
        host = re.match(r"ws://([^/]+)/", devtools).group(1)
        async with http.get(f"http://{host}/json/list") as resp:
            pages = [t for t in await resp.json() if t["type"] == "page"]
        async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = _Page(ws)
            await page.send("Network.enable")
            await page.send("Page.enable")
            await page.send("Page.navigate", url=url)
            # The page loads, the explorer starts behind it and draws the header's figures.
            header = await page.wait_for(r"(?:prefix|P) (\d+\.\d)%.{0,6}(?:substring|S) (\d+\.\d)%", timeout=90)
            assert header, page.text()[-2000:]
            assert (header.group(1), header.group(2)) == (expected["prefix"], expected["substring"])
            terminals = await page.send("Runtime.evaluate",
                                        expression="document.querySelectorAll('.textual-terminal').length")
            assert terminals["result"]["result"]["value"] == 1
            # It answers a key: c opens the curves screen.
            await page.send("Runtime.evaluate",
                            expression="document.querySelector('.xterm-helper-textarea').focus()")
            before = len(page.text())
            for kind in ("keyDown", "char", "keyUp"):
                await page.send("Input.dispatchKeyEvent", type=kind, text="c", key="c", code="KeyC",
                                windowsVirtualKeyCode=67)
            curves = await page.wait_for(r"hit rate \(%\) vs pool size", timeout=60)
            assert curves and curves.start() >= before - 100, page.text()[-2000:]


def test_serve_in_a_browser(served, chromium):
    from tracetui.core.pipeline import Settings, load

    trace, port = served
    a = load(str(trace), Settings(pool_sizes=("unlimited",))).analysis
    expected = {"prefix": f"{100 * a.unlimited.prefix_rate:.1f}", "substring": f"{100 * a.unlimited.substring_rate:.1f}"}
    asyncio.run(_browse(chromium, f"http://127.0.0.1:{port}/", expected))


def test_serve_binds_this_machine_only_by_default(served):
    _, port = served
    out = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout if shutil.which("ss") else ""
    if not out:
        pytest.skip("no ss to list listening sockets")
    listening = [ln.split()[3] for ln in out.splitlines()[1:] if ln.split()[3].endswith(f":{port}")]
    assert listening == [f"127.0.0.1:{port}"], listening
