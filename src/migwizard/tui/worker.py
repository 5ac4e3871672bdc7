"""The one way a screen runs a blocking call: a thread worker that posts a typed result.

Engine calls block (SQL, LMDB, seconds to minutes), so they run on a thread
worker; the UI thread only ever sees ``StepDone`` / ``StepFailed`` messages
posted to the screen that asked, plus the engine's events, which the app routes
to that same screen. Every call gets a cancel event (the caller's, or a fresh
one) so a long step can be stopped at its next checkpoint the same way.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from textual.screen import Screen

from .messages import Call, StepDone, StepFailed

__all__ = ["EngineCall", "run_call"]

# fn(engine, cancel) -> result; engine is None when the call does not need an engine session.
EngineCall = Callable[[Any, threading.Event], Any]


def run_call(screen: Screen, step: Call, fn: EngineCall, *, group: str = "engine",
             cancel: threading.Event | None = None, open_engine: bool = True,
             description: str | None = None, failure_log: str | None = None) -> threading.Event:
    """Run ``fn(engine, cancel)`` on a thread worker and post the outcome to ``screen``.

    ``open_engine``: open (or reuse) the app's engine session first, inside the worker, so a
    slow connection never blocks the UI and its failure arrives as ``StepFailed`` too.
    ``group``: workers of one group on one screen replace each other (``exclusive``); the app
    treats a running ``"migrate"`` worker as "a migration runs" when quitting.
    ``failure_log``: how the log line for a failure starts (default: the step's name).
    Returns the cancel event passed down to ``fn``.
    """
    app = screen.app
    cancel = cancel if cancel is not None else threading.Event()
    app.event_target = screen  # engine events of this call go to the screen that started it

    def body() -> None:
        try:
            engine = app.ensure_engine() if open_engine else None
            result = fn(engine, cancel)
        except Exception as exc:  # surfaced to the user by the screen
            app.write_log("error", f"{failure_log or step}: {exc}")
            screen.post_message(StepFailed(step, exc))
            return
        screen.post_message(StepDone(step, result))

    screen.run_worker(body, thread=True, exclusive=True, group=group, exit_on_error=False,
                      description=description or f"{step} step")
    return cancel
