"""The tamper-evident audit ledger: append, verify, export."""

from finsandbox.ledger.chain import GENESIS, append, canonical, head, sha256_hex
from finsandbox.ledger.checkpoints import Checkpoint, LedgerRewritten, checkpoint, load_all
from finsandbox.ledger.merkle import Tree, verify_consistency, verify_inclusion
from finsandbox.ledger.verify import Problem, Report, verify, verify_entries

__all__ = [
    "GENESIS",
    "Checkpoint",
    "LedgerRewritten",
    "Problem",
    "Report",
    "Tree",
    "append",
    "canonical",
    "checkpoint",
    "head",
    "load_all",
    "sha256_hex",
    "verify",
    "verify_consistency",
    "verify_entries",
    "verify_inclusion",
]
