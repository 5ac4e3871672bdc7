"""Fast paths for the hot loops (issue 11): KV bytes -> SQL rows, and SQL rows -> one
canonical tuple per payment for validation.

Both are shortcuts, never authorities: every shape they are not certain about goes
back to the full decoder (``FALLBACK``) or to the detailed tree diff, and
``tests/fast`` checks them differentially against the current path.

``rows``/``failmsg``/``timefmt`` are stdlib plus the codec's constants; ``canon``
reuses the engine's reader and tree diff for the payments that need the detailed
comparison. Nothing here imports Textual.
"""

from .rows import FALLBACK, FastPayment, append_rows, decode_payment, tally

__all__ = ["FALLBACK", "FastPayment", "append_rows", "decode_payment", "tally"]
