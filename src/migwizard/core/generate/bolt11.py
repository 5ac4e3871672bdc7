"""Realistic-looking BOLT-11 payment requests (ASCII ``lnbc...``).

Structurally real: human-readable part with the amount multiplier, a 35-bit
timestamp, tagged fields ``p`` (payment hash), ``s`` (payment secret), ``d``
(description), ``x`` (expiry), ``c`` (min final CLTV), ``9`` (features), a
65-byte signature and a valid bech32 checksum. The signature is random bytes
(no node key signs it): nothing in the payments migration verifies invoices,
it only copies the bytes.
"""

from __future__ import annotations

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_TABLE = CHARSET.encode("ascii").ljust(256, b"?")
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_TABLE = []
for _b in range(32):
    _v = 0
    for _i in range(5):
        if (_b >> _i) & 1:
            _v ^= _GEN[_i]
    _TABLE.append(_v)
_TABLE = tuple(_TABLE)


def _polymod1(values) -> int:
    chk = 1
    table = _TABLE
    for v in values:
        chk = (((chk & 0x1FFFFFF) << 5) ^ v) ^ table[chk >> 25]
    return chk


def _two_steps(chk: int) -> int:
    for _ in range(2):
        chk = ((chk & 0x1FFFFFF) << 5) ^ _TABLE[chk >> 25]
    return chk


# The checksum is GF(2)-linear, so two symbols can be folded in at once.
_TABLE2 = tuple(_two_steps(x << 20) for x in range(1024))


def _polymod(values) -> int:
    values = list(values)
    chk = 1
    if len(values) % 2:
        chk = _polymod1(values[:1])
        values = values[1:]
    t2 = _TABLE2
    it = iter(values)
    for a, b in zip(it, it):
        chk = ((chk & 0xFFFFF) << 10) ^ (a << 5) ^ b ^ t2[chk >> 20]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _to5(data: bytes) -> list[int]:
    """8-bit bytes to 5-bit groups, zero-padded at the end."""
    nbits = len(data) * 8
    n = int.from_bytes(data, "big") if data else 0
    groups = (nbits + 4) // 5
    n <<= groups * 5 - nbits
    return [(n >> (5 * (groups - 1 - i))) & 31 for i in range(groups)]


def _int5(value: int, min_len: int = 1) -> list[int]:
    out = []
    while value:
        out.append(value & 31)
        value >>= 5
    while len(out) < min_len:
        out.append(0)
    return out[::-1]


def _tag(tag: str, data5: list[int]) -> list[int]:
    n = len(data5)
    return [CHARSET.index(tag), n >> 5, n & 31] + data5


def amount_hrp(value_msat: int) -> str:
    """The amount part of the HRP (``""`` for a zero-amount invoice)."""
    if value_msat <= 0:
        return ""
    # 1 BTC = 1e11 msat. m = 1e8 msat, u = 1e5, n = 1e2, p = 0.1.
    for mult, unit in (("m", 100_000_000), ("u", 100_000), ("n", 100)):
        if value_msat % unit == 0:
            return f"{value_msat // unit}{mult}"
    return f"{value_msat * 10}p"


def encode_invoice(
    *,
    value_msat: int,
    timestamp: int,
    payment_hash: bytes,
    payment_secret: bytes | None,
    description: str,
    expiry: int,
    min_final_cltv: int,
    signature: bytes,
    network: str = "bc",
    features: int = 0x28200,  # var_onion (9), payment_secret (15), basic_mpp (17)
) -> bytes:
    hrp = "ln" + network + amount_hrp(value_msat)
    data = _int5(timestamp & ((1 << 35) - 1), 7)
    data += _tag("p", _to5(payment_hash))
    if payment_secret is not None:
        data += _tag("s", _to5(payment_secret))
    data += _tag("d", _to5(description.encode()))
    data += _tag("x", _int5(expiry))
    data += _tag("c", _int5(min_final_cltv))
    if features:
        data += _tag("9", _int5(features))
    data += _to5(signature[:65])
    pm = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return (hrp + "1").encode("ascii") + bytes(data + checksum).translate(_CHARSET_TABLE)


def verify_checksum(invoice: bytes) -> bool:
    s = invoice.decode("ascii")
    pos = s.rfind("1")
    hrp, data = s[:pos], s[pos + 1 :]
    return _polymod(_hrp_expand(hrp) + [CHARSET.index(c) for c in data]) == 1
