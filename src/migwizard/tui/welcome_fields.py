"""The welcome screen's two ways to name source and target: an lnd directory, or both by hand.

The fields themselves, composed inside the screen's scroll area, and the filling of source and
target from an lnd directory; the screen keeps the checks and the run state.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Input, Label, Static

from migwizard.core.engine.storefacts import resolve_node

__all__ = ["compose_fields", "fill_from_lnddir"]


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


def fill_from_lnddir(screen: Any) -> bool:
    """Fill source and target from the lnd directory (display forms only; a password stays hidden).

    False when the directory does not resolve: its message line then says why.
    """
    app = screen.wizard
    lnddir = screen.query_one("#lnddir", Input).value.strip() or "~/.lnd"
    network = screen.query_one("#network", Input).value.strip() or None
    msg = screen.query_one("#lnddir-msg", Static)
    try:
        paths = resolve_node(lnddir, network)
    except Exception as exc:  # LndDirError / LndConfError: display-safe by design
        msg.update(escape(f"✗ {exc}"))
        msg.add_class("error")
        return False
    msg.remove_class("error")
    app.lnddir, app.network = lnddir, network
    app.source_secret = paths.kv_source
    app.kv_table = None
    # lnd's files are shown as every path is (``app.show_path``); a DSN without its password.
    files = paths.backend != "postgres"
    app.source_shown = app.show_path(paths.kv_source) if files and paths.kv_source else paths.kv_display
    screen.query_one("#kv-table", Input).value = "channeldb_kv"
    if paths.target_url:
        app.sql_url = paths.target_url
        app.target_shown = (f"sqlite:///{app.show_path(paths.graph_dir / 'lnd.sqlite')}"
                            if paths.backend == "sqlite" else app.sql_url_display)
        screen.query_one("#target", Input).value = app.target_shown
    screen.query_one("#source", Input).value = app.source_shown or ""
    words = f"{paths.network}, db.backend={paths.backend}"
    notes = "".join(f"\n  ! {n}" for n in paths.notes)
    msg.update(escape(f"✓ {words}: source and target filled in below.{notes}"))
    return True
