"""Damage one stored value of an existing store, for "corrupt store" tests.

The engine must report the payment, the KV key and the byte offset of a value
it cannot decode; this helper produces exactly such a store and returns what it
changed so a test can compare the report with the truth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from migwizard.core.codec.errors import render_key
from migwizard.core.codec.keys import PAYMENTS_ROOT_BUCKET
from migwizard.core.kv import LmdbStore


@dataclass
class CorruptionResult:
    payment_hash: bytes
    key_path: tuple[bytes, ...]  # inside the payment bucket
    key: str  # rendered like codec DecodeError.key: "payments-root-bucket/<hash>/..."
    offset: int
    mode: str
    old: bytes
    new: bytes


def corrupt_payment_value(
    kv_dir: str | os.PathLike[str],
    payment_hash: bytes,
    key: bytes | str | tuple[bytes | str, ...],
    offset: int,
    *,
    mode: str = "flip",
    value: int | None = None,
) -> CorruptionResult:
    """Change ``payments-root-bucket/<payment_hash>/<key...>`` in place.

    ``key`` is a key of the payment bucket or a path through its sub-buckets,
    e.g. ``(b"payment-htlcs-bucket", b"ai" + id.to_bytes(8, "big"))``.

    Modes: ``"flip"`` XORs the byte at ``offset`` with 0xFF (or with ``value``);
    ``"set"`` writes byte ``value`` at ``offset``; ``"truncate"`` keeps only the
    first ``offset`` bytes. Raises KeyError when the value does not exist and
    ValueError when ``offset`` is outside it.
    """
    path = (key,) if isinstance(key, (bytes, str)) else tuple(key)
    path = tuple(p.encode() if isinstance(p, str) else bytes(p) for p in path)
    if not path:
        raise ValueError("key path is empty")
    if mode not in ("flip", "set", "truncate"):
        raise ValueError(f"unknown mode {mode!r} (flip, set, truncate)")
    payment_hash = bytes(payment_hash)

    def fn(root):
        b = root.bucket(PAYMENTS_ROOT_BUCKET)
        b = b.bucket(payment_hash) if b is not None else None
        for part in path[:-1]:
            if b is None:
                break
            b = b.bucket(part)
        old = b.get(path[-1]) if b is not None else None
        if old is None:
            raise KeyError(f"no value at {render_key(PAYMENTS_ROOT_BUCKET, payment_hash, *path)}")
        if mode == "truncate":
            if not 0 <= offset < len(old):
                raise ValueError(f"truncate offset {offset} outside value of {len(old)} bytes")
            new = old[:offset]
        else:
            if not 0 <= offset < len(old):
                raise ValueError(f"offset {offset} outside value of {len(old)} bytes")
            buf = bytearray(old)
            if mode == "flip":
                buf[offset] ^= 0xFF if value is None else value
            else:
                if value is None:
                    raise ValueError("mode 'set' needs value")
                buf[offset] = value
            new = bytes(buf)
        b.put(path[-1], new)
        return old, new

    with LmdbStore.open(kv_dir) as store:
        old, new = store.update(fn)
        store.sync()
    return CorruptionResult(
        payment_hash=payment_hash,
        key_path=path,
        key=render_key(PAYMENTS_ROOT_BUCKET, payment_hash, *path),
        offset=offset,
        mode=mode,
        old=old,
        new=new,
    )
