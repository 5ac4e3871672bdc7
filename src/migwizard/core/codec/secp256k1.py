"""Just enough secp256k1 to accept and reject the same keys as btcec.

The migration parses blinding points with ``btcec.ParsePubKey`` (a bad one
aborts it, and SQL stores the re-compressed form) and normalises session keys
with ``PrivKeyFromBytes(raw).Serialize()``. Pulling in a crypto library for two
checks would make the codec depend on something outside the stdlib, so these
are done by hand; nothing here is secret-handling or constant-time, and it does
not need to be: it only validates stored public data.
"""

from __future__ import annotations

from .errors import DecodeError

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8


def _on_curve(x: int, y: int) -> bool:
    return (y * y - (x * x * x + 7)) % P == 0


def parse_pubkey(raw: bytes, *, offset: int = 0) -> bytes:
    """btcec.ParsePubKey, returning the 33-byte compressed serialisation.

    Accepts 33-byte compressed (02/03), 65-byte uncompressed (04) and hybrid
    (06/07, whose prefix must match y's parity) forms; anything else raises.
    """
    raw = bytes(raw)
    if len(raw) == 33 and raw[0] in (2, 3):
        x = int.from_bytes(raw[1:], "big")
        if x >= P:
            raise DecodeError("invalid public key: x >= field prime", offset=offset, code="invalid_pubkey")
        y2 = (pow(x, 3, P) + 7) % P
        y = pow(y2, (P + 1) // 4, P)
        if y * y % P != y2:
            raise DecodeError("invalid public key: x not on curve", offset=offset, code="invalid_pubkey")
        return raw
    if len(raw) == 65 and raw[0] in (4, 6, 7):
        x = int.from_bytes(raw[1:33], "big")
        y = int.from_bytes(raw[33:], "big")
        if x >= P or y >= P:
            raise DecodeError("invalid public key: coordinate >= field prime", offset=offset, code="invalid_pubkey")
        if not _on_curve(x, y):
            raise DecodeError("invalid public key: point not on curve", offset=offset, code="invalid_pubkey")
        if raw[0] in (6, 7) and (y & 1) != (raw[0] & 1):
            raise DecodeError("invalid hybrid public key: parity mismatch", offset=offset, code="invalid_pubkey")
        return bytes([2 | (y & 1)]) + raw[1:33]
    raise DecodeError(
        f"invalid public key: length {len(raw)}, prefix {raw[:1].hex() or 'none'}", offset=offset, code="invalid_pubkey"
    )


def normalize_session_key(raw: bytes) -> bytes:
    """``btcec.PrivKeyFromBytes(raw).Serialize()``: the scalar mod N as 32 bytes."""
    # ModNScalar.SetByteSlice keeps the first 32 bytes (shorter input is
    # left-padded) and reduces mod N.
    return (int.from_bytes(bytes(raw[:32]), "big") % N).to_bytes(32, "big")


# -- point arithmetic (test-data generation: valid blinding points) -----------


def _add(p1: tuple[int, int] | None, p2: tuple[int, int] | None) -> tuple[int, int] | None:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = 3 * x1 * x1 * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def point_mul(k: int) -> tuple[int, int]:
    """k*G as affine coordinates (k in [1, N-1])."""
    k %= N
    if k == 0:
        raise ValueError("scalar must be non-zero mod N")
    result, addend = None, (GX, GY)
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    assert result is not None
    return result


def compressed(point: tuple[int, int]) -> bytes:
    x, y = point
    return bytes([2 | (y & 1)]) + x.to_bytes(32, "big")


def uncompressed(point: tuple[int, int], *, hybrid: bool = False) -> bytes:
    x, y = point
    prefix = (6 | (y & 1)) if hybrid else 4
    return bytes([prefix]) + x.to_bytes(32, "big") + y.to_bytes(32, "big")
