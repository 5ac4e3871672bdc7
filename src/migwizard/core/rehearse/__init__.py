"""Rehearsal of lnd's own payments migration, release by release (issue 10, part 1).

``rehearse(source)`` reads the node's KV read-only and returns a
:class:`RehearsalReport`: per lnd release (``releases.json``) whether its
payments migration passes, on which payment it fails and with which text, or
whether lnd stops at start-up; plus counts, time, space and one sentence of
advice. ``render_text`` prints it in 76 columns.
"""

from .model import Counts, Estimates, Failure, RehearsalReport, ReleaseVerdict
from .releases import Release, ReleaseTable, ReleaseTableError, load_releases, parse_table
from .render import render_text
from .run import rehearse

__all__ = [
    "Counts",
    "Estimates",
    "Failure",
    "RehearsalReport",
    "Release",
    "ReleaseTable",
    "ReleaseTableError",
    "ReleaseVerdict",
    "load_releases",
    "parse_table",
    "rehearse",
    "render_text",
]
