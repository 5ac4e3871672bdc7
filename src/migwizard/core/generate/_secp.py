"""Just enough secp256k1 to make valid compressed public keys deterministically.

The generator needs a small pool of node keys and blinding points that are real
curve points (LND parses blinding points with ``btcec.ParsePubKey``; SQL readers
require 33-byte vertices). Pure Python, Jacobian coordinates: one scalar
multiplication costs well under a millisecond, and the pool is computed once
per (seed, size) and cached.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8

_Jac = tuple[int, int, int]


def _jdouble(p: _Jac) -> _Jac:
    x, y, z = p
    if y == 0:
        return (0, 0, 0)
    ysq = y * y % P
    s = 4 * x * ysq % P
    m = 3 * x * x % P
    nx = (m * m - 2 * s) % P
    ny = (m * (s - nx) - 8 * ysq * ysq) % P
    nz = 2 * y * z % P
    return (nx, ny, nz)


def _jadd(p: _Jac, q: _Jac) -> _Jac:
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    x1, y1, z1 = p
    x2, y2, z2 = q
    z1s = z1 * z1 % P
    z2s = z2 * z2 % P
    u1 = x1 * z2s % P
    u2 = x2 * z1s % P
    s1 = y1 * z2s * z2 % P
    s2 = y2 * z1s * z1 % P
    if u1 == u2:
        if s1 != s2:
            return (0, 0, 0)
        return _jdouble(p)
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    h2 = h * h % P
    h3 = h * h2 % P
    u1h2 = u1 * h2 % P
    nx = (r * r - h3 - 2 * u1h2) % P
    ny = (r * (u1h2 - nx) - s1 * h3) % P
    nz = h * z1 * z2 % P
    return (nx, ny, nz)


def point_mul(k: int) -> tuple[int, int]:
    """k·G in affine coordinates (k in [1, N))."""
    if not 0 < k < N:
        raise ValueError("scalar out of range")
    result: _Jac = (0, 0, 0)
    addend: _Jac = (GX, GY, 1)
    while k:
        if k & 1:
            result = _jadd(result, addend)
        addend = _jdouble(addend)
        k >>= 1
    x, y, z = result
    zinv = pow(z, P - 2, P)
    zinv2 = zinv * zinv % P
    return (x * zinv2 % P, y * zinv2 * zinv % P)


def compress(point: tuple[int, int]) -> bytes:
    x, y = point
    return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")


def uncompressed(point: tuple[int, int]) -> bytes:
    x, y = point
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def is_valid_compressed(pub: bytes) -> bool:
    """True when ``pub`` is a 33-byte compressed encoding of a point on the curve."""
    if len(pub) != 33 or pub[0] not in (2, 3):
        return False
    x = int.from_bytes(pub[1:], "big")
    if x >= P:
        return False
    rhs = (pow(x, 3, P) + 7) % P
    y = pow(rhs, (P + 1) // 4, P)
    return y * y % P == rhs


def scalar_from(tag: bytes) -> int:
    """A deterministic valid private scalar (1 <= k < N) derived from ``tag``."""
    counter = 0
    while True:
        k = int.from_bytes(hashlib.sha256(tag + counter.to_bytes(4, "big")).digest(), "big")
        if 0 < k < N:
            return k
        counter += 1


@lru_cache(maxsize=16)
def key_pool(label: bytes, size: int) -> tuple[tuple[int, tuple[int, int]], ...]:
    """``size`` deterministic (scalar, point) pairs for ``label``."""
    out = []
    for i in range(size):
        k = scalar_from(b"migwizard-generate/" + label + b"/" + i.to_bytes(4, "big"))
        out.append((k, point_mul(k)))
    return tuple(out)
