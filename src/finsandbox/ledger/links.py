"""Checking a list of entries as one hash chain: the classification `verify` and checkpoints share.

See verify.py for what each kind of problem means. Checkpoints check the chain before signing its
head, and `verify` checks the whole ledger with it, so this sits below both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from finsandbox.ledger.chain import GENESIS, hash_of, sha256_hex
from finsandbox.store.models import LedgerEntry

if TYPE_CHECKING:
    from finsandbox.ledger.checkpoints import Checkpoint


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # edited | reordered | deleted | inserted | truncated | rewritten | unsigned
    detail: str

    def __str__(self) -> str:
        return f"entry {self.seq} {self.kind}: {self.detail}"


@dataclass
class Report:
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)
    checkpoints: int = 0  # how many signed checkpoints were checked
    checkpoint: Checkpoint | None = None  # the latest one the ledger matches

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def verify_entries(entries: list[LedgerEntry], *, anchor: tuple[int, str] | None = None) -> Report:
    """Check a list of entries that should form one chain from the genesis."""
    report = Report(entries=len(entries))
    by_hash = {e.entry_hash: e.seq for e in entries}
    written_at = _positions_by_links(entries)
    if entries and entries[0].seq != 1 and entries[0].prev_hash != GENESIS:
        start = entries[0]
        gone = "entry 1" if start.seq == 2 else f"entries 1 to {start.seq - 1}"
        report.problems.append(
            Problem(start.seq, "deleted", f"{gone} at the start of the ledger are missing")
        )
        expected_seq, expected_prev = start.seq, start.prev_hash
    else:
        expected_seq, expected_prev = 1, GENESIS
    for e in entries:
        problem = _check(e, expected_seq, expected_prev, by_hash, written_at)
        if problem:
            report.problems.append(problem)
        expected_seq = e.seq + 1
        expected_prev = e.entry_hash
        report.head_seq, report.head_hash = e.seq, e.entry_hash
    if anchor is not None:
        seq, want = anchor
        found = next((e for e in entries if e.seq == seq), None)
        if found is None:
            report.problems.append(
                Problem(
                    seq, "truncated", f"the anchored entry is missing (the chain ends at {report.head_seq})"
                )
            )
        elif found.entry_hash != want:
            report.problems.append(Problem(seq, "edited", "its hash differs from the anchored hash"))
    return report


def _positions_by_links(entries: list[LedgerEntry]) -> dict[str, int]:
    """Where each entry was written, found by following prev_hash links from the chain's start.

    Sequence numbers can be rewritten; links cannot without breaking hashes, so this recovers
    the original order of a reordered chain.
    """
    if not entries:
        return {}
    successor = {e.prev_hash: e for e in entries}
    first = min(entries, key=lambda e: e.seq)
    link, pos = (GENESIS, 1) if first.seq == 1 else (first.prev_hash, first.seq)
    found: dict[str, int] = {}
    while link in successor and len(found) < len(entries):
        e = successor[link]
        if hash_of(e, seq=pos) != e.entry_hash:
            break
        found[e.entry_hash] = pos
        link, pos = e.entry_hash, pos + 1
    return found


def _check(
    e: LedgerEntry, expected_seq: int, expected_prev: str, by_hash: dict[str, int], written_at: dict[str, int]
) -> Problem | None:
    if sha256_hex(e.payload) != e.payload_digest:
        return Problem(e.seq, "edited", "its payload does not match its digest")
    if hash_of(e) != e.entry_hash:
        original = written_at.get(e.entry_hash)
        if original is not None and original != e.seq:
            return Problem(e.seq, "reordered", f"it was written as entry {original}")
        return Problem(e.seq, "edited", "its fields do not match its hash")
    if e.seq > expected_seq and e.prev_hash != expected_prev:
        gone = f"{expected_seq}" if e.seq == expected_seq + 1 else f"{expected_seq} to {e.seq - 1}"
        return Problem(e.seq, "deleted", f"entry {gone} before it is missing")
    if e.prev_hash != expected_prev:
        if e.prev_hash in by_hash and by_hash[e.prev_hash] < expected_seq - 1:
            return Problem(
                expected_seq - 1,
                "inserted",
                f"entry {e.seq} links to entry {by_hash[e.prev_hash]}, not to it",
            )
        return Problem(e.seq, "inserted", "it does not link to the entry before it")
    return None


__all__ = ["Problem", "Report", "verify_entries"]
