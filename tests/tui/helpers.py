"""Helpers shared by the TUI tests."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from textual.pilot import Pilot

from migwizard.core.engine.events import ChunkCommitted


async def settle(pilot: Pilot, rounds: int = 3, timeout: float = 60.0) -> None:
    """Await every worker, then let the posted messages drain, until ``rounds`` rounds in a
    row start with no worker pending or running.

    A fixed number of rounds was not enough on a loaded CI machine: a worker started by a
    message or timer handled during the last round (the welcome screen's run probe) was
    still running when the test looked. The welcome screen's probe and markers read count as
    busy while their timer is pending or their answer has not arrived.
    """
    import asyncio

    from textual.worker import WorkerState

    app = pilot.app
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    quiet = 0
    while quiet < rounds:
        screen = app.screen
        busy = (any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)
                # the welcome screen's run probe and markers read start from timers and end in a message
                or any(getattr(screen, name, None) is not None
                       for name in ("probing", "_probe_timer", "_markers_timer")))
        await app.workers.wait_for_complete()
        await pilot.pause()
        quiet = 0 if busy else quiet + 1
        if loop.time() > end:
            raise AssertionError(f"workers still busy after {timeout:.0f} s; screen={app.screen!r}")


async def wait_for(pilot: Pilot, predicate: Callable[[], bool], timeout: float = 20.0,
                   why: Callable[[], str] | None = None) -> None:
    """Poll ``predicate`` until it holds; on timeout, fail naming the screen and ``why()``."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            detail = f"; {why()}" if why is not None else ""
            raise AssertionError(f"timed out waiting; screen={pilot.app.screen!r}{detail}")
        await pilot.pause(0.02)


def gated(factory: Callable[..., Any], gate_chunk: int):
    """Wrap an engine factory so the engine thread blocks after chunk ``gate_chunk``.

    Returns (factory, reached, release): ``reached`` is set when the engine is held,
    ``release`` lets it continue (it then sees any cancel at the next boundary).
    """
    reached, release = threading.Event(), threading.Event()

    def wrapped(kv, sql, *, on_event, **kwargs):
        def sink(event):
            on_event(event)
            if isinstance(event, ChunkCommitted) and event.chunk == gate_chunk:
                reached.set()
                release.wait(30)

        return factory(kv, sql, on_event=sink, **kwargs)

    return wrapped, reached, release


def make_fake_store_dir(root: Path) -> Path:
    """A directory that looks like an LMDB store to the welcome screen."""
    kv = root / "kv"
    kv.mkdir(exist_ok=True)
    (kv / "data.mdb").write_bytes(b"")
    return kv


FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


def fake_app(tmp_path, store, sql="sqlite:///lnd.sqlite", factory=None, kv="kv", **kw):
    """A wizard on a fake engine, a fake store dir in tmp_path and the fixed wall clock."""
    from migwizard.tui.app import MigWizardApp

    from .conftest import fixed_wall_clock
    from .fake_engine import fake_factory

    make_fake_store_dir(tmp_path)
    return MigWizardApp(kv, sql, engine_factory=factory or fake_factory(store), chunk_size=10,
                        wall_clock=fixed_wall_clock, **kw)


def stable_paths(app, real: Path, shown: str):
    """Show paths under ``real`` (a pytest temp dir) as under ``shown`` on ``app``'s screens.

    The screens print absolute report and log paths; pytest's temp dirs differ per run, the
    SVG snapshots must not. Files are still written under ``real`` only.
    """
    original = app.show_path
    root = str(Path(real).resolve())

    def show_path(path) -> str:
        text = original(path)
        return shown + text[len(root):] if text == root or text.startswith(root + "/") else text

    app.show_path = show_path
    return app


def stable_copy_paths(app, real: Path, shown: str):
    """``stable_paths`` for everything under ``real``, and an imported copy's per-source digest
    (``<name>-<12 hex>`` in the state directory) shown as ``<name>-<digest>``."""
    import re

    stable_paths(app, real, shown)
    mapped = app.show_path
    app.show_path = lambda path: re.sub(r"-[0-9a-f]{12}\b", "-<digest>", mapped(path))
    return app


def text(widget) -> str:
    return str(widget.render())


async def to_report(pilot) -> None:
    """Welcome -> preflight (acknowledge) -> migrate -> report."""
    await settle(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot)
    await pilot.press("a", "c")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def start_held_migration(pilot, reached) -> None:
    """Welcome -> preflight (acknowledge, continue) -> migrate, until the gated engine holds."""
    await settle(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot)
    await pilot.press("a", "c")
    await wait_for(pilot, reached.is_set)


async def quit_and_wait(pilot, key="ctrl+q"):
    """Press ``key`` and wait until the app has an exit code."""
    await pilot.press(key)
    await wait_for(pilot, lambda: pilot.app.return_code is not None)


def welcome_facts(screen) -> str:
    """What the welcome screen knows about its run probe: the message a probe test fails with."""
    import os

    names = ("source_kind", "target_ok", "probing", "probed", "run_state", "copy_blocked")
    facts = {n: getattr(screen, n, "?") for n in names}
    try:
        facts["probe_key"] = screen._probe_key()
        facts["fields"] = (screen._source_value(), screen._target_value())
        facts["run-state line"] = str(screen.query_one("#run-state").render())
    except Exception as exc:  # a diagnostic must not hide the failure it describes
        facts["error"] = repr(exc)
    facts["cwd"] = os.getcwd() if os.path.exists(".") else "(deleted)"
    facts["workers"] = [(w.name, w.group, w.state.name) for w in screen.app.workers]
    return ", ".join(f"{k}={v!r}" for k, v in facts.items())
