"""A Merkle tree over the ledger, as in Certificate Transparency (RFC 6962 / RFC 9162).

Leaf i is entry i+1's hash (which already covers its fields and its payload's digest); leaves and
inner nodes are hashed with distinct prefixes (0x00, 0x01) so neither can pose as the other. A signed
root of the first n leaves (a checkpoint) vouches for those n entries; an inclusion proof shows one
entry is among them without revealing any other, and a consistency proof shows a later tree extends an
earlier one, so history cannot have been rewritten between two checkpoints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def leaf_hash(entry_hash: str) -> bytes:
    """The tree's leaf for a ledger entry (its hex entry hash)."""
    return hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """Every level of the tree over `leaves` (leaf hashes), so roots and proofs cost O(log n) each.

    A level's odd last node is carried up unchanged, which yields exactly RFC 6962's tree shape.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.size = len(leaves)
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])
            self.levels.append(above)

    @classmethod
    def of_entries(cls, entry_hashes: Sequence[str]) -> Tree:
        return cls([leaf_hash(h) for h in entry_hashes])

    def _subtree(self, start: int, end: int) -> bytes:
        """The root of leaves [start, end): an aligned subtree, or one on the tree's right edge."""
        level = (end - start - 1).bit_length()
        return self.levels[level][start >> level]

    def root(self, size: int | None = None) -> str:
        """The hex root of the first `size` leaves (all by default)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"the tree has {self.size} leaves, not {size}")
        if size == 0:
            return EMPTY_ROOT
        return self._root(0, size).hex()

    def _root(self, start: int, end: int) -> bytes:
        if end == self.size or (end - start) & (end - start - 1) == 0:
            return self._subtree(start, end)
        k = _split(end - start)
        return node_hash(self._root(start, start + k), self._root(start + k, end))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[str]:
        """The audit path of leaf `index` in the tree of the first `size` leaves (RFC 6962 PATH)."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        return [h.hex() for h in self._path(index, 0, size)]

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, start + k), self._root(start + k, end)]
        return [*self._path(m - k, start + k, end), self._root(start, start + k)]

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[str]:
        """The proof that the first `old_size` leaves are a prefix of the first `size` (RFC 6962 PROOF)."""
        size = self.size if size is None else size
        if not 0 < old_size <= size <= self.size:
            raise ValueError(f"no consistency proof from {old_size} to {size} leaves")
        return [h.hex() for h in self._subproof(old_size, 0, size, True)]

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self._root(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, complete), self._root(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._root(start, start + k)]


def verify_inclusion(entry_hash: str, index: int, size: int, proof: Sequence[str], root: str) -> bool:
    """Whether `proof` shows the entry is leaf `index` of the tree of `size` leaves with `root` (RFC 9162
    2.1.3.2)."""
    if not 0 <= index < size:
        return False
    try:
        path = [bytes.fromhex(p) for p in proof]
        node = leaf_hash(entry_hash)
    except ValueError:
        return False
    fn, sn = index, size - 1
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(p, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = node_hash(node, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node.hex() == root


def verify_consistency(old_size: int, old_root: str, size: int, root: str, proof: Sequence[str]) -> bool:
    """Whether `proof` shows the tree (`size`, `root`) extends the tree (`old_size`, `old_root`) (RFC 9162
    2.1.4.2)."""
    if old_size == size:
        return old_root == root and not proof
    if not 0 < old_size < size:
        return False
    try:
        path = [bytes.fromhex(p) for p in proof]
    except ValueError:
        return False
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the path's first node
        path = [bytes.fromhex(old_root), *path]
    if not path:
        return False
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr.hex() == old_root and sr.hex() == root
