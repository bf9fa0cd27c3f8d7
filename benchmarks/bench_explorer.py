"""Time the explorer's responsiveness on the largest prompt of each trace, headless.

    python benchmarks/bench_explorer.py [TRACE ...] [--reps R] [--steps N] [--profile]
    python benchmarks/bench_explorer.py --open [TRACE ...]

--open (issue 12) times opening each trace, the token cache off, beside
`tracetui analyze --json --no-cache` on the same file, run first in a subprocess: the app
runs in-process through `app.run_test(size=(120, 40))` and the figures are seconds from
create_app: "list" when the loading screen lists the requests (read, not yet tokenized),
"interactive" when the main screen shows the first request with the causes of the rows on
screen diagnosed (no worker of the list left), "sessions" when the session figures (`S`) are
ready too; with the peak RSS of each process (the bench's own is the peak so far: give one
trace per run to read it per trace). Target: interactive <= 2x analyze. Default
traces: the 100k chat and 100 MB agent traces of benchmarks/gen_traces.py in
/tmp/tracetui-bench.

TRACE defaults to the Aider astropy trace (../shared/traces/aider/..., if present) and
sample_traces/big_prompt.jsonl. The real app runs through `app.run_test(size=(120, 40))`;
for the request with the most input tokens it measures:

1. selection to first paint, alternating with a neighbouring request, with the document
   cache cold (ExplorerData._docs cleared) and warm:
   - direct: `MainScreen.select_request(i)` + a synchronous render of every visible row of
     the prompt view (the strip cache is cold: set_document clears it);
   - app: from sending the `j`/`k` key on the request list to the end of the first
     compositor frame that drew the prompt view showing request i (the frame is timed by
     wrapping Screen._compositor_refresh, so it includes the event loop, the message
     round trip RequestList.Selected -> MainScreen and Textual's 60 fps update timer);
     Under it: that frame's own duration, the time spent in PromptView.render_line during
     it, and the time the garbage collector ran during it (gc.callbacks);
   - pilot: the wall time of `await pilot.press(key); await pilot.pause()` (includes the
     test harness's idle waits; the "pilot floor" row is the same for an unbound key).
2. per scroll step with the prompt view focused: `pagedown` across the whole prompt and
   `down` in 10 runs at evenly spaced places (direct: the action + a render of the visible
   rows; app: key -> end of the first frame that drew the prompt view), plus `G` and `g`.
   The strip cache is emptied before each pagedown sweep, each run of `down` and each
   `G`/`g`, so rows scrolled into view are drawn cold while rows that stay on screen come
   from the cache, as in the app.
3. pure render cost: `render_line` for every row of the layout with a cold strip cache
   (plain and heatmap mode), as rows per second.

"direct" figures run with a fresh gc.collect() before each sample; "app" figures do not, so
their maxima include garbage-collector pauses, as a user would see them. The machine is
shared: look at medians first, and at the load average printed at the top.

Thresholds: 100 ms for the first paint, 16 ms (one 60 Hz frame) per scroll step. When one is
exceeded (or with --profile), the slowest path is run again under cProfile and the top
functions are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import textual

from tracetui.app.app import create_app
from tracetui.app.screens.main import MainScreen
from tracetui.app.widgets.prompt_view import PromptView
from tracetui.app.widgets.request_list import RequestList
from tracetui.core.display import display_text

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
ASTROPY = HERE.parents[2] / "shared/traces/aider/gpt_4o_astropy__astropy-13977.jsonl"
BIG_PROMPT = REPO / "sample_traces/big_prompt.jsonl"
SIZE = (120, 40)
PAINT_BUDGET_MS = 100.0
STEP_BUDGET_MS = 16.0

now = time.perf_counter


def ms(seconds: float) -> float:
    return seconds * 1e3


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


@dataclass
class Stat:
    label: str
    values: list[float] = field(default_factory=list)  # milliseconds
    budget: float | None = None

    def add(self, value_ms: float | None) -> None:
        if value_ms is not None:
            self.values.append(value_ms)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def p95(self) -> float:
        return pct(self.values, 95) if self.values else float("nan")

    @property
    def max(self) -> float:
        return max(self.values) if self.values else float("nan")

    def over(self) -> bool:
        return self.budget is not None and bool(self.values) and self.max > self.budget


class GcClock:
    """Total time spent in the garbage collector (gc.callbacks), and the longest pause."""

    def __init__(self) -> None:
        self.total = 0.0
        self.longest = 0.0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = now()
        else:
            d = now() - self._start
            self.total += d
            self.longest = max(self.longest, d)


GC = GcClock()


@dataclass
class Frame:
    start: float
    end: float
    rows: int  # prompt rows drawn in this frame
    render_s: float  # time spent in PromptView.render_line during the frame
    doc: int | None
    gc_s: float  # time spent in the garbage collector during the frame


@dataclass
class Press:
    first_ms: float | None  # key sent -> end of the first frame that drew the prompt view
    wall_ms: float  # pilot.press + pilot.pause
    frame: Frame | None


class FrameProbe:
    """Records the compositor frames that drew the prompt view."""

    def __init__(self, screen: MainScreen, view: PromptView) -> None:
        self.view = view
        self.lines = 0
        self.render_s = 0.0
        self.frames: list[Frame] = []
        self.render_line = view.render_line  # the real bound method, for direct timings
        orig_render = view.render_line
        orig_refresh = screen._compositor_refresh

        def render_line(y: int):
            t = now()
            try:
                return orig_render(y)
            finally:
                self.lines += 1
                self.render_s += now() - t

        def compositor_refresh() -> None:
            lines, render_s, gc_s, t = self.lines, self.render_s, GC.total, now()
            orig_refresh()
            if self.lines > lines:
                doc = view.doc
                self.frames.append(Frame(t, now(), self.lines - lines, self.render_s - render_s,
                                         doc.index if doc else None, GC.total - gc_s))

        view.render_line = render_line  # type: ignore[method-assign]
        screen._compositor_refresh = compositor_refresh  # type: ignore[method-assign]

    def reset(self) -> None:
        self.frames.clear()

    def first_frame(self, t0: float, doc_index: int | None = None) -> Frame | None:
        """The first frame after t0 that drew the view (showing request `doc_index`)."""
        for f in self.frames:
            if f.start >= t0 and (doc_index is None or f.doc == doc_index):
                return f
        return None


class Bench:
    def __init__(self, path: Path, reps: int, steps: int, profile: bool) -> None:
        self.path = path
        self.reps = reps
        self.steps = steps
        self.force_profile = profile
        self.lines: list[str] = []

    def out(self, text: str = "") -> None:
        self.lines.append(text)

    # ---- helpers

    async def settle(self) -> None:
        await self.pilot.pause()

    def render_visible(self) -> int:
        h = self.view.size.height
        render = self.probe.render_line
        for y in range(h):
            render(y)
        return h

    async def press_timed(self, key: str, doc_index: int | None = None) -> Press:
        self.probe.reset()
        t0 = now()
        await self.pilot.press(key)
        await self.pilot.pause()
        wall = ms(now() - t0)
        f = self.probe.first_frame(t0, doc_index)
        return Press(None if f is None else ms(f.end - t0), wall, f)

    def add_frame(self, s: dict[str, Stat], prefix: str, press: Press) -> None:
        if press.frame is not None:
            s[f"{prefix}frame"].add(ms(press.frame.end - press.frame.start))
            s[f"{prefix}frame_render"].add(ms(press.frame.render_s))
            s[f"{prefix}frame_rows"].add(press.frame.rows)
            s[f"{prefix}frame_gc"].add(ms(press.frame.gc_s))

    # ---- the run

    async def run(self) -> list[str]:
        app = create_app(str(self.path))
        async with app.run_test(size=SIZE) as pilot:
            self.pilot = pilot
            t0 = now()
            while True:
                screen = app.screen
                if isinstance(screen, MainScreen) and screen.is_mounted and screen.query(PromptView) \
                        and screen.prompt.doc is not None:
                    break
                if app.screen_stack and any(isinstance(s, MainScreen) for s in app.screen_stack) \
                        and not isinstance(screen, MainScreen):
                    app.pop_screen()  # the warnings screen
                if app.error_message:
                    raise SystemExit(f"{self.path}: {app.error_message}")
                if now() - t0 > 300:
                    raise SystemExit(f"{self.path}: timed out loading")
                await pilot.pause(0.02)
            load_s = now() - t0
            await self.settle()
            self.screen: MainScreen = app.screen  # type: ignore[assignment]
            self.data = app.data
            self.view = self.screen.prompt
            self.rl = self.screen.query_one(RequestList)
            self.probe = FrameProbe(self.screen, self.view)

            rows = self.data.rows
            big = max(range(len(rows)), key=lambda k: rows[k].input_tokens)
            other = big - 1 if big > 0 else min(big + 1, len(rows) - 1)
            self.big, self.other = big, other
            self.to_big = "j" if other < big else "k"
            self.to_other = "k" if other < big else "j"
            await self.goto(big)
            doc = self.data.document(big)
            lay = self.view.layout_
            assert lay is not None
            self.out(f"trace {self.path.name}: {len(rows)} requests, loaded in {load_s:.2f} s")
            self.out(f"  largest request #{big}: {rows[big].input_tokens:,} input tokens, {doc.n_tokens:,} tokens "
                     f"in all, {len(doc.text):,} chars, {len(doc.blocks)} blocks, {len(lay):,} layout rows at "
                     f"{lay.width} cols; prompt view {self.view.size.width}x{self.view.size.height}")
            self.out()

            sel = await self.bench_selection()
            parts = self.bench_parts()
            steps = await self.bench_steps()
            full = await self.bench_full_render()
            self.report(sel, parts, steps, full)
            await self.maybe_profile(sel, steps)
        return self.lines

    # ---- 1. selection

    async def goto(self, index: int) -> None:
        self.screen.select_request(index)
        await self.settle()

    async def bench_selection(self) -> dict[str, Stat]:
        s = {k: Stat(k) for k in ("direct_cold", "direct_warm", "app_cold", "app_warm", "pilot_cold",
                                   "pilot_warm", "floor", "frame", "frame_render", "frame_rows", "frame_gc")}
        for k in ("direct_cold", "app_cold"):
            s[k].budget = PAINT_BUDGET_MS
        big, other = self.big, self.other
        if big == other:
            self.out("  (one request only: selection is not measured)")
            return s
        # direct: select_request + synchronous render of the visible rows
        for _ in range(self.reps):
            await self.goto(other)
            for cold in (True, False):
                if cold:
                    self.data._docs.clear()
                gc.collect()
                t0 = now()
                self.screen.select_request(big)
                self.render_visible()
                s["direct_cold" if cold else "direct_warm"].add(ms(now() - t0))
                assert self.view.doc is not None and self.view.doc.index == big
                await self.settle()
                await self.goto(other)
        # app: the key press on the request list
        self.rl.focus()
        await self.settle()
        for _ in range(self.reps):
            await self.goto(other)
            for cold in (True, False):
                if cold:
                    self.data._docs.clear()
                gc.collect()
                press = await self.press_timed(self.to_big, big)
                assert self.view.doc is not None and self.view.doc.index == big, "the key did not select"
                s["app_cold" if cold else "app_warm"].add(press.first_ms)
                s["pilot_cold" if cold else "pilot_warm"].add(press.wall_ms)
                self.add_frame(s, "", press)
                await self.press_timed(self.to_other, other)
            s["floor"].add((await self.press_timed("x")).wall_ms)  # unbound key: the harness floor
        return s

    def bench_parts(self) -> dict[str, Stat]:
        """Cold cost of each part of showing the big request (no event loop)."""
        s = {k: Stat(k) for k in ("document", "display_text", "layout", "block_stats", "render")}
        width = self.view._text_width()
        for _ in range(self.reps):
            self.data._docs.clear()
            t0 = now()
            doc = self.data.document(self.big)
            s["document"].add(ms(now() - t0))
            t0 = now()
            display_text(doc.text)
            s["display_text"].add(ms(now() - t0))
            t0 = now()
            doc.layout(width)
            s["layout"].add(ms(now() - t0))
            t0 = now()
            doc.block_stats  # noqa: B018 (cached_property; computed on first header draw)
            s["block_stats"].add(ms(now() - t0))
        return s

    # ---- 2. scroll steps

    async def bench_steps(self) -> dict[str, Stat]:
        names = ("pagedown", "down", "down_scroll", "G", "g")
        s = {f"{m}_{k}": Stat(f"{m}_{k}", budget=STEP_BUDGET_MS) for m in ("direct", "app") for k in names}
        for k in ("pilot_pagedown", "pilot_down", "pagedown_frame", "pagedown_frame_render", "pagedown_frame_rows",
                  "pagedown_frame_gc", "down_frame", "down_frame_render", "down_frame_rows", "down_frame_gc"):
            s[k] = Stat(k)
        await self.goto(self.big)
        view = self.view
        view.focus()
        await self.settle()
        h = view.size.height
        n_rows = view._rows()
        max_top = max(0, n_rows - h)

        # pagedown across the whole prompt (or `steps` pages of it)
        pages = min(self.steps, max(1, max_top // max(1, h - 1)))
        for mode in ("direct", "app"):
            view._set_cursor(0)
            view.scroll_to(y=0, animate=False)
            await self.settle()
            view._cache.clear()  # every page shows rows never drawn before
            for _ in range(pages):
                if mode == "direct":
                    gc.collect()
                    t0 = now()
                    view.action_page(1)
                    self.render_visible()
                    s["direct_pagedown"].add(ms(now() - t0))
                    await self.settle()
                else:
                    press = await self.press_timed("pagedown")
                    s["app_pagedown"].add(press.first_ms)
                    s["pilot_pagedown"].add(press.wall_ms)
                    self.add_frame(s, "pagedown_", press)
        self.pages = pages
        self.page_end = int(view.scroll_offset.y)

        # down: `steps` presses in 10 runs spread over the prompt, each starting with the
        # cursor a third of the way down the view (so later presses scroll the view)
        runs = 10
        per_run = max(1, self.steps // runs)
        for mode in ("direct", "app"):
            for r in range(runs):
                row = int(r * (n_rows - per_run - h) / max(1, runs - 1)) + h // 3
                view._set_cursor(max(0, row), center=True)
                await self.settle()
                view._cache.clear()  # rows scrolled into view are cold; rows still visible stay cached
                self.render_visible()
                for _ in range(per_run):
                    top = int(view.scroll_offset.y)
                    if mode == "direct":
                        gc.collect()
                        t0 = now()
                        view.action_move(1)
                        self.render_visible()
                        value = ms(now() - t0)
                        await self.settle()
                    else:
                        press = await self.press_timed("down")
                        value = press.first_ms
                        s["pilot_down"].add(press.wall_ms)
                        self.add_frame(s, "down_", press)
                    s[f"{mode}_down"].add(value)
                    if int(view.scroll_offset.y) != top:
                        s[f"{mode}_down_scroll"].add(value)

        # G and g
        for mode in ("direct", "app"):
            for _ in range(self.reps):
                for key, action in (("G", view.action_bottom), ("g", view.action_top)):
                    view._cache.clear()
                    if mode == "direct":
                        gc.collect()
                        t0 = now()
                        action()
                        self.render_visible()
                        s[f"direct_{key}"].add(ms(now() - t0))
                        await self.settle()
                    else:
                        s[f"app_{key}"].add((await self.press_timed(key)).first_ms)
                expect = 0
                assert view.cursor_row == expect, f"g did not go to the top ({view.cursor_row})"
        return s

    # ---- 3. pure render

    async def bench_full_render(self) -> dict[str, float]:
        view = self.view
        view._set_cursor(0)
        view.scroll_to(y=0, animate=False)
        await self.settle()
        assert int(view.scroll_offset.y) == 0
        n = view._rows()
        out: dict[str, float] = {"rows": n}
        for mode in ("plain", "heatmap"):
            view.heatmap = mode == "heatmap"
            await self.settle()
            best = float("inf")
            for _ in range(3):
                view._cache.clear()
                gc.collect()
                render = self.probe.render_line
                t0 = now()
                for y in range(n):
                    render(y)
                best = min(best, now() - t0)
            out[mode] = best
        view.heatmap = False
        view._cache.clear()
        view.refresh()
        await self.settle()
        return out

    # ---- report

    def report(self, sel: dict[str, Stat], parts: dict[str, Stat], steps: dict[str, Stat],
               full: dict[str, float]) -> None:
        o = self.out
        big, other = self.big, self.other
        h = self.view.size.height

        def rows_of(st: Stat) -> str:
            return f"{int(st.median)} rows" if st.values else "no rows"

        if sel["direct_cold"].values:
            o(f"  1. selection -> first paint (request #{big}, alternating with #{other}; {self.reps} reps; "
              f"key '{self.to_big}' on the request list)")
            o(f"     {'':<62}{'median':>9}{'max':>9}")
            for key, text in (
                ("direct_cold", f"direct: select_request + render {h} rows, doc cold"),
                ("direct_warm", f"direct: select_request + render {h} rows, doc warm"),
                ("app_cold", "app: key sent -> end of frame that drew the prompt, doc cold"),
                ("app_warm", "app: key sent -> end of frame that drew the prompt, doc warm"),
                ("frame", "  that frame's duration (cold and warm)"),
                ("frame_render", f"  of which PromptView.render_line ({rows_of(sel['frame_rows'])})"),
                ("frame_gc", "  of which garbage collection"),
                ("pilot_cold", "pilot: press + pause wall, doc cold"),
                ("pilot_warm", "pilot: press + pause wall, doc warm"),
                ("floor", "pilot floor: unbound key 'x', press + pause wall"),
            ):
                st = sel[key]
                flag = f"  > {st.budget:.0f} ms" if st.over() else ""
                o(f"     {text:<62}{st.median:>9.1f}{st.max:>9.1f}{flag}")
            o("     cold parts, no event loop (ms, median):  " + "  ".join(
                f"{k} {v.median:.1f}" for k, v in parts.items() if v.values))
            o()
        o(f"  2. scroll steps, prompt view focused (pagedown: {self.pages} pages from the top to row "
          f"{self.page_end:,}; down: {len(steps['direct_down'].values)} presses in 10 runs)")
        o(f"     {'':<48}{'n':>5}{'median':>9}{'p95':>9}{'max':>9}")
        for key, text in (
            ("direct_pagedown", "direct: action_page(1) + render visible"),
            ("app_pagedown", "app: 'pagedown' key -> frame"),
            ("pagedown_frame", "  that frame's duration"),
            ("pagedown_frame_render", f"  of which render_line ({rows_of(steps['pagedown_frame_rows'])})"),
            ("pagedown_frame_gc", "  of which garbage collection"),
            ("pilot_pagedown", "pilot: 'pagedown' press + pause wall"),
            ("direct_down", "direct: action_move(1) + render visible"),
            ("direct_down_scroll", "  of which the view scrolled"),
            ("app_down", "app: 'down' key -> frame"),
            ("app_down_scroll", "  of which the view scrolled"),
            ("down_frame", "  that frame's duration"),
            ("down_frame_render", f"  of which render_line ({rows_of(steps['down_frame_rows'])})"),
            ("down_frame_gc", "  of which garbage collection"),
            ("pilot_down", "pilot: 'down' press + pause wall"),
            ("direct_G", "direct: action_bottom + render visible"),
            ("app_G", "app: 'G' key -> frame"),
            ("direct_g", "direct: action_top + render visible"),
            ("app_g", "app: 'g' key -> frame"),
        ):
            st = steps[key]
            if not st.values:
                continue
            flag = f"  > {st.budget:.0f} ms" if st.over() else ""
            o(f"     {text:<48}{len(st.values):>5}{st.median:>9.2f}{st.p95:>9.2f}{st.max:>9.2f}{flag}")
        o()
        n = int(full["rows"])
        o(f"  3. render_line over the whole layout, cold strip cache ({n:,} rows, best of 3):")
        for mode in ("plain", "heatmap"):
            t = full[mode]
            o(f"     {mode:<8} {ms(t):8.1f} ms  {n / t:>10,.0f} rows/s  {1e6 * t / n:6.1f} us/row  "
              f"(= {1e3 * h * t / n:.2f} ms per {h}-row screen)")
        o()

    # ---- profiling

    async def maybe_profile(self, sel: dict[str, Stat], steps: dict[str, Stat]) -> None:
        """Profile the slowest selection path and the slowest step (relative to their budgets)."""
        groups: list[list[tuple[float, str]]] = [[], []]
        for key in ("direct_cold", "app_cold"):
            st = sel[key]
            if st.values:
                groups[0].append((st.max / PAINT_BUDGET_MS, "select"))
        for key in ("pagedown", "down", "G", "g"):
            for mode in ("direct", "app"):
                st = steps[f"{mode}_{key}"]
                if st.values:
                    groups[1].append((st.max / STEP_BUDGET_MS, key))
        for cands in groups:
            if not cands:
                continue
            ratio, which = max(cands)
            if ratio > 1.0 or self.force_profile:
                await self.profile(which, ratio)

    async def profile(self, which: str, ratio: float) -> None:
        """cProfile the synchronous part (handler + render of the visible rows) of `which`."""
        prof = cProfile.Profile()
        view = self.view
        if which == "select":
            what = f"select_request({self.big}) + render, doc cold, x{self.reps}"
            budget = PAINT_BUDGET_MS
            for _ in range(self.reps):
                await self.goto(self.other)
                self.data._docs.clear()
                prof.enable()
                self.screen.select_request(self.big)
                self.render_visible()
                prof.disable()
                await self.settle()
        else:
            budget = STEP_BUDGET_MS
            await self.goto(self.big)
            view.focus()
            action: Callable[[], None] = {"pagedown": lambda: view.action_page(1),
                                          "down": lambda: view.action_move(1),
                                          "G": view.action_bottom, "g": view.action_top}[which]
            n = 40
            what = f"'{which}' action + render visible rows, x{n}"
            for k in range(n):
                if k % 10 == 0 or which in ("G", "g"):
                    view._set_cursor(int(view._rows() * (k % 10 + k // 10 * 2) / 10) % max(1, view._rows()),
                                     center=True)
                    await self.settle()
                prof.enable()
                action()
                self.render_visible()
                prof.disable()
                await self.settle()
        title = (f"cProfile: {what} (worst measured {ratio:.2f}x the {budget:.0f} ms budget; "
                 f"top by own time, then tracetui functions by cumulative time)")
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime")
        st.print_stats(14)
        st.sort_stats("cumulative").print_stats(r"prompt_view|document|explorer|main\.py|request_list", 12)
        text = "\n".join(line for line in buf.getvalue().splitlines()
                         if line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced")))
        self.out(f"  {title}")
        for line in text.splitlines():
            self.out("    " + line)
        self.out()


def machine() -> str:
    return (f"machine: cpu_count={os.cpu_count()}, {platform.python_implementation()} "
            f"{platform.python_version()}, {platform.system()} {platform.machine()}, textual {textual.__version__}, "
            f"terminal {SIZE[0]}x{SIZE[1]} (headless run_test), load average at start "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


OPEN_DEFAULT = (Path("/tmp/tracetui-bench/chat100k-seed0.jsonl"), Path("/tmp/tracetui-bench/agent100-seed0.jsonl"))


def _analyze_cli(path: Path) -> tuple[float, float]:
    """(seconds, peak RSS GiB) of `tracetui analyze --json --no-cache` on `path`."""
    import resource
    import subprocess

    code = ("import os, resource, sys, time; from tracetui.report.cli import main; t = time.perf_counter(); "
            "fd = os.dup(1); os.dup2(os.open(os.devnull, os.O_WRONLY), 1); rc = main(sys.argv[1:]); "
            "sys.stdout.flush(); os.dup2(fd, 1); "
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, "analyze", "--json", "--no-cache", str(path)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[-2]), int(out[-1]) / 2**20


async def _open_times(path: Path) -> dict[str, float]:
    from tracetui.app.screens.loading import LoadingScreen
    from tracetui.core.pipeline import Settings

    marks: dict[str, float] = {}
    t0 = now()
    app = create_app(str(path), Settings(cache=False))
    async with app.run_test(size=SIZE) as pilot:
        while True:
            screen = app.screen
            if "list" not in marks and isinstance(screen, LoadingScreen) and screen.query(RequestList):
                marks["list"] = now() - t0
                print(f"  {path.name}: listed at {marks['list']:.2f}s", file=sys.stderr, flush=True)
            main = next((s for s in app.screen_stack if isinstance(s, MainScreen) and s.query(PromptView)), None)
            if main is not None and "interactive" not in marks:
                if main.prompt.doc is not None and not any(
                        w.group == "causes" and not w.is_finished for w in app.workers):
                    rl = main.request_list
                    top = int(rl.scroll_offset.y)
                    if all(main.data.cause(rl.shown[r]) is not None
                           for r in range(top, min(len(rl.shown), top + rl.size.height - 1))):
                        marks["interactive"] = now() - t0
                        print(f"  {path.name}: interactive at {marks['interactive']:.2f}s", file=sys.stderr,
                              flush=True)
            if main is not None and "interactive" in marks and main.data.sessions_ready:
                marks["sessions"] = now() - t0
                break
            if app.error_message:
                raise SystemExit(f"{path}: {app.error_message}")
            await asyncio.sleep(0.02)
        await pilot.press("j")  # and it answers
        await pilot.pause()
    return marks


def open_bench(traces: list[Path], analyze: bool = True) -> None:
    import resource

    print(f"{'trace':28} {'requests':>9} {'analyze':>8} {'list':>7} {'interactive':>12} {'ratio':>6} "
          f"{'sessions':>9} {'RSS analyze':>12} {'RSS app':>8}")
    for path in traces:
        t_an, rss_an = _analyze_cli(path) if analyze else (float("nan"), float("nan"))
        gc.collect()
        marks = asyncio.run(_open_times(path))
        rss_app = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        with open(path, "rb") as f:
            n = sum(1 for _ in f)
        print(f"{path.name:28} {n:>9,} {t_an:>7.2f}s {marks.get('list', float('nan')):>6.2f}s "
              f"{marks['interactive']:>11.2f}s {marks['interactive'] / t_an:>5.2f}x {marks['sessions']:>8.2f}s "
              f"{rss_an:>10.2f}Gi {rss_app:>6.2f}Gi")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("traces", nargs="*", type=Path)
    p.add_argument("--open", action="store_true", help="time opening each trace beside `tracetui analyze`")
    p.add_argument("--no-analyze", action="store_true", help="with --open: the app only (a 1 GB trace)")
    p.add_argument("--reps", type=int, default=5, help="repetitions of each selection / G / g (default 5)")
    p.add_argument("--steps", type=int, default=200, help="pagedown (max) and down presses (default 200)")
    p.add_argument("--profile", action="store_true", help="profile the slowest path even within budget")
    args = p.parse_args(argv)
    if args.open:
        print(machine())
        open_bench(args.traces or [t for t in OPEN_DEFAULT if t.exists()], not args.no_analyze)
        return 0
    traces = args.traces or [t for t in (ASTROPY, BIG_PROMPT) if t.exists()]
    if not traces:
        p.error("no trace given and no default trace found")
    print(machine())
    print(f"budgets: first paint {PAINT_BUDGET_MS:.0f} ms, scroll step {STEP_BUDGET_MS:.0f} ms; times in ms")
    print()
    for path in traces:
        lines = asyncio.run(Bench(path, args.reps, args.steps, args.profile).run())
        print("\n".join(lines))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
