"""SVG snapshots of the explorer's engines (see test_app_snapshots.py for how): vLLM at a
bounded pool with evicted tokens, in each colour system; its block grid (`t`); the curves
screen with every engine. Each `e` starts a worker: run_before waits for it before the next key."""

from __future__ import annotations

import pytest

from tracetui.app.app import create_app

from .conftest import color_system, ready, settle
from .paths import SAMPLES

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")

SIZE = (100, 32)
TWO = SAMPLES / "two_sessions.jsonl"
VLLM_SMALL_POOL = ["e"] + ["P"] * 9 + ["j"] * 11 + ["tab"]
"""vLLM, the 0.1 GB pool (820 tokens; ∞, 16, 8, 4, 2, 1, 0.8, 0.4, 0.2, 0.1), request 11, the prompt focused."""


def _keys(*keys: str):
    async def run_before(pilot) -> None:
        await ready(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)  # `e` computes in a worker: finished before the next key

    return run_before


SYSTEMS = {"truecolor": ("truecolor", False), "256": ("256", False), "16": ("standard", False),
           "no_color": ("truecolor", True)}


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_vllm_evicted_tokens(snap_compare, monkeypatch, name):
    """two_sessions.jsonl, `e` (vllm), `P` nine times (the 0.1 GB pool), request 11, in each
    colour system.

    Header: "vllm 0.1 GB · 2 rejected · prefix 54.2%" (no combined figure, no substring: vLLM
    reuses prefixes only). Request list: the bar's title "vllm 0.1"; substr "–" on every row;
    requests 10 and 15 say "rejected" in the cause column (prompts over the pool's 816-token
    max length: prefix 0.0%), request 11 says "evicted" (prefix 15.6%). Request info: "#11
    evicted · vllm: prefix 15.6% · evicted 272". Prompt view of request 11: the SYSTEM block's
    first 80 tokens prefix hits (its header "prefix 95%", no substring %), then the rest of it
    and the HISTORY blocks that vLLM's unlimited pool would have reused drawn as evicted (the
    misses come further down, off screen), marker "▲ prefix ends (evicted): 80/513" in the
    SYSTEM block. Header 2 rejected in bold. Legend: prefix hit, miss,
    evicted (0.1 GB), output. truecolor / 256: green, red, amber backgrounds; 16: ANSI green,
    red, yellow; no_color: prefix underlined, misses plain, evicted struck through.
    """
    system, no_color = SYSTEMS[name]
    color_system(monkeypatch, system)
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(create_app(str(TWO)), terminal_size=SIZE, run_before=_keys(*VLLM_SMALL_POOL))


def test_vllm_block_grid(snap_compare):
    """As test_vllm_evicted_tokens (truecolor), then `t` twice: vLLM's blocks of 16 tokens.

    Every other block of 16 tokens has a light orange foreground over its class background
    (green prefix, amber evicted, red miss), so the grid shows runs of 16 tokens, not single
    tokens; the prefix hit (80 tokens) ends on a block boundary. Status line: "t: vllm blocks
    of 16 tokens, every other one in orange".
    """
    assert snap_compare(create_app(str(TWO)), terminal_size=SIZE, run_before=_keys(*VLLM_SMALL_POOL, "t", "t"))


def test_curves_every_engine(snap_compare):
    """two_sessions.jsonl, `e` four times (vllm, sglang, lmcache, cacheblend computed), then `c`.

    The curves screen opens with "hit rate (%) vs pool size (GB, log scale), every engine
    computed (e)": five series on one chart, each with its own marker and colour, named in the
    legend: "study substring" (green half blocks) highest, from 16% at 0.01 GB to 91% at ∞;
    "sglang prefix" (magenta x) at 0 below 0.04 GB, about 79% from 0.2 GB, drawn over "vllm
    prefix" (cyan dots, 77.6%: its dots show only where the two part); "lmcache prefix" (orange
    +) lower, 59% (256-token chunks); "cacheblend reuse" (bright blue *) flat at 0 (no
    256-token chunk of a message repeats in this small trace). Below it, the study's
    per-request chart as before.
    """
    assert snap_compare(create_app(str(TWO)), terminal_size=SIZE, run_before=_keys("e", "e", "e", "e", "c"))
