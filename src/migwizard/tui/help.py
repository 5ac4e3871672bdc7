"""The help screen (F1 / ?)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# migwizard help

**What this does.** Copies your node's payment history from the KV store into
SQL, checks every payment field by field, and only after you type a
confirmation marks the SQL copy committed and tombstones the KV store.

**Until that last step nothing is irreversible.** The KV store is only read;
every chunk written to SQL can be rolled back.

## Steps
1. **Welcome** – source, target, and resume/roll back of an interrupted run.
2. **Preflight** – read-only checks; failures block, warnings need your OK.
3. **Migrate** – chunks with checkpoints; stop any time (resumable).
4. **Validate** – every payment compared; `enter` opens a payment.
5. **Commit** – type `COMMIT`; then the tombstone is written.

## Keys
| key | does |
|---|---|
| `tab` / `shift+tab` | move between fields and tables |
| `enter` | open / continue |
| `escape` | back, or cancel (migration) |
| `r` | re-run checks (preflight) |
| `f` / `/` | filter / search payments |
| `s` | show or hide secrets (payment) |
| `ctrl+p` | command palette |
| `ctrl+q` | quit (asks first during a migration) |

`ctrl+c` copies text; it does not quit.

## If something goes wrong
Don't panic and don't delete anything. Keep the report and the log file
(their paths are shown at the end and on the error screen) and hand them to
whoever helps you.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("f1", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(HELP)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)
