"""The tamper-evident audit ledger: append, verify, export."""

from finsandbox.ledger.chain import GENESIS, append, canonical, head, sha256_hex
from finsandbox.ledger.verify import Problem, Report, verify, verify_entries

__all__ = [
    "GENESIS",
    "Problem",
    "Report",
    "append",
    "canonical",
    "head",
    "sha256_hex",
    "verify",
    "verify_entries",
]
