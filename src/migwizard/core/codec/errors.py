"""The one exception type the codec raises.

Every rejection names what a node runner needs to find the bad bytes with a hex
editor or `migwizard inspect`: the payment, the KV key path and the byte offset
inside the value. Nothing else may escape the codec (no struct.error, IndexError,
UnicodeError ...): callers rely on catching exactly this.
"""

from __future__ import annotations


class DecodeError(Exception):
    """A KV value that LND's reader would reject (or that we reject deliberately).

    ``offset`` is the byte offset inside the value being decoded where the problem
    was found. ``key`` is the KV key path (bucket names and key joined by '/',
    non-printable keys in hex); ``payment`` is the 32-byte payment identifier when
    known. The codec fills ``offset`` and ``reason``; callers that know more
    (payment, key) use :meth:`with_context` while the error propagates.
    """

    def __init__(
        self,
        reason: str,
        *,
        offset: int = 0,
        payment: bytes | None = None,
        key: str | None = None,
        code: str = "decode",
    ) -> None:
        self.reason = reason
        self.offset = offset
        self.payment = payment
        self.key = key
        self.code = code
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.payment is not None:
            parts.append(f"payment {self.payment.hex()}")
        if self.key is not None:
            parts.append(f"key {self.key}")
        parts.append(f"byte offset {self.offset}")
        return f"{self.reason} ({', '.join(parts)})"

    def with_context(self, *, payment: bytes | None = None, key: str | None = None, base_offset: int = 0) -> "DecodeError":
        """Return the same error enriched with where it happened (never loses detail)."""
        err = DecodeError(
            self.reason,
            offset=self.offset + base_offset,
            payment=self.payment if self.payment is not None else payment,
            key=self.key if self.key is not None else key,
            code=self.code,
        )
        return err

    def __reduce__(self):  # picklable across threads/processes
        return (_rebuild, (self.reason, self.offset, self.payment, self.key, self.code))


def _rebuild(reason, offset, payment, key, code):
    return DecodeError(reason, offset=offset, payment=payment, key=key, code=code)


def render_key(*parts: bytes | str) -> str:
    """Render a KV key path: printable ASCII names as text, anything else as hex."""
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        elif p and all(0x21 <= b < 0x7F for b in p):
            out.append(p.decode("ascii"))
        elif len(p) == 10 and all(0x61 <= b <= 0x7A for b in p[:2]):
            # HTLC keys: 2-letter prefix (ai/si/fi) + u64 attempt id
            out.append(p[:2].decode("ascii") + p[2:].hex())
        else:
            out.append(p.hex())
    return "/".join(out)
