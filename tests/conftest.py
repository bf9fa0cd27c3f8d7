"""Shared test setup: snapshot folder, a frozen environment for the app, and `ready(pilot)`."""

from __future__ import annotations

import asyncio
import inspect
import socket
import subprocess
import time

import pytest
import pytest_textual_snapshot
import textual.constants
from .paths import REPO

SNAPSHOTS = REPO / "snapshots"


# ---- snapshots go to <repo>/snapshots/<test module>/<test>.svg

class _RepoSnapshotsSVG(pytest_textual_snapshot.SVGImageExtension):
    """The plugin's SVG extension, storing its files under the top-level `snapshots/` folder."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(SNAPSHOTS / test_location.basename)


# `snap_compare` looks the extension up in the plugin module each time it is called.
pytest_textual_snapshot.SVGImageExtension = _RepoSnapshotsSVG


# ---- async tests without a plugin: pilot tests are `async def`, run each in a fresh event loop

@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


# ---- what varies from one machine to another

@pytest.fixture(autouse=True)
def _frozen_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No animations, no theme, no NO_COLOR and a truecolor terminal whatever the environment
    says (a test may set NO_COLOR itself, or force a colour system with `color_system`)."""
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    # textual reads its constants at import: patch the value the App reads in __init__ as well.
    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "none")
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    # The App builds its console from this constant (read from TEXTUAL_COLOR_SYSTEM at import).
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "truecolor")


def color_system(monkeypatch: pytest.MonkeyPatch, system: str) -> None:
    """Make the next app believe the terminal has `system` colours ("truecolor", "256", "standard")."""
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", system)


@pytest.fixture
def frozen_terminal_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """For app tests: plotext (the curves screen) caps a chart at shutil.get_terminal_size(), which
    under pytest is the size of whatever terminal runs the tests, or COLUMNS/LINES. Fix it, larger
    than any test app. (Not autouse: the CLI's own output must keep its usual width.)"""
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("LINES", "200")


# ---- waiting for the app

def _settled(app) -> bool:
    from tracetui.app.screens.error import ErrorScreen
    from tracetui.app.screens.main import MainScreen

    return any(isinstance(s, (MainScreen, ErrorScreen)) for s in app.screen_stack)


async def ready(pilot, timeout: float = 120.0) -> None:
    """Wait until the trace is loaded (main screen, with its warnings if any) or the error screen shows."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while True:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if _settled(app):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"the app did not finish loading: screens {app.screen_stack}")
        await asyncio.sleep(0.02)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def settle(pilot) -> None:
    """After a key that may start a worker (search): let it finish and the screen redraw."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def after_load(*keys: str, screen: type | None = None):
    """A snapshot's run_before: wait for the load, press `keys`, let any worker they start
    finish; with `screen`, check that it is the screen on top."""

    async def run_before(pilot) -> None:
        await ready(pilot)
        for key in keys:
            await pilot.press(key)
        await settle(pilot)
        if screen is not None:
            assert isinstance(pilot.app.screen, screen), pilot.app.screen_stack

    return run_before


def main_screen(app):
    """The app's main screen (failing clearly when another screen is on top)."""
    from tracetui.app.screens.main import MainScreen

    screen = app.screen
    assert isinstance(screen, MainScreen), app.screen_stack
    return screen


# ---- trace data that looks like rich markup

def write_markup_trace(path, edit: str = "two"):
    """A small trace whose session ids, prompts, outputs (and, by the caller's choice, file name)
    hold "[/x]", "[/s]" and "[bold]": trace data that rich would parse as markup if it were
    printed as a str. Request 2 edits the system prompt (`edit` picks the new words, so two
    traces can have different breakers); request 3 has no session id."""
    import json

    keep = "Keep answers short and exact. " * 8
    old = f"system: You are helpful. Rule [/x] one [bold]never[/bold] shout. {keep}"
    new = f"system: You are helpful. Rule [/x] {edit} [bold]always[/] whisper. {keep}"
    first = old + "\nuser: hello [/x] there [bold]\nassistant:"
    records = [
        {"timestamp": 1000, "session_id": "[/x]sess[bold]", "input": first, "output": " hi [/s] back"},
        {"timestamp": 2000, "session_id": "[/x]sess[bold]",
         "input": first + " hi [/s] back\nuser: more [/x]\nassistant:", "output": " ok"},
        {"timestamp": 3000, "session_id": "[/s]", "input": new + "\nuser: hello [/x] there [bold]\nassistant:",
         "output": " yo"},
        {"timestamp": 4000, "input": new + "\nuser: other [/x]\nassistant:", "output": " yo"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


async def press(pilot, *keys: str) -> None:
    """Press keys, then let the app handle them."""
    await pilot.press(*keys)
    await pilot.pause()


# ---- the token cache goes to a temporary folder, never the user's cache dir

@pytest.fixture(autouse=True)
def _token_cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TRACETUI_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


# ---- a server on this machine (tracetui serve)

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"tracetui serve exited: {proc.stdout.read().decode(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nothing listens on port {port}")


def stop_process(proc: subprocess.Popen) -> None:
    """End a process this test started: politely, then for sure."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
