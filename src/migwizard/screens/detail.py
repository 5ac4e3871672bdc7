"""Step 5: one payment, KV and SQL side by side."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Static

from migwizard.core.engine.results import NormalisedField, PaymentDetail
from migwizard.tui.messages import Call, StepDone, StepFailed
from migwizard.tui.widgets import DiffTree, brief_value, normalisation_reason, normalisation_text, short_id

from .base import WizardScreen


class PaymentDetailScreen(WizardScreen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("s", "toggle_secrets('show')", "Show secrets", id="secrets"),
        Binding("s", "toggle_secrets('hide')", "Hide secrets", id="secrets-hide"),
        Binding("n", "difference(1)", "Next diff", id="next-diff", tooltip="n / p: next / previous difference"),
        Binding("p", "difference(-1)", "Previous difference", id="prev-diff", show=False),
        # Priority: the focused tree would otherwise take left/right to scroll sideways.
        Binding("left", "focus_kv", "KV", show=False, priority=True),
        Binding("right", "focus_sql", "SQL", show=False, priority=True),
    ]

    def __init__(self, identifier: str, *, detail: PaymentDetail | None = None, offline: bool = False,
                 back_to_error: bool = False) -> None:
        super().__init__()
        self.identifier = identifier
        self.detail = detail
        self.offline = offline
        self.show_secrets = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        with Vertical(id="detail"):
            yield Static(f"Payment {short_id(self.identifier, 32)}", id="pd-title")
            with Horizontal(id="pd-trees"):
                with Vertical(classes="pd-side"):
                    yield Label("KV (source, read-only)", classes="pd-label", id="pd-kv-label")
                    yield DiffTree("kv", id="kv")
                with Vertical(classes="pd-side"):
                    yield Label("SQL (target)", classes="pd-label")
                    yield DiffTree("sql", id="sql")
            with VerticalScroll(id="pd-notes-box"):
                yield Static("", id="pd-notes")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        if self.detail is not None:
            self._show_detail()
        elif self.offline:
            self.query_one("#pd-notes", Static).update(
                "This payment matched field by field; saved reports keep full trees only for payments "
                "with differences. Open the store in the wizard to see it.")
            self.query_one("#kv", DiffTree).load(None, (), missing="(not stored in the report)")
            self.query_one("#sql", DiffTree).load(None, (), missing="(not stored in the report)")
        else:
            self._fetch()

    def _fetch(self) -> None:
        ident, secrets = self.identifier, self.show_secrets
        self.query_one("#pd-notes", Static).update("Loading…")
        self.start_step(Call.DETAIL, lambda engine, _cancel: engine.payment_detail(ident, show_secrets=secrets))

    @on(StepDone)
    def _done(self, message: StepDone) -> None:
        message.stop()
        self.detail = message.result
        self._show_detail()

    @on(StepFailed)
    def _failed(self, message: StepFailed) -> None:
        message.stop()
        hint = f"\nFix: {message.hint}" if message.hint else ""
        notes = self.query_one("#pd-notes", Static)
        notes.update(f"✗ Cannot load this payment: {message.error}{hint}")
        notes.add_class("error")

    def _show_detail(self) -> None:
        d = self.detail
        assert d is not None
        paths = [x.path for x in d.differences]
        normalised = {n.path: (n.raw, n.name) for n in self._normalised(d)}
        self.query_one("#kv", DiffTree).load(d.kv, paths, missing="(missing or unreadable in KV)",
                                             normalised=normalised, show_raw=True)
        self.query_one("#sql", DiffTree).load(d.sql, paths, missing="(not in SQL: not migrated)",
                                              normalised=normalised)
        self.query_one("#pd-kv-label", Label).update(
            "KV, read-only: stored → normalised" if normalised else "KV (source, read-only)")
        status = ""
        if isinstance(d.kv, dict):
            status = str((d.kv.get("payment") or {}).get("status", "")) if isinstance(d.kv.get("payment"), dict) \
                else str(d.kv.get("status", ""))
        n = len(d.differences)
        title = f"Payment {short_id(d.identifier, 32)}  {status}  ·  "
        if d.kv_error:
            title += "✗ KV record does not decode"
        elif n:
            title += f"≠ {n} difference{'s' if n != 1 else ''}"
        elif d.sql is None:
            title += "not in SQL"
        elif normalised:
            title += f"✓ match after {len(normalised)} normalised field{'s' if len(normalised) != 1 else ''} (≈)"
        else:
            title += "✓ KV and SQL match"
        title += "  ·  secrets shown" if self.show_secrets else ("  ·  secrets masked" if self.offline else "  ·  secrets masked (s)")
        self.query_one("#pd-title", Static).update(title)
        lines = []
        if d.kv_error:
            lines.append(f"[b]✗ The KV record does not decode:[/b] {escape(d.kv_error)}")
        if d.sql is None:
            lines.append("[b]Not in SQL:[/b] this payment was not migrated (the run stopped before it, "
                         "or it was rolled back).")
        for x in d.differences:
            lines.append(f"[b]≠ {escape(x.path)}[/b]  KV {escape(repr(x.kv))} → SQL {escape(repr(x.sql))}")
        # Every normalised field in full (the tree's columns are narrow at 80): stored -> expected.
        for n in self._normalised(d):
            lines.append(f"≈ {escape(n.path)}: {escape(brief_value(n.raw))} → {escape(brief_value(n.value))} "
                         f"({escape(normalisation_reason(n.name))})")
        if d.normalisations:
            lines.append("[b]Normalised (expected to differ):[/b]")
            for name in d.normalisations:
                lines.append(f" • {escape(name)}: {escape(normalisation_text(name))}")
        notes = self.query_one("#pd-notes", Static)
        notes.set_class(bool(d.kv_error), "error")
        notes.update("\n".join(lines) if lines else "No differences and no normalisations.")
        self.refresh_bindings()
        self.query_one("#kv", DiffTree).focus()

    @staticmethod
    def _normalised(d: PaymentDetail) -> list:
        """The normalised fields (a saved report stores them as plain dicts)."""
        out = []
        for n in getattr(d, "normalised", None) or []:
            out.append(NormalisedField(**n) if isinstance(n, dict) else n)
        return out

    @on(DiffTree.NodeExpanded)
    @on(DiffTree.NodeCollapsed)
    def _expand_together(self, event) -> None:
        """Both trees show the same part of the payment: expanding one expands the other."""
        source = event.node.tree
        other = self.query_one("#sql" if source.id == "kv" else "#kv", DiffTree)
        path = event.node.data
        if path is None:
            return
        twin = _find_node(other.root, path)
        if twin is None:
            return
        expanded = isinstance(event, DiffTree.NodeExpanded)
        if expanded and not twin.is_expanded:
            twin.expand()
        elif not expanded and twin.is_expanded:
            twin.collapse()

    def action_difference(self, step: int) -> None:
        """Jump to the next/previous differing field in the focused tree (KV unless SQL has focus)."""
        tree = self.focused if isinstance(self.focused, DiffTree) else self.query_one("#kv", DiffTree)
        if not tree.jump_to_difference(step):
            other = self.query_one("#sql" if tree.id == "kv" else "#kv", DiffTree)
            if not other.jump_to_difference(step):
                return
            tree = other
        tree.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "difference":
            return bool(self.detail is not None and self.detail.differences)
        if action == "toggle_secrets":
            if self.offline:
                return False
            if parameters:  # the footer shows "Show secrets" or "Hide secrets", whichever applies
                return (parameters[0] == "hide") == self.show_secrets
        return True

    def action_toggle_secrets(self, which: str = "") -> None:
        if self.offline:
            return
        self.show_secrets = not self.show_secrets
        self._fetch()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_focus_kv(self) -> None:
        self.query_one("#kv", DiffTree).focus()

    def action_focus_sql(self) -> None:
        self.query_one("#sql", DiffTree).focus()


def _find_node(node, path: str):
    """The node whose data is ``path`` under ``node`` (depth first)."""
    for child in node.children:
        if child.data == path:
            return child
        if path.startswith(str(child.data)):
            found = _find_node(child, path)
            if found is not None:
                return found
    return None
