"""The one-sentence advice at the end of a rehearsal.

Which advice is right depends on where the failing releases stop: a release
that stops on a payment is helped by migrating with migwizard first (lnd then
finds its tracker at 14 and skips its own migration); a release that stops at
start-up after its payments step (#11037) is not, only an upgrade helps; a
payment no release can read needs the record repaired whatever anyone does.
"""

from __future__ import annotations

from .model import Failure, RehearsalReport


def short_id(identifier: str | None) -> str:
    return f"{identifier[:8]}…" if identifier else "?"


def key_in_payment(f: Failure) -> str:
    """The key path below the payment's own bucket (the hash is already named)."""
    key = f.key or ""
    if f.payment and f.payment in key:
        key = key.split(f.payment, 1)[1].lstrip("/") or "its bucket"
    return key


def where(f: Failure) -> str:
    if f.stage == "after_payments":
        return f"stop at start-up ({f.reason})"
    if f.payment is None:
        return f"stop before any payment ({f.reason})"
    return f"stop at payment {short_id(f.payment)} (sequence {f.sequence})"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def recommendation(r: RehearsalReport) -> str:
    by_name = {v.release: v for v in r.verdicts}
    newest = by_name[r.newest_release]
    n = r.counts.payments
    if newest.failure is not None:
        f = newest.failure
        if f.stage == "payments" and f.key is not None:
            return (f"No lnd release can read payment {short_id(f.payment)} (sequence {f.sequence}, key "
                    f"{key_in_payment(f)}); "
                    "lnd stays down with native SQL until that record is repaired, and migwizard refuses it too.")
        if f.stage == "payments":
            return (f"{newest.release}, the newest release, would {where(f)}: no release listed migrates this "
                    "store and migwizard refuses it too; keep lnd on its KV payments store and repair that "
                    "payment first.")
        return (f"{newest.release}, the newest release, would {where(f)}; keep lnd on its KV payments store "
                "until a release fixes it.")
    failing = [v for v in r.verdicts if v.is_release and v.failure is not None]
    if not failing:
        return (f"Every lnd release listed would migrate these {n:,} payments (about "
                f"{duration(r.estimates.lnd_seconds)} at lnd's rate); nothing to fix first.")
    worst = failing[-1]  # the newest release that still fails
    f = worst.failure
    if f.stage == "payments":
        return (f"{worst.release} would {where(f)}; upgrade to {newest.release}, "
                "or migrate with migwizard now.")
    return f"{worst.release} would {where(f)}; upgrade to {newest.release} before enabling native SQL."
