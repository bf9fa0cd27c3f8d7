"""The Textual app and its factory, shared by the CLI and the tests."""

from __future__ import annotations

import gc

from textual.app import App
from textual.binding import Binding

from ..core.display import display_text
from ..core.formats.loader import trace_name
from ..core.pipeline import Settings
from .colors import colors_class, downgrade_filter

DEFAULT_THEME = "textual-dark"


class TraceApp(App[int]):
    """tracetui's explorer: loads a trace in a worker, then walks it turn by turn."""

    CSS_PATH = "tracetui.tcss"
    TITLE = "tracetui"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
    ]

    def __init__(self, path: str, settings: Settings | None = None, *, theme: str = DEFAULT_THEME,
                 at_break: bool = False) -> None:
        super().__init__()
        self.path = path
        self.at_break = at_break
        # Shown in the sub-title (which a terminal may show as its window title) and on the
        # loading screen: a file name may hold escapes, so it is display text from the start.
        self.trace_name = display_text(trace_name(path))
        self.settings = settings or Settings()
        self._theme_name = theme
        self.error_message: str | None = None
        self.data = None
        # The palette follows the colour system rich detected (TEXTUAL_COLOR_SYSTEM forces one):
        # a CSS class picks the 16-colour rules, a filter shows exactly what the terminal gets.
        self.color_system = self.console.color_system
        if self.color_system is None:  # TERM=dumb: rich drops every colour, as NO_COLOR would
            self.no_color = True  # so the token classes take NO_COLOR's text styles (App:nocolor)
        self.add_class(colors_class(self.color_system), update=False)
        downgrade = downgrade_filter(self.color_system)
        if downgrade is not None:
            self._filters.append(downgrade)  # App has no public API to add a line filter

    def on_mount(self) -> None:
        # Set explicitly: TEXTUAL_THEME or a saved preference must not change what we draw.
        self.theme = self._theme_name
        self.sub_title = self.trace_name
        from .screens.loading import LoadingScreen

        self.push_screen(LoadingScreen(self.path, self.trace_name, self.settings))

    def show_main(self, data, selected: int = 0) -> None:
        from .screens.main import MainScreen
        from .screens.warnings import WarningsScreen

        self.data = data
        # The loaded trace lives as long as the app: move it out of the collector's sight so
        # that full collections (tens of ms over its objects) stop interrupting scrolling.
        gc.collect()
        gc.freeze()
        self.switch_screen(MainScreen(data, at_break=self.at_break, selected=selected))
        if data.warnings:
            self.push_screen(WarningsScreen(data.trace.name, data.warnings))

    def show_error(self, message: str) -> None:
        from .screens.error import ErrorScreen

        self.error_message = message
        self.switch_screen(ErrorScreen(message))

    def action_quit_error(self) -> None:
        self.exit(return_code=2)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


def create_app(path: str, settings: Settings | None = None, *, theme: str = DEFAULT_THEME,
               at_break: bool = False) -> TraceApp:
    """The one way to build the app: the CLI and every test go through here. `at_break`:
    open every request at its prefix break (the M key toggles it)."""
    return TraceApp(path, settings, theme=theme, at_break=at_break)
