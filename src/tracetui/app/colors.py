"""The terminal's colour system, and what the app draws in it.

The palette itself is in tracetui.tcss: truecolor and 256-colour terminals share one set
of colours (each one an exact xterm-256 colour, so that the 256-colour downgrade cannot merge
two of them), 16- and 8-colour terminals get their own rules under `App.-colors-16`, built
from the eight base ANSI colours only (an 8-colour terminal such as TERM=xterm or TERM=screen
ignores the bright ones), and NO_COLOR keeps the token classes apart by text style.

`Downgrade` makes the app's own output what the terminal will show: rich would downgrade
every colour on the way out anyway, doing it to the segments first means a screenshot (and
a snapshot test) shows the colours a 16- or 256-colour terminal really gets.
"""

from __future__ import annotations

from functools import lru_cache

from rich.color import ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter

SYSTEMS = {"truecolor": ColorSystem.TRUECOLOR, "256": ColorSystem.EIGHT_BIT,
           "standard": ColorSystem.STANDARD, "windows": ColorSystem.WINDOWS}

CLASSES = {"truecolor": "-colors-truecolor", "256": "-colors-256", "standard": "-colors-16",
           "windows": "-colors-16"}
"""The App's CSS class for each colour system rich reports (16-colour rules cover Windows' too)."""


def colors_class(color_system: str | None) -> str:
    return CLASSES.get(color_system or "standard", "-colors-16")


class Downgrade(LineFilter):
    """Bring every colour down to the terminal's colour system, as rich will on output."""

    def __init__(self, system: ColorSystem) -> None:
        super().__init__()
        self.system = system

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        system = self.system
        return [Segment(text, _downgrade(style, system) if style is not None else None, control)
                for text, style, control in segments]


@lru_cache(4096)
def _downgrade(style: Style, system: ColorSystem) -> Style:
    color, bgcolor = style.color, style.bgcolor
    new_color = color.downgrade(system) if color is not None else None
    new_bg = bgcolor.downgrade(system) if bgcolor is not None else None
    if new_color is color and new_bg is bgcolor:
        return style
    return style + Style(color=new_color, bgcolor=new_bg)


def downgrade_filter(color_system: str | None) -> Downgrade | None:
    """The filter for a colour system below truecolor (None: nothing to do)."""
    system = SYSTEMS.get(color_system or "")
    if system is None or system == ColorSystem.TRUECOLOR:
        return None
    return Downgrade(system)
