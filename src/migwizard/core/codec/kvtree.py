"""A nested-dict stand-in for a KV bucket, with the interface fetch_payment reads.

``{key: bytes | dict}``: a dict value is a sub-bucket. Iteration follows bbolt
(raw byte order) so code tested against it sees keys as a real store returns
them. Useful for generators and tests; the migration itself reads real stores.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Union

KVTree = dict[bytes, Union[bytes, "KVTree"]]


class DictBucket:
    def __init__(self, tree: Mapping[bytes, object], sequence: int = 0) -> None:
        self._tree = tree
        self._sequence = sequence

    def get(self, key: bytes) -> bytes | None:
        v = self._tree.get(bytes(key))
        return bytes(v) if isinstance(v, (bytes, bytearray)) else None

    def bucket(self, key: bytes) -> "DictBucket | None":
        v = self._tree.get(bytes(key))
        return DictBucket(v) if isinstance(v, Mapping) else None

    def items(self) -> Iterator[tuple[bytes, bytes | None]]:
        for k in sorted(self._tree):
            v = self._tree[k]
            yield k, (bytes(v) if isinstance(v, (bytes, bytearray)) else None)

    def sequence(self) -> int:
        return self._sequence
