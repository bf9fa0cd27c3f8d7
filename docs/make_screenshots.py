"""Regenerate the README's screenshots (SVG exported by the app itself).

    python docs/make_screenshots.py

Uses a sample trace, a fixed terminal size, the default theme and a truecolor terminal
(whatever TERM says), so the output only changes when the app's rendering does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import textual.constants

from tracetui.app.app import create_app

textual.constants.COLOR_SYSTEM = "truecolor"  # what the App's console is built with

ROOT = Path(__file__).resolve().parents[1]
SIZE = (120, 36)


async def shoot(trace: str, keys: list[str], out: str) -> None:
    app = create_app(str(ROOT / "sample_traces" / trace))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.save_screenshot(filename=out, path=str(ROOT / "docs"))
    print("wrote", ROOT / "docs" / out)


async def main() -> None:
    # Request 6 of the OpenCode-like sample: the prefix breaks in a re-serialised tool call.
    await shoot("opencode_like.jsonl", ["j"] * 6 + ["m"], "main.svg")  # m: to the break marker
    await shoot("aider_like.jsonl", ["j"] * 3 + ["c"], "curves.svg")
    await shoot("opencode_like.jsonl", ["j"] * 6 + ["d"], "diff.svg")


if __name__ == "__main__":
    asyncio.run(main())
