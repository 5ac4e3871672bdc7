"""Command palette (ctrl+p): the wizard's actions that are available right now.

The provider lists every enabled, described binding of the active screen (and the
app), so the palette always matches the Footer, plus a few wizard-wide commands.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class WizardCommands(Provider):
    def _commands(self) -> list[tuple[str, str, object]]:
        app = self.app
        screen = self.screen  # the screen the palette was opened over
        seen: set[str] = set()
        out: list[tuple[str, str, object]] = []
        try:
            active = screen.active_bindings
        except Exception:
            active = {}
        for key, ab in active.items():
            binding = ab.binding
            if not ab.enabled or not binding.description or binding.action in seen:
                continue
            if binding.action in {"command_palette", "quit"}:
                continue
            seen.add(binding.action)
            out.append((binding.description, f"{binding.description} ({app.get_key_display(binding)})",
                        partial(ab.node.run_action, binding.action)))
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
