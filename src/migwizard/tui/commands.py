"""Command palette (ctrl+p): the wizard's own actions that are available right now.

The provider lists the enabled, described bindings declared on the active screen and
on the app — never a widget's own bindings (scrolling, cursor, focus) and no system
commands — plus help and quit.
"""

from __future__ import annotations

from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

SKIP = {"command_palette", "quit", "help"}


def own_bindings(node):
    """Bindings declared by migwizard's own classes (not Textual's Screen/App defaults like focus or copy)."""
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("migwizard"):
            continue
        for binding in cls.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding):
                yield binding


class WizardCommands(Provider):
    def _commands(self) -> list[tuple[str, str, object]]:
        app = self.app
        screen = self.screen  # the screen the palette was opened over
        seen: set[str] = set()
        out: list[tuple[str, str, object]] = []
        for node in (screen, app):
            for binding in own_bindings(node):
                if not binding.description or binding.action in seen or binding.action in SKIP:
                    continue
                try:
                    state = app._check_action_state(binding.action, node)
                except Exception:
                    state = False
                if not state:
                    continue
                seen.add(binding.action)
                out.append((binding.description, f"{binding.description} ({app.get_key_display(binding)})",
                            partial(node.run_action, binding.action)))
        out.append(("Help: keys and what each step does", "Open the help screen", app.action_help))
        out.append(("Quit migwizard", "Stops a running migration at a chunk boundary first", app.action_quit))
        return out

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
