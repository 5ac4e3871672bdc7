"""The help screen (F1 / ?)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown

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

## Keys everywhere
| key | does |
|---|---|
| `F1` / `?` | this help (`esc` closes it) |
| `ctrl+q` | quit (asks first during a migration) |
| `ctrl+p` | command palette: the actions available now |
| `tab` / `shift+tab` | move between fields, tables and buttons |

`ctrl+c` copies text; it does not quit.

## Keys per screen
| screen | key | does |
|---|---|---|
| Welcome | `ctrl+n` | the start button: Start preflight, Import source, Import again, Finish the commit or Re-verify |
| Welcome | `ctrl+r` / `ctrl+b` | resume / roll back an interrupted run |
| Welcome | `enter` | lnd dir / Network: fill source and target from it; Source: to Target; Target: start |
| Preflight | `l` | open / close "What each lnd release would do" (lnd's own migration, release by release) |
| Preflight | `enter` | details of the highlighted check |
| Preflight | `a` / `c` | acknowledge the warnings / continue |
| Preflight | `r` / `esc` | re-run the checks / back to Welcome |
| Migrate | `esc` | stop: then `k` keep it resumable, `r` roll back, `esc` keep migrating |
| Migrate (stopped) | `r` / `b` | resume / roll back |
| Migrate (done) | `enter` | validate |
| Quit while migrating | `y` / `n` | stop and quit / keep migrating (`esc` too) |
| Report | `enter` | open the highlighted payment |
| Report | `f` / `/` | filter / search by hash prefix (`esc` back to the table) |
| Report | `c` / `b` | commit… / roll back… |
| Report (re-verify) | `q` / `esc` | finish / back to Welcome |
| Payment | `n` / `p` | next / previous difference |
| Payment | `s` | show or hide secrets |
| Payment | `left` / `right` | KV tree / SQL tree |
| Payment | `esc` | back to the report |
| Commit | type `COMMIT`, `enter` | commit and tombstone; `esc` back |
| Done | `enter` / `q` | finish |
| Roll back | type `ROLLBACK`, `enter` | roll back; `esc` back to where you came from; `q` quit after |
| Error | `enter` / `b` | open the payment / roll back… |
| Error | `esc` / `q` | back (failed import) / quit |
| Check details | `esc` / `enter` | close |

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
        yield Footer()

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)
