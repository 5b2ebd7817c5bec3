"""Recomputing the chain and naming the first entry that does not fit.

Classification, checked in this order for each entry in sequence order:
  edited     its payload does not match its digest, or its fields do not match its hash;
  reordered  its hash is valid only at another position (the one after the entry it links to);
  deleted    its hash is valid but the sequence jumps over numbers;
  inserted   its hash is valid but it links to an entry other than the one before it.
The chain must start at entry 1 (linking to the genesis): deleting the oldest entries is named.
Deleting the newest entries, or recomputing every hash after an edit, leaves a chain that is valid on
its own: only something kept outside the database reveals it. `verify` takes signed checkpoints (see
checkpoints.py), naming each one the ledger no longer reaches (truncated) or matches (rewritten), and
an anchor (SEQ:HASH noted earlier).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox.ledger.links import Problem as Problem
from finsandbox.ledger.links import Report as Report
from finsandbox.ledger.links import verify_entries as verify_entries
from finsandbox.store.models import LedgerEntry

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from finsandbox.ledger.checkpoints import Checkpoint


def verify(
    session: Session,
    *,
    anchor: tuple[int, str] | None = None,
    checkpoints: Sequence[Checkpoint] = (),
    public_key: Ed25519PublicKey | None = None,
) -> Report:
    """Verify the whole ledger in sequence order, and against each signed checkpoint given (their
    signatures checked with `public_key`; one that does not verify is a problem, never trusted)."""
    from finsandbox.ledger.checkpoints import key_id, mismatches
    from finsandbox.ledger.merkle import Tree

    entries = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))
    report = verify_entries(entries, anchor=anchor)
    if not checkpoints:
        return report
    trusted = []
    for cp in checkpoints:
        if public_key is not None and not cp.verifies(public_key):
            report.problems.append(
                Problem(
                    cp.size,
                    "unsigned",
                    f"the {cp.label} is not signed by the programme's key {key_id(public_key)}",
                )
            )
        else:
            trusted.append(cp)
    hashes = [e.entry_hash for e in entries]
    tree = Tree.of_entries(hashes)
    bad = mismatches(tree, hashes, trusted)
    for kind, detail in bad:
        report.problems.append(Problem(min(len(hashes), max(c.size for c in trusted)), kind, detail))
    report.checkpoints = len(trusted)
    matching = [c for c in trusted if c.size <= len(hashes) and tree.root(c.size) == c.root]
    report.checkpoint = matching[-1] if matching else None
    return report
