"""The palette in every colour system: truecolor, 256, 16 (and 8) colours, NO_COLOR.

Unit checks on the styles the running app resolves (after the downgrade to the terminal's
colour system), then one SVG snapshot per colour system of the token classes and of the
heatmap (snapshots/test_app_colors/). The screenshot shows the downgraded colours: the app
applies the terminal's colour system to its own output (tracetui.app.colors.Downgrade).
"""

from __future__ import annotations

import pytest
from rich.color import ColorSystem, ColorType
from textual.color import Color

from tracetui.app.app import create_app
from tracetui.app.colors import SYSTEMS, _downgrade
from tracetui.app.widgets.prompt_view import HEAT_LABELS

from .conftest import after_load, color_system, main_screen, ready
from .paths import OPENCODE

pytestmark = pytest.mark.usefixtures("frozen_terminal_size")

SIZE = (100, 32)
CLASSES = ("prefix", "substring", "miss", "evicted")
HEAT = tuple(f"heat-{level}" for level in range(len(HEAT_LABELS)))
AT_THE_BREAK = ["j"] * 6 + ["tab", "G", "B", "B", "B"]
"""opencode_like.jsonl request 6, the rows around its break: prefix, substring and miss tokens."""


async def _styles(system: str | None, monkeypatch, *, no_color: bool = False) -> tuple[dict, str | None]:
    """The prompt view's style for each token class and heat step, as the terminal gets it."""
    if system is not None:
        color_system(monkeypatch, system)
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = create_app(str(OPENCODE))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        pv = main_screen(app).prompt
        out = {}
        for name in CLASSES + HEAT:
            style = pv.get_component_rich_style(f"prompt-view--{name}")
            if app.color_system in SYSTEMS:
                style = _downgrade(style, SYSTEMS[app.color_system])
            out[name] = style
        return out, app.color_system


def _luminance(color) -> float:
    r, g, b = color.get_truecolor()
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("system", ["truecolor", "256"])
async def test_truecolor_and_256_keep_classes_apart_and_heat_in_order(system, monkeypatch):
    styles, got = await _styles(system, monkeypatch)
    assert got == system
    kind = ColorType.TRUECOLOR if system == "truecolor" else ColorType.EIGHT_BIT
    backgrounds = [styles[n].bgcolor for n in CLASSES]
    assert all(c.type == kind for c in backgrounds)
    assert len({c.get_truecolor() for c in backgrounds}) == len(CLASSES)
    heat = [_luminance(styles[n].bgcolor) for n in HEAT]
    assert heat == sorted(heat) and len(set(heat)) == len(HEAT), heat  # each step brighter


async def test_16_colours_use_the_8_base_colours_only(monkeypatch):
    """TERM=xterm / TERM=screen: rich emits 16 colours, but terminfo says 8 (the bright ones may
    not show): classes and heat steps each get their own base colour (0-7), never bright black."""
    styles, got = await _styles("standard", monkeypatch)
    assert got == "standard"
    for names in (CLASSES, HEAT):
        numbers = [styles[n].bgcolor.number for n in names]
        assert all(styles[n].bgcolor.type == ColorType.STANDARD for n in names)
        assert all(0 < k < 8 for k in numbers), numbers  # not black (the screen), not bright
        assert len(set(numbers)) == len(names), numbers
    # In order of luminance: blue, magenta, brown, green, cyan, white (each step brighter).
    numbers = [styles[n].bgcolor.number for n in HEAT]
    assert numbers == [4, 5, 3, 2, 6, 7]
    vga = {2: (0, 0xAA, 0), 3: (0xAA, 0x55, 0), 4: (0, 0, 0xAA), 5: (0xAA, 0, 0xAA), 6: (0, 0xAA, 0xAA),
           7: (0xAA, 0xAA, 0xAA)}  # the base colours as terminals draw them

    def relative(rgb):  # WCAG relative luminance
        lin = [(c / 255 / 12.92) if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    lum = [relative(vga[k]) for k in numbers]
    assert lum == sorted(lum), lum


async def test_no_color_classes_differ_by_text_style_and_heat_greys_ascend(monkeypatch):
    styles, _ = await _styles(None, monkeypatch, no_color=True)
    marks = [(s.bold, s.underline, s.italic, s.strike, s.reverse) for s in (styles[n] for n in CLASSES)]
    assert len(set(marks)) == len(CLASSES), marks
    # Textual's NO_COLOR filter turns each colour into the grey of its luminance.
    greys = [Color.from_rich_color(styles[n].bgcolor).monochrome.r for n in HEAT]
    assert greys == sorted(greys) and len(set(greys)) == len(HEAT), greys


def test_the_downgrade_reaches_the_terminal_colour_exactly():
    """A 16-colour palette entry comes back as its ANSI number (no theme round trip)."""
    from rich.style import Style

    assert _downgrade(Style(bgcolor="#00aa00"), ColorSystem.STANDARD).bgcolor.number == 2
    assert _downgrade(Style(bgcolor="#005f87"), ColorSystem.EIGHT_BIT).bgcolor.number == 24


# ---- snapshots

SNAPSHOT_SYSTEMS = {"truecolor": ("truecolor", False), "256": ("256", False), "16": ("standard", False),
                    "no_color": ("truecolor", True)}


@pytest.mark.parametrize("name", list(SNAPSHOT_SYSTEMS))
def test_token_classes(snap_compare, monkeypatch, name):
    """opencode_like.jsonl request 6 around its break (as test_prefix_break_marker in
    test_app_snapshots.py), in each colour system.

    Above the marker "▲ prefix hit ends here (rerender)" the prefix-hit text, after it the
    misses, with substring-hit runs in the CURRENT tool block below; the legend's swatches are
    the same styles. truecolor / 256: dark green, blue, red backgrounds (identical in both: exact
    xterm-256 colours). 16: ANSI green (black text), blue, red. no_color: greys, prefix hits
    underlined, substring hits bold, misses plain, output italic.
    """
    system, no_color = SNAPSHOT_SYSTEMS[name]
    color_system(monkeypatch, system)
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE, run_before=after_load(*AT_THE_BREAK))


@pytest.mark.parametrize("name", list(SNAPSHOT_SYSTEMS))
def test_heatmap_steps(snap_compare, monkeypatch, name):
    """As test_token_classes, then `f`: the heatmap, the legend's scale "chunk in N requests: 1 2
    3-4 5-8 9-16 17+". truecolor / 256: purple, blue, teal, green, yellow-green, yellow (each
    brighter than the last, black text on the bright three). 16: blue, magenta, brown, green,
    cyan, white (in order of luminance). no_color: six greys from dark to light.
    """
    system, no_color = SNAPSHOT_SYSTEMS[name]
    color_system(monkeypatch, system)
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(create_app(str(OPENCODE)), terminal_size=SIZE,
                        run_before=after_load(*AT_THE_BREAK, "f"))


# ---- charts without colour

def test_each_chart_series_has_its_own_marker_without_colour():
    """NO_COLOR or a pipe: the two curves differ by glyph (half blocks vs dots), not only by colour."""
    from tracetui.report import charts
    from tracetui.core.pipeline import Settings, load

    a = load(str(OPENCODE), Settings()).analysis
    half_blocks = set("▖▗▘▙▚▛▜▝▞▟▀▄▌▐█")
    for chart in (charts.hit_rate_chart(a, width=80, height=14, color=False),
                  charts.per_request_chart(a, width=80, height=14, cursor=3, color=False),
                  charts.cumulative_chart(a, width=80, height=14, color=False)):
        assert "\x1b[" not in chart
        legend = [line for line in chart.splitlines() if "prefix" in line or "substring" in line]
        assert any("▞▞ prefix" in line for line in legend) and any("•• substring" in line for line in legend)
        canvas = chart.split("substring", 1)[1]
        assert "•" in canvas and half_blocks & set(canvas)


def test_a_terminal_without_colour_gets_the_no_color_styles(monkeypatch):
    """TERM=dumb: rich sends no colour at all, so the classes need NO_COLOR's text styles."""
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.delenv("COLORTERM", raising=False)
    color_system(monkeypatch, "auto")
    app = create_app(str(OPENCODE))
    assert app.color_system is None and app.no_color
