"""Child-process stand-ins for the validation pipeline tests (importable by module path)."""

from __future__ import annotations

import os
import time

from migwizard.core.fast import kvside


def die_after_first_batch(args: dict):
    """The real KV half, killed (as by the OOM killer) after its first batch."""
    gen = kvside.child(args)
    yield next(gen)
    time.sleep(0.5)  # let the queue's feeder thread send it
    os._exit(9)
