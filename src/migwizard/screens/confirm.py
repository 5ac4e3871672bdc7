"""Modal confirmations with typed results (posting/frogmouth style)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Static


class QuitDuringMigration(ModalScreen[bool]):
    """Quit while migrating or validating: stop at the next boundary (resumable) or carry on."""

    BINDINGS = [
        Binding("escape", "keep", "Keep going"),
        Binding("y", "stop", "Stop and quit"),
        Binding("n", "keep", "Keep going", show=False),
    ]

    def __init__(self, what: str = "migration") -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        validating = self.what == "validation"
        with Vertical(classes="dialog"):
            yield Static(f"Quit while the {self.what} runs?", classes="dialog-title")
            yield Static(
                ("The validation stops after the batch it is comparing (within about a second). The "
                 "migrated chunks stay in the target, nothing is committed as final, and the KV store is "
                 "untouched. Run migwizard again to validate and commit.") if validating else
                ("The migration stops at the next chunk boundary. Every committed chunk stays "
                 "in place with its checkpoint, nothing is committed as final, and the KV store "
                 "is untouched. Run migwizard again to resume."),
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Stop and quit (y)", id="stop", variant="warning", compact=True)
                yield Button(f"Keep {'validating' if validating else 'migrating'} (n)", id="keep",
                             variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    @on(Button.Pressed, "#stop")
    def action_stop(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#keep")
    def action_keep(self) -> None:
        self.dismiss(False)


class CancelMigration(ModalScreen[str | None]):
    """Stop: "resume" (stop, keep it resumable), "rollback" (stop, then roll back) or None.

    ``what="validation"``: the same choice while validating; it stops after the batch
    being compared (a second at most), and nothing of the migration is lost.
    """

    BINDINGS = [
        Binding("escape", "keep", "Continue"),
        Binding("k", "stop_keep", "Stop, keep resumable"),
        Binding("r", "stop_rollback", "Stop and roll back"),
    ]

    def __init__(self, what: str = "migration") -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        if self.what == "validation":
            body = ("It stops after the batch it is comparing (within about a second). The migration "
                    "is not touched: every chunk stays in the target.\n"
                    "[b]k[/b]  Stop and keep the run: validate again later, then commit.\n"
                    "[b]r[/b]  Stop and roll back: then confirm removing everything this run wrote.\n"
                    "The KV store is untouched either way.")
        else:
            body = ("It stops at the next chunk boundary: the chunk in progress is finished and kept, "
                    "not rolled back (only killing the process would roll that one chunk back).\n"
                    "[b]k[/b]  Stop and keep it resumable: committed chunks stay, run it again later.\n"
                    "[b]r[/b]  Stop and roll back: then confirm removing everything this run wrote.\n"
                    "The KV store is untouched either way.")
        with Vertical(classes="dialog"):
            yield Static(f"Stop the {self.what}?", classes="dialog-title")
            yield Static(body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Keep resumable (k)" if self.what != "validation" else "Keep run (k)",
                             id="stop-keep", compact=True)
                yield Button("Roll back (r)", id="stop-rollback", variant="warning", compact=True)
                yield Button("Continue (esc)", id="keep", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    @on(Button.Pressed, "#stop-keep")
    def action_stop_keep(self) -> None:
        self.dismiss("resume")

    @on(Button.Pressed, "#stop-rollback")
    def action_stop_rollback(self) -> None:
        self.dismiss("rollback")

    @on(Button.Pressed, "#keep")
    def action_keep(self) -> None:
        self.dismiss(None)


class CancelValidation(CancelMigration):
    """The migration's stop dialog for the validation (its footer in the validation's words)."""

    BINDINGS = [
        Binding("escape", "keep", "Continue"),
        Binding("k", "stop_keep", "Stop, keep the run"),
        Binding("r", "stop_rollback", "Stop and roll back"),
    ]

    def __init__(self) -> None:
        super().__init__("validation")


class CheckDetail(ModalScreen[None]):
    """Everything one preflight check knows."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("enter", "close", "Close", show=False)]

    def __init__(self, check: Any) -> None:
        super().__init__()
        self.check = check

    def compose(self) -> ComposeResult:
        from rich.markup import escape

        from migwizard.tui.widgets import inline_markup

        c = self.check
        adapt = getattr(self.app, "adapt_hint", lambda t: t)
        lines = [f"[b]Status[/b]  {c.status.value.upper()}", f"[b]Result[/b]  {inline_markup(adapt(c.reason))}"]
        if c.hint:
            lines.append(f"[b]Fix[/b]     {inline_markup(adapt(c.hint))}")
        for key, value in (c.details or {}).items():
            if value is None or value == "":
                continue  # "version None" says nothing a node runner can use
            lines.append(f"[b]{escape(str(key))}[/b]  {escape(str(value))}")
        lines.append(f"[dim]check id: {escape(c.id)}[/dim]")
        with Vertical(classes="dialog"):
            yield Static(c.title, classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static("\n".join(lines), classes="dialog-body", markup=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (esc)", id="close", variant="primary", compact=True)
        yield Footer()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)


class TypedConfirm(Vertical):
    """An inline typed confirmation: the action is enabled only when ``word`` is typed."""

    def __init__(self, word: str, prompt: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.word = word
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        yield Static(self.prompt, classes="confirm-prompt")
        yield Input(placeholder=f"type {self.word}", id="confirm-input", compact=True)

    @property
    def confirmed(self) -> bool:
        return self.query_one("#confirm-input", Input).value.strip() == self.word
