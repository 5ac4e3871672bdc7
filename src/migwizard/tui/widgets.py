"""Small widgets shared by the screens."""

from __future__ import annotations

import importlib
from typing import Any, Iterable

import re

from rich.markup import escape
from rich.text import Text
from textual.binding import Binding
from textual.clock import MockClock
from textual.widgets import Button, Log, Tree
from textual.widgets.tree import TreeNode

from migwizard.core.engine.events import LogRecord

# Fallback explanations; the engine's own table (if it publishes one) wins.
_FALLBACK_NORMALISATIONS: dict[str, str] = {
    "utc_microseconds": "Times are stored in UTC with microsecond precision (what Postgres keeps).",
    "nil_htlc_hash": "An attempt without its own hash takes the payment's identifier, as LND does.",
    "legacy_payload": "The legacy-payload flag is dropped; SQL stores every hop as TLV.",
    "orphaned_blinded_total": "A blinded total without blinding data is cleared (LND PR #10982).",
    "empty_payment_request": "A missing payment request is stored as empty.",
    "legacy_zero_attempt_id": "Attempt id 0 was remapped above the switch sequencer horizon (LND PR #10799).",
    "unresolved_duplicate_failed": "An unresolved duplicate payment is recorded as failed.",
}


def normalisation_text(name: str) -> str:
    for mod_name in ("migwizard.core.engine.results", "migwizard.core.engine.normalisations",
                     "migwizard.core.validate", "migwizard.core.engine.validate"):
        try:
            mod = importlib.import_module(mod_name)
        except Exception:
            continue
        table = getattr(mod, "NORMALISATIONS", None)
        if isinstance(table, dict) and name in table:
            value = table[name]
            return value if isinstance(value, str) else str(getattr(value, "explanation", value))
    return _FALLBACK_NORMALISATIONS.get(name, "Expected difference between KV and SQL representations.")


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
    "utc_microseconds": "UTC µs",
    "nil_htlc_hash": "nil hash",
}


def short_normalisation(name: str) -> str:
    return SHORT_NORMALISATIONS.get(name, name.replace("_", " "))


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


def show_enter(button: Button, description: str | None = None) -> Button:
    """Show ``enter <label>`` in the footer while ``button`` has focus (a Button hides its enter key)."""
    label = description or str(button.label)
    button._bindings.key_to_bindings["enter"] = [Binding("enter", "press", label, show=True)]
    return button


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


class LogTail(Log):
    """The scrolling tail of engine log lines, prefixed by level."""

    PREFIX = {"debug": "debug", "info": "info ", "warning": "WARN ", "error": "ERROR"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_lines=500, auto_scroll=True, **kwargs)

    def add_record(self, record: LogRecord) -> None:
        self.write_line(f"{self.PREFIX.get(record.level, record.level)} {record.message}")


class DiffTree(Tree[str]):
    """A payment as a tree; nodes on a differing path are marked and highlighted."""

    COMPONENT_CLASSES = {"difftree--diff", "difftree--secret"}

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(title, **kwargs)
        self.show_root = True

    def load(self, data: dict[str, Any] | None, diff_paths: Iterable[str], *, missing: str = "(not present)") -> None:
        self.clear()
        diffs = set(diff_paths)
        diff_style = self.get_component_rich_style("difftree--diff", partial=True)
        secret_style = self.get_component_rich_style("difftree--secret", partial=True)
        if data is None:
            self.root.add_leaf(missing)
            self.root.expand()
            return

        def touched(path: str) -> bool:
            return any(d == path or d.startswith(path + ".") or d.startswith(path + "[") for d in diffs)

        def label(key: str, value: Any, path: str, leaf: bool) -> Text:
            text = Text()
            mark = touched(path)
            text.append("≠ " if mark else "  ", style=diff_style if mark else "")
            if leaf:
                text.append(f"{key}: ", style="bold")
                sval = "∅" if value is None else str(value)
                style = diff_style if path in diffs else (secret_style if sval and set(sval) == {"•"} else "")
                text.append(sval, style=style)
            else:
                n = len(value)
                text.append(f"{key}", style=diff_style if mark else "bold")
                text.append(f" ({n})" if isinstance(value, list) else "", style="dim")
            return text

        def add(node: TreeNode[str], key: str, value: Any, path: str, depth: int) -> None:
            if isinstance(value, dict):
                child = node.add(label(key, value, path, False), data=path, expand=depth < 3 or touched(path))
                for k, v in value.items():
                    add(child, str(k), v, f"{path}.{k}" if path else str(k), depth + 1)
                if not value:
                    child.allow_expand = False
            elif isinstance(value, list):
                child = node.add(label(key, value, path, False), data=path, expand=depth < 3 or touched(path))
                for i, v in enumerate(value):
                    add(child, f"[{i}]", v, f"{path}[{i}]", depth + 1)
                if not value:
                    child.allow_expand = False
            else:
                node.add_leaf(label(key, value, path, True), data=path)

        for key, value in data.items():
            add(self.root, str(key), value, str(key), 1)
        self.root.expand()
