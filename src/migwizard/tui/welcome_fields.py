"""The welcome screen's two ways to name source and target: an lnd directory, or both by hand.

The fields themselves, composed inside the screen's scroll area; the screen keeps the logic.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Input, Label, Static

__all__ = ["compose_fields"]


def compose_fields(app: Any) -> ComposeResult:
    """lnd dir and network (choice 1), source, KV table and target (choice 2), each with its message line."""
    yield Static("[b]1. Point me at your lnd directory[/b] (enter: fill source and target)", id="lnd-head")
    with Grid(id="lnd-fields", classes="fields"):
        yield Label("lnd dir", classes="field-label")
        yield Input(app.lnddir or "~/.lnd", placeholder="~/.lnd", id="lnddir", compact=True)
        yield Label("Network", classes="field-label")
        yield Input(app.network or "", placeholder="mainnet, or lnd.conf's network", id="network",
                    compact=True)
        yield Static("", id="lnddir-msg", classes="field-msg")
    yield Static("[b]2. Or name the source and target yourself[/b]", id="manual-head")
    with Grid(id="fields", classes="fields"):
        yield Label("Source", classes="field-label")
        yield Input(app.source_display or app.kv_path or "",
                    placeholder="LMDB dir, channel.db, channel.sqlite or postgresql://", id="source",
                    compact=True)
        yield Static("", id="source-msg", classes="field-msg")
        yield Label("KV table", classes="field-label", id="kv-table-label")
        yield Input(app.kv_table or "channeldb_kv", placeholder="channeldb_kv", id="kv-table", compact=True)
        yield Label("Target", classes="field-label")
        yield Input(app.sql_url_display, placeholder="sqlite:///lnd.sqlite", id="target", compact=True)
        yield Static("", id="target-msg", classes="field-msg")
