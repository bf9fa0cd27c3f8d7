"""The footer of every screen: its keys, with ? (help) and q (quit, or back) always first.

Textual's Footer lists the focused widget's keys, then the screen's, then the app's, and
cuts what does not fit: at 80 columns that was ? and q, the two keys a new user needs.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

FIRST = ("question_mark", "q")
"""Keys shown first, in this order, whatever screen binds them."""

COMPACT_BELOW = 100
"""Narrower than this, the keys lose their padding (more of them fit)."""


class KeyFooter(Footer):
    def __init__(self) -> None:
        super().__init__(show_command_palette=False)

    def bindings_changed(self, screen) -> None:
        # Footer skips this while the terminal reports the app unfocused (a focus-out at start,
        # under tmux say), which left the first frame without a footer until the next key.
        self._bindings_ready = True
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self.recompose)

    def on_resize(self) -> None:
        self.compact = self.size.width < COMPACT_BELOW

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        shown: dict[str, tuple] = {}  # one entry per action, as Footer does
        rank: dict[str, int] = {}
        for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items():
            if not binding.show:
                continue
            shown.setdefault(binding.action, (binding, enabled, tooltip))
            first = FIRST.index(key) if key in FIRST else len(FIRST)
            rank[binding.action] = min(rank.get(binding.action, first), first)
        order = sorted(shown, key=rank.__getitem__)  # stable: the others keep Textual's order
        self.styles.grid_size_columns = len(order)
        for action in order:
            binding, enabled, tooltip = shown[action]
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                            binding.action, disabled=not enabled,
                            tooltip=tooltip).data_bind(compact=Footer.compact)
