"""Small widgets shared by the screens."""

from __future__ import annotations

from typing import Any, Iterable

import re

from rich.markup import escape
from rich.text import Text
from textual.binding import Binding
from textual.clock import MockClock
from textual.widgets import Button, ProgressBar, RichLog, Static, Tree
from textual.widgets.tree import TreeNode

from migwizard.core.engine.events import LogRecord
from migwizard.core.engine.normalisations import NORMALISATIONS


def normalisation_text(name: str) -> str:
    """The engine's explanation of a normalisation (the drill-down shows it in full)."""
    return NORMALISATIONS.get(name, "Expected difference between KV and SQL representations.")


# Short labels for the payments table and the filter (the drill-down shows the full text).
SHORT_NORMALISATIONS: dict[str, str] = {
    "duplicate_index_entry_skipped": "dup. entry",
    "missing_payment_bucket_skipped": "no bucket",
    "legacy_payload_dropped": "legacy payload",
    "orphaned_blinded_total_dropped": "blinded total",
    "nil_hash_from_payment": "nil hash",
    "legacy_zero_attempt_id_remapped": "attempt id 0",
    "legacy_zero_attempt_terminalised": "id-0 attempt failed",
    "legacy_zero_payment_failed": "id-0 payment failed",
    "settle_and_fail_settle_wins": "settle wins",
    "failure_message_reencoded": "failure re-encoded",
    "failure_message_dropped": "failure dropped",
    "duplicate_unresolved_marked_failed": "dup. marked failed",
    "blinding_point_recompressed": "blinding point",
    "route_key_resized": "pubkey resized",
    "session_key_reduced": "session key mod N",
    "legacy_time_wrapped": "time wrapped",
    "timestamps_truncated_to_microseconds": "µs timestamps",
}


def short_normalisation(name: str) -> str:
    return SHORT_NORMALISATIONS.get(name, name.replace("_", " "))


# How the drill-down names a normalisation beside a changed value: "0 -> 6000 (legacy attempt ID remapped)".
NORMALISATION_REASONS: dict[str, str] = {
    "legacy_payload_dropped": "legacy payload flag dropped",
    "orphaned_blinded_total_dropped": "orphaned blinded total dropped",
    "nil_hash_from_payment": "nil hash: payment hash used",
    "legacy_zero_attempt_id_remapped": "legacy attempt ID remapped",
    "legacy_zero_attempt_terminalised": "legacy ID-0 attempt marked failed",
    "legacy_zero_payment_failed": "legacy ID-0 payment marked failed",
    "settle_and_fail_settle_wins": "settle wins over fail",
    "failure_message_reencoded": "failure re-encoded as LND does",
    "failure_message_dropped": "unreadable failure TLV: dropped",
    "duplicate_unresolved_marked_failed": "unresolved duplicate marked failed",
    "blinding_point_recompressed": "blinding point compressed",
    "route_key_resized": "public key resized to 33 bytes",
    "session_key_reduced": "session key reduced mod N",
    "legacy_time_wrapped": "legacy time wrapped as Go does",
    "timestamps_truncated_to_microseconds": "truncated to µs",
}


def normalisation_reason(name: str) -> str:
    return NORMALISATION_REASONS.get(name, short_normalisation(name))


def brief_value(value: Any) -> str:
    """A raw value as one short token (a whole sub-tree would not fit beside the new value)."""
    if value is None:
        return "∅"
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, list):
        return f"[{len(value)}]"
    text = str(value)
    return text if len(text) <= 18 else text[:16] + "…"


def fmt_sat(msat: int) -> str:
    """An amount in satoshis with thousands separators; sub-satoshi amounts keep 3 decimals."""
    sat, rest = divmod(int(msat), 1000)
    return f"{sat:,}" if not rest else f"{sat:,}.{rest:03d}"


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def inline_markup(text: str) -> str:
    """Plain text with `code` spans -> Rich markup (escaped; code in bold)."""
    parts = re.split(r"`([^`]+)`", text)
    return "".join(f"[b]{escape(p)}[/b]" if i % 2 else escape(p) for i, p in enumerate(parts))


# The engine's hints name CLI commands and flags; in the wizard the same thing is a key or a field.
_WIZARD_WORDING: list[tuple[str, str]] = [
    (r"\(migwizard rollback, or Roll back in the wizard\)", "(Roll back: ctrl+b on the welcome screen)"),
    (r"\(migwizard rollback with its --kv\)", "(Roll back on the welcome screen with that store as the Source)"),
    (r"run `?migwizard verify`? to re-check", "Re-verify on the welcome screen (ctrl+n) to re-check"),
    (r"`?migwizard verify`? re-checks", "Re-verify on the welcome screen (ctrl+n) re-checks"),
    (r"run `?migwizard verify`?", "Re-verify on the welcome screen (ctrl+n)"),
    (r"`?migwizard rollback`?", "Roll back (ctrl+b on the welcome screen)"),
    (r"run again with --backfill \(in the wizard: the Backfill choice on the preflight screen\)",
     "tick the Backfill choice below the checks (k)"),
    (r"--quarantine migrates", "Quarantine (u on the error screen) migrates"),
    (r"\. This needs --backfill", ". This needs the Backfill choice"),
    (r"point `?--sql`? at", "set the Target to"),
    (r"point `?--kv`? at", "set the Source to"),
    (r"`?--sql`?", "the Target field"),
    (r"`?--kv`?", "the Source field"),
    # a run record left "running" is not running while the wizard shows it: it was interrupted
    (r"\binterrupted or in progress\b", "interrupted"),
]


def wizard_wording(text: str, *, sqlite: bool = False) -> str:
    """An engine reason or hint as the wizard says it: keys and fields instead of CLI commands and
    flags, and no network advice for a SQLite file. Backticks are kept for :func:`inline_markup`."""
    if not text:
        return text
    for pattern, repl in _WIZARD_WORDING:
        text = re.sub(pattern, repl, text)
    if sqlite:
        text = text.replace("check the URL, that the server runs, and the credentials",
                            "check the file's path, that its directory exists and is writable, and that no "
                            "other program holds the file")
    return text


def plain_code(text: str) -> str:
    """Inline code without its backticks (for cells and plain labels)."""
    return re.sub(r"`([^`]+)`", r"\1", text)


def show_enter(button: Button, description: str | None = None) -> Button:
    """Show ``enter <label>`` in the footer while ``button`` has focus (a Button hides its enter key)."""
    label = description or str(button.label)
    button._bindings.key_to_bindings["enter"] = [Binding("enter", "press", label, show=True)]
    return button


class StoppableProgressBar(ProgressBar):
    """A progress bar whose ETA reads "stopped" once the work stopped (a stale countdown misleads)."""

    def compose(self):
        yield from super().compose()
        stopped = Static("stopped", classes="eta-stopped")
        stopped.display = False
        yield stopped

    def set_stopped(self, stopped: bool) -> None:
        for eta in self.query("#eta"):
            eta.display = not stopped
        self.query_one(".eta-stopped").display = stopped


class EngineClock(MockClock):
    """A clock that follows the engine's reported elapsed time.

    The ProgressBar computes its ETA from this clock, so the ETA is consistent with
    the engine's own timing and fully deterministic when the engine's clock is.
    """

    def advance_to(self, seconds: float) -> None:
        self.set_time(max(self.time, float(seconds)))

    def restart(self) -> None:
        """A new engine call: its elapsed time starts again from zero."""
        self.set_time(0.0)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--:--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def short_id(identifier: str, n: int = 16) -> str:
    return identifier if len(identifier) <= n else identifier[:n] + "…"


class LogTail(RichLog):
    """The scrolling tail of engine log lines, prefixed by level; long lines wrap (at 80
    columns an error naming a payment, key and byte offset must be readable whole)."""

    PREFIX = {"debug": "debug", "info": "info ", "warning": "WARN ", "error": "ERROR"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_lines=500, auto_scroll=True, wrap=True, markup=False, highlight=False, **kwargs)

    def write_line(self, line: str) -> None:
        self.write(Text(line))

    def add_record(self, record: LogRecord) -> None:
        self.write_line(f"{self.PREFIX.get(record.level, record.level)} {record.message}")


class DiffTree(Tree[str]):
    """A payment as a tree; nodes on a differing path are marked and highlighted."""

    COMPONENT_CLASSES = {"difftree--diff", "difftree--secret", "difftree--norm"}

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(title, **kwargs)
        self.show_root = True

    def diff_nodes(self) -> list[TreeNode[str]]:
        """The nodes of differing fields, in document order (their deepest marked node if not exact)."""
        diffs = getattr(self, "diff_paths", set())
        exact: list[TreeNode[str]] = []
        touched: list[TreeNode[str]] = []

        def walk(node: TreeNode[str]) -> None:
            for child in node.children:
                path = child.data or ""
                if path in diffs:
                    exact.append(child)
                elif not child.children and any(d.startswith(path + ".") or d.startswith(path + "[")
                                                for d in diffs if path):
                    touched.append(child)
                walk(child)

        walk(self.root)
        return exact or touched

    def jump_to_difference(self, step: int) -> bool:
        """Move the cursor to the next (step=1) or previous (step=-1) differing node: its parents
        are expanded and it is scrolled into view. False when there is none."""
        nodes = self.diff_nodes()
        if not nodes:
            return False
        current = self.cursor_node
        order = {id(n): i for i, n in enumerate(nodes)}
        if current is not None and id(current) in order:
            index = (order[id(current)] + step) % len(nodes)
        else:
            # The first difference after (or before) the cursor, by line; lines exist once expanded.
            index = 0 if step > 0 else len(nodes) - 1
            line = self.cursor_line
            if current is not None and line >= 0:
                for n in nodes:
                    self._expand_parents(n)
                self._refresh_lines_now()
                candidates = [i for i, n in enumerate(nodes) if (n.line > line if step > 0 else 0 <= n.line < line)]
                if candidates:
                    index = candidates[0] if step > 0 else candidates[-1]
        target = nodes[index]
        self._expand_parents(target)
        self._refresh_lines_now()
        self.move_cursor(target, animate=False)
        self.scroll_to_node(target, animate=False)
        return True

    @staticmethod
    def _expand_parents(node: TreeNode[str]) -> None:
        parent = node.parent
        while parent is not None:
            if not parent.is_expanded:
                parent.expand()
            parent = parent.parent

    def _refresh_lines_now(self) -> None:
        """Rebuild the line map at once (expanding nodes only marks it stale)."""
        _ = self._tree_lines  # Tree rebuilds its (invalidated) line cache on access

    def load(self, data: dict[str, Any] | None, diff_paths: Iterable[str], *, missing: str = "(not present)",
             normalised: dict[str, tuple[Any, str]] | None = None, show_raw: bool = False) -> None:
        """``normalised``: path -> (raw KV value, normalisation name) of every field LND's
        migration changes on purpose; each is marked ≈, and with ``show_raw`` (the KV pane)
        its stored value is shown beside the normalised one."""
        self.clear()
        diffs = set(diff_paths)
        self.diff_paths = diffs
        norm = dict(normalised or {})
        self.normalised_paths = set(norm)
        diff_style = self.get_component_rich_style("difftree--diff", partial=True)
        secret_style = self.get_component_rich_style("difftree--secret", partial=True)
        norm_style = self.get_component_rich_style("difftree--norm", partial=True)
        if data is None:
            self.root.add_leaf(missing)
            self.root.expand()
            return

        def touched(path: str) -> bool:
            return any(d == path or d.startswith(path + ".") or d.startswith(path + "[") for d in diffs)

        def near(path: str) -> bool:  # a normalised field at or under this node
            return any(n == path or n.startswith(path + ".") or n.startswith(path + "[") for n in norm)

        def label(key: str, value: Any, path: str, leaf: bool) -> Text:
            text = Text()
            mark = touched(path)
            normed = path in norm
            if mark:
                text.append("≠ ", style=diff_style)
            elif normed:
                text.append("≈ ", style=norm_style)
            else:
                text.append("  ")
            if leaf:
                text.append(f"{key}: ", style="bold")
                sval = "∅" if value is None else str(value)
                style = diff_style if path in diffs else (secret_style if sval and set(sval) == {"•"} else "")
                if normed and show_raw:
                    raw, name = norm[path]
                    text.append(brief_value(raw), style=norm_style)
                    text.append(" → ", style="dim")
                    text.append(sval, style=style)
                    text.append(f" ({normalisation_reason(name)})", style=norm_style)  # cut at 80 columns;
                    # the notes below list every normalised field in full
                else:
                    text.append(sval, style=style)
                    if normed:
                        text.append(f" ({normalisation_reason(norm[path][1])})", style=norm_style)
            else:
                n = len(value)
                text.append(f"{key}", style=diff_style if mark else "bold")
                text.append(f" ({n})" if isinstance(value, list) else "", style="dim")
                if normed:
                    raw, name = norm[path]
                    was = f"was {brief_value(raw)}: " if show_raw else ""
                    text.append(f" ({was}{normalisation_reason(name)})", style=norm_style)
            return text

        def add(node: TreeNode[str], key: str, value: Any, path: str, depth: int) -> None:
            if isinstance(value, dict):
                child = node.add(label(key, value, path, False), data=path,
                                 expand=depth < 3 or touched(path) or near(path))
                for k, v in value.items():
                    add(child, str(k), v, f"{path}.{k}" if path else str(k), depth + 1)
                if not value:
                    child.allow_expand = False
            elif isinstance(value, list):
                child = node.add(label(key, value, path, False), data=path,
                                 expand=depth < 3 or touched(path) or near(path))
                for i, v in enumerate(value):
                    add(child, f"[{i}]", v, f"{path}[{i}]", depth + 1)
                if not value:
                    child.allow_expand = False
            else:
                node.add_leaf(label(key, value, path, True), data=path)

        for key, value in data.items():
            add(self.root, str(key), value, str(key), 1)
        self.root.expand()
