"""Fast paths for the hot loops (issue 11): KV bytes -> SQL rows, and SQL rows -> one
canonical tuple per payment for validation.

Both are shortcuts, never authorities: every shape they are not certain about goes
back to the full decoder (``FALLBACK``) or to the detailed tree diff, and
``tests/fast`` checks them differentially against the current path. Stdlib only
(plus the frozen codec's constants and the row mapping they must reproduce); no
Textual, no peewee import here.
"""

from .rows import FALLBACK, FastPayment, append_rows, decode_payment, tally

__all__ = ["FALLBACK", "FastPayment", "append_rows", "decode_payment", "tally"]
