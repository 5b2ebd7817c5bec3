"""Signed checkpoints: the ledger's size, Merkle root and head, signed with the programme's Ed25519 key
and kept as files outside the database.

A hash chain proves nothing against whoever can rewrite the database: they can delete the oldest
entries or recompute every hash after an edit. A checkpoint taken earlier and kept elsewhere (the data
directory's `checkpoints/` folder, copied wherever the operator keeps evidence) fixes the first `size`
entries: `verify` recomputes the tree and names a checkpoint whose root no longer matches (rewritten) or
whose size the ledger no longer reaches (truncated). A new checkpoint is only signed over a ledger that
verifies and that extends the latest one, so a rewrite is never blessed after the fact. Checkpoints are
made on a schedule by the server, on every bundle export and by `finsandbox ledger checkpoint`.

Files in a folder the operator controls still sit beside the database. With `ledger_witness_url` set,
each new checkpoint (with the public key that verifies it) is also posted to a witness run by someone
else (the regulator's evidence store, a transparency-log witness), whose answer is kept as a receipt in
`checkpoints/witness/`. A witness that cannot be reached never stops a checkpoint: the failure is
kept as the receipt and the checkpoint is posted again on the next one. Unset, nothing leaves.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox.config import get_settings, private_dir
from finsandbox.errors import FinsandboxError
from finsandbox.ledger.chain import GENESIS, canonical, sha256_hex
from finsandbox.ledger.merkle import Tree
from finsandbox.store.models import LedgerEntry

FORMAT = "finsandbox-checkpoint/1"
EVERY_SECONDS = 600
"""How often a running server signs a checkpoint (when the ledger has grown)."""


class LedgerRewritten(FinsandboxError):
    """The ledger no longer matches a signed checkpoint, so no new one is signed over it."""

    status_code = 409
    error_type = "conflict_error"
    code = "ledger_rewritten"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the first `size` entries have Merkle root `root`; entry `size` is `head_hash`."""

    size: int
    root: str
    head_hash: str
    time: str
    key_id: str
    signature: str = ""
    format: str = FORMAT

    def statement(self) -> bytes:
        """The bytes that are signed: every field but the signature, canonically."""
        body = {k: v for k, v in asdict(self).items() if k != "signature"}
        return canonical(body).encode("utf-8")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        return cls(
            size=int(data["size"]),
            root=str(data["root"]),
            head_hash=str(data["head_hash"]),
            time=str(data["time"]),
            key_id=str(data["key_id"]),
            signature=str(data["signature"]),
        )

    def verifies(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(base64.b64decode(self.signature, validate=True), self.statement())
        except (InvalidSignature, ValueError):
            return False
        return True

    @property
    def label(self) -> str:
        return f"checkpoint of {self.time} ({self.size} entries, root {self.root[:16]}…)"


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)[:16]


def directory() -> Path:
    """Where checkpoints are kept: outside the database, in the data directory."""
    return private_dir(get_settings().ensure_home() / "checkpoints")


def load_all(folder: Path | None = None) -> list[Checkpoint]:
    """Every checkpoint file in the folder, oldest (smallest) first; unreadable files are an error."""
    folder = folder or directory()
    found: list[Checkpoint] = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(Checkpoint.from_json(path.read_bytes()))
        except (ValueError, KeyError, TypeError) as exc:
            raise FinsandboxError(f"checkpoint file {path.name} cannot be read: {exc}") from None
    return sorted(found, key=lambda c: (c.size, c.time))


def entry_hashes(session: Session) -> list[str]:
    return list(session.scalars(select(LedgerEntry.entry_hash).order_by(LedgerEntry.seq)))


def sign(tree: Tree, size: int, head_hash: str, key: Ed25519PrivateKey) -> Checkpoint:
    unsigned = Checkpoint(
        size=size,
        root=tree.root(size),
        head_hash=head_hash,
        time=datetime.now(UTC).isoformat(timespec="seconds"),
        key_id=key_id(key.public_key()),
    )
    signature = base64.b64encode(key.sign(unsigned.statement())).decode("ascii")
    return Checkpoint(**{**asdict(unsigned), "signature": signature})


def mismatches(tree: Tree, hashes: Sequence[str], checkpoints: Sequence[Checkpoint]) -> list[tuple[str, str]]:
    """(kind, detail) for each checkpoint the ledger no longer matches: truncated or rewritten."""
    out: list[tuple[str, str]] = []
    for cp in checkpoints:
        if cp.size > len(hashes):
            out.append(
                (
                    "truncated",
                    f"the ledger holds {len(hashes)} entries but the {cp.label} vouches for {cp.size}",
                )
            )
        elif tree.root(cp.size) != cp.root:
            out.append(("rewritten", f"the first {cp.size} entries no longer match the {cp.label}"))
    return out


def checkpoint(
    session: Session, key: Ed25519PrivateKey, *, folder: Path | None = None, upto: int | None = None
) -> Checkpoint:
    """Sign the ledger's current head (or entry `upto`) and keep it; returns the (new or latest equal)
    checkpoint. Refuses, naming the checkpoint, when the ledger does not verify or no longer extends
    an earlier checkpoint."""
    from finsandbox.ledger.links import verify_entries

    folder = folder or directory()
    entries = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))
    if upto is not None:
        entries = [e for e in entries if e.seq <= upto]
    report = verify_entries(entries)
    if not report.ok:
        raise LedgerRewritten(f"the ledger does not verify, so no checkpoint is signed: {report.first}")
    hashes = [e.entry_hash for e in entries]
    tree = Tree.of_entries(hashes)
    public = key.public_key()
    mine = [c for c in load_all(folder) if c.key_id == key_id(public) and c.verifies(public)]
    if upto is not None:  # a checkpoint of an older head (a bundle's): later ones are checked by `verify`
        mine = [c for c in mine if c.size <= len(hashes)]
    problems = mismatches(tree, hashes, mine)
    if problems:
        raise LedgerRewritten(f"no checkpoint is signed: {problems[0][1]}")
    latest = mine[-1] if mine else None
    if latest is not None and latest.size == len(hashes):
        cp = latest
    else:
        cp = sign(tree, len(hashes), hashes[-1] if hashes else GENESIS, key)
        _write(folder, cp)
    if get_settings().ledger_witness_url and not _witnessed(folder, cp):
        post_to_witness(folder, cp, public)
    return cp


def _name(cp: Checkpoint) -> str:
    return f"{cp.size:012d}-{cp.root[:16]}.json"


def _write(folder: Path, cp: Checkpoint) -> Path:
    path = folder / _name(cp)
    if path.exists():
        return path
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(cp.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path


def receipt(folder: Path, cp: Checkpoint) -> dict[str, Any] | None:
    """The witness's receipt for a checkpoint (or the failure to reach it), if one was posted."""
    path = folder / "witness" / _name(cp)
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _witnessed(folder: Path, cp: Checkpoint) -> bool:
    found = receipt(folder, cp)
    return bool(found and found.get("ok"))


def post_to_witness(folder: Path, cp: Checkpoint, public: Ed25519PublicKey) -> dict[str, Any]:
    """Post a checkpoint and its public key to the configured witness; keep and return the receipt."""
    import httpx

    settings = get_settings()
    url = str(settings.ledger_witness_url)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    body = {"checkpoint": asdict(cp), "public_key": base64.b64encode(raw).decode()}
    kept: dict[str, Any] = {
        "checkpoint": _name(cp),
        "url": url,
        "posted_at": datetime.now(UTC).isoformat(),
        "ok": False,
        "status": None,
        "response": None,
        "error": None,
    }
    if not url.startswith(("https://", "http://")):
        kept["error"] = "FINSANDBOX_LEDGER_WITNESS_URL must be an http(s) URL"
    else:
        try:
            response = httpx.post(url, json=body, timeout=settings.ledger_witness_timeout)
            kept["status"] = response.status_code
            kept["ok"] = response.is_success
            try:
                kept["response"] = response.json()
            except ValueError:
                kept["response"] = response.text[:4000]
            if not response.is_success:
                kept["error"] = f"the witness answered HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            kept["error"] = f"the witness could not be reached: {type(exc).__name__}: {exc}"[:500]
    path = private_dir(folder / "witness") / _name(cp)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(kept, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return kept


def consistency(session: Session, old: Checkpoint, new: Checkpoint) -> dict[str, Any]:
    """A consistency proof from `old` to `new`, as a bundle carries it."""
    tree = Tree.of_entries(entry_hashes(session)[: new.size])
    return {"from": old.size, "to": new.size, "proof": tree.consistency_proof(old.size, new.size)}


def run_periodically(session_factory: Callable[[], Any], key_loader: Callable[[], Ed25519PrivateKey]) -> None:
    """One scheduled tick: sign a checkpoint when the ledger has grown (the server calls this)."""
    with session_factory() as session:
        checkpoint(session, key_loader())
