"""Help, two pages: the keys of the screen below (from its bindings, each where it works),
and what the colours, markers and causes mean. Tab switches pages."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

SCREEN_NAMES = {"MainScreen": "the main screen", "CurvesScreen": "the curves screen", "DiffScreen": "the diff screen",
                "SessionsScreen": "the sessions screen", "ErrorScreen": "the error screen",
                "LoadingScreen": "the loading screen"}

PLACES = {"RequestList": "request list", "PromptView": "prompt view", DataTable.__name__: "table"}
"""What a focusable widget is called in the help's "where" column (others are not listed)."""

CAUSES = (
    ("new", "nothing shared: no earlier entry starts like this request (the first one, a new session)"),
    ("empty", "the request has no input tokens: nothing to reuse, nothing lost"),
    ("append", "nothing broke: the request continues its source entry"),
    ("retokenize", "the texts agree across the break; only the tokens differ"),
    ("template", "only role markers, special tokens or whitespace around them differ"),
    ("rerender", "the break lies in the previous output as it comes back in the history (a re-serialised "
                 "tool call, a dropped <think>, an output not sent back)"),
    ("reorder", "the block has the same lines or items in another order"),
    ("insert", "new text before text of the source that follows unchanged (a repo map, a summary)"),
    ("edit", "text changed inside a block (the block is named)"),
    ("evicted", "in a bounded pool (P picks the one shown): the entry sharing a longer prefix was evicted (or cut "
                "to the pool's size)"),
    ("rejected", "at the pool shown, the engine refused the request (prompt too long for its max length): hit 0"),
)


def collect_bindings(screen: Screen) -> list[tuple[str, str, str]]:
    """(where, keys, what it does) for `screen`: its own keys ("this screen"), those of its
    focusable widgets (by what they are called on screen), then the app's keys that the screen
    does not rebind ("everywhere": q quits on the main screen, goes back where q means Back)."""
    rows: list[tuple[str, str, str]] = []
    taken: set[str] = set()
    owners: list[tuple[str, object]] = [("this screen", screen)]
    # Hidden widgets (the search box until / opens it) would only add their editing keys.
    owners += [(PLACES[type(w).__name__], w) for w in screen.query("*")
               if w.can_focus and w.BINDINGS and w.display and type(w).__name__ in PLACES]
    for where, node in owners:
        for b in _bindings_of(node):
            if b.description:
                keys = [k.strip() for k in b.key.split(",")]
                if where == "this screen":
                    taken.update(keys)
                rows.append((where, ", ".join(_key_name(k) for k in keys), b.tooltip or b.description))
    for b in _bindings_of(screen.app):
        keys = [k.strip() for k in b.key.split(",") if k.strip() not in taken]
        if b.description and keys:
            rows.append(("everywhere", ", ".join(_key_name(k) for k in keys), b.tooltip or b.description))
    # One row per (where, keys): Textual lists a binding once per class it is declared on.
    seen: set[tuple[str, str]] = set()
    unique = []
    for row in rows:
        if row[:2] not in seen:
            seen.add(row[:2])
            unique.append(row)
    return unique


def _bindings_of(node) -> list[Binding]:
    out = []
    for item in node.BINDINGS:
        if isinstance(item, Binding):
            out.append(item)
        elif isinstance(item, tuple):
            out.append(Binding(*item))
    return out


_NAMES = {"question_mark": "?", "slash": "/", "colon": ":", "left_square_bracket": "[",
          "right_square_bracket": "]", "pageup": "PgUp", "pagedown": "PgDn", "escape": "Esc", "backspace": "⌫",
          "space": "Space", "enter": "Enter", "home": "Home", "end": "End", "up": "↑", "down": "↓", "left": "←",
          "right": "→", "tab": "Tab", "shift+tab": "Shift+Tab"}


def _key_name(key: str) -> str:
    key = key.strip()
    return _NAMES.get(key, key)


def keys_table(screen: Screen) -> Table:
    name = SCREEN_NAMES.get(type(screen).__name__, "this screen")
    table = Table(title=f"Keys on {name}", expand=True, show_edge=False, title_justify="left")
    table.add_column("keys", style="bold", no_wrap=True)
    table.add_column("what it does")
    table.add_column("where", style="dim", no_wrap=True)
    for where, keys, desc in collect_bindings(screen):
        table.add_row(keys, desc, where)
    if type(screen).__name__ == "MainScreen":
        table.add_row("0-9", "Go to request N (typed in the request list)", "request list")
        table.add_row("Tab, Shift+Tab", "Move focus between the request list and the prompt view", "this screen")
    return table


def colours_page(styles: dict[str, object]) -> Group:
    """What the prompt view's colours, markers and the causes mean. `styles`: the prompt
    view's style per component name (the swatches are drawn in the terminal's own palette)."""

    def swatch(text: str, name: str, pad: str = " ") -> Text:
        # A span, not the Text's own style: that would paint the whole table cell.
        return Text().append(f"{pad}{text}{pad}", style=styles.get(name, ""))

    tokens = Table(title="Token colours (prompt view)", expand=True, show_edge=False, title_justify="left",
                   show_header=False)
    tokens.add_column(no_wrap=True)
    tokens.add_column()
    tokens.add_row(swatch("prefix hit", "prefix"), "reused from the start of an earlier prompt: what a prefix "
                                                     "cache (vLLM, SGLang) serves")
    tokens.add_row(swatch("substring hit", "substring"), "beyond the prefix, but a chunk seen in an earlier prompt: "
                                                           "what a substring cache (LMCache-style) adds")
    tokens.add_row(swatch("miss", "miss"), "neither: computed again")
    tokens.add_row(swatch("evicted", "evicted"), "at a bounded pool (P): reused by the engine's unlimited pool, not "
                                                 "by this one: it was cached, and evicted before this request")
    tokens.add_row(swatch("output", "output"), "the model's answer, after the input")
    tokens.add_row("", "The colours follow the engine shown (e: study, vllm, sglang, lmcache, cacheblend) at the "
                       "pool shown (P); prefix-only engines have no substring hits. Without colour (NO_COLOR) prefix "
                       "hits are underlined, substring hits bold, misses plain, evicted struck through, output "
                       "italic.")
    # One meaning of "substring" for every figure: the colour marks what a substring cache adds,
    # but every substring figure counts all it reuses, its prefix too (issue 11).
    tokens.add_row("", "Figures (header P S C, list prefix / substr, block headers): hit tokens over input tokens. "
                       "A substring figure counts every token a substring cache reuses, the prefix included (so "
                       "S ≥ P); the substring colour marks only what it adds beyond the prefix.")

    marks = Table(title="Markers", expand=True, show_edge=False, title_justify="left", show_header=False)
    marks.add_column(no_wrap=True)
    marks.add_column()
    marks.add_row(swatch("▲ prefix hit ends here", "marker", pad=""),
                  "under the row where the prefix hit ends, ▲ at the first token after it (▼ above the row "
                  "when that token starts it); the cause follows in brackets. m jumps to it and back")
    marks.add_row(swatch("▶", "cursor", pad=""), "the prompt view's cursor")
    kinds = Text()
    for kind in ("system", "env", "tools", "history", "current", "output"):
        kinds.append("▌", style=styles.get(f"kind-{kind}", ""))
    marks.add_row(kinds, "the gutter, in the colour of each row's block: system, env, tools, history, current "
                         "turn, output (a block's header: kind, role, tokens, prefix % and substring %)")
    marks.add_row("↵  →", "a newline, a tab (every character has a cell)")
    marks.add_row(swatch("match", "match") + swatch("current", "current-match"),
                  "search matches (/), the current one; n / N walk them")
    marks.add_row(swatch("chunk", "source"), "the chunk s jumped to, where it was seen first")
    marks.add_row("█ ▓ ░", "request list bar: prefix hit, what a substring cache adds, miss")
    heat = Text()
    for level, label in enumerate(("1", "2", "3-4", "5-8", "9-16", "17+")):
        heat.append(f" {label} ", style=styles.get(f"heat-{level}", ""))
    marks.add_row(heat, "heatmap (f): in how many requests each chunk occurs, darkest = only this one")

    causes = Table(title="Causes (why the prefix broke)", expand=True, show_edge=False, title_justify="left",
                   show_header=False)
    causes.add_column(style="bold", no_wrap=True)
    causes.add_column()
    for cause, meaning in CAUSES:
        causes.add_row(cause, meaning)
    return Group(tokens, Text(), marks, Text(), causes)


def prompt_styles(app) -> dict[str, object]:
    """The main screen's prompt-view styles (the help may open over another screen)."""
    from .main import MainScreen

    main = next((s for s in app.screen_stack if isinstance(s, MainScreen)), None)
    if main is None:
        return {}
    pv = main.prompt
    return {name.removeprefix("prompt-view--"): pv.get_component_rich_style(name)
            for name in pv.COMPONENT_CLASSES}


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close"),
        Binding("tab,shift+tab", "page", "Other page", id="help.page"),
    ]

    def __init__(self, below: Screen) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        hint = Text("Tab: colours, markers and causes · Esc, q or ? closes · the mouse works too (click a row, "
                    "scroll), never required", style="dim")
        with VerticalScroll(id="help-keys", classes="help-box"):
            yield Static(keys_table(self.below))
            yield Static(hint)
        with VerticalScroll(id="help-colours", classes="help-box"):
            yield Static(colours_page(prompt_styles(self.app)))
            yield Static(Text("Tab: the keys · Esc, q or ? closes", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#help-colours").display = False

    def action_page(self) -> None:
        keys, colours = self.query_one("#help-keys"), self.query_one("#help-colours")
        keys.display, colours.display = not keys.display, keys.display
        (keys if keys.display else colours).focus()

    def action_dismiss(self) -> None:
        self.dismiss(None)
