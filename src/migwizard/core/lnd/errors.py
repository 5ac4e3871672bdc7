"""Typed errors of the lnd package (each message says what to do)."""

from __future__ import annotations


class LndError(RuntimeError):
    """Base: something about lnd's files or database forbids going on."""


class SequencerError(LndError):
    """lnd's HTLC attempt-ID sequencer cannot be read or advanced."""


class LndDirError(LndError):
    """``--lnddir`` does not lead to a usable node (missing dir, network, backend)."""


class LndConfError(LndDirError):
    """``lnd.conf`` cannot be understood (names the line)."""
