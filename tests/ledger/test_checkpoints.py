"""Merkle proofs and signed checkpoints: deletions at the start, truncation and a whole-chain rewrite
are all named once a checkpoint exists outside the database, and no checkpoint is signed over them."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select
from typer.testing import CliRunner

from finsandbox import cli, ledger
from finsandbox.ledger import checkpoints
from finsandbox.ledger.chain import GENESIS, entry_hash, sha256_hex
from finsandbox.ledger.merkle import Tree, leaf_hash, node_hash, verify_consistency, verify_inclusion
from finsandbox.store import session_scope
from finsandbox.store.models import LedgerEntry
from finsandbox.supervision import keys


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962's MTH, written straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


HASHES = [sha256_hex(str(i)) for i in range(40)]


def test_roots_and_proofs_follow_rfc_6962() -> None:
    tree = Tree.of_entries(HASHES)
    for n in range(len(HASHES) + 1):
        root = tree.root(n)
        assert root == _reference_root([leaf_hash(h) for h in HASHES[:n]]).hex()
        for i in range(n):
            proof = tree.inclusion_proof(i, n)
            assert verify_inclusion(HASHES[i], i, n, proof, root)
            assert not verify_inclusion(HASHES[i], i, n, proof, tree.root(n - 1) if n > 1 else "0" * 64)
            if n > 1:
                assert not verify_inclusion(HASHES[(i + 1) % n], i, n, proof, root)
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m, n)
            assert verify_consistency(m, tree.root(m), n, root, proof)
            if m < n:
                other = Tree.of_entries([*HASHES[: m - 1], sha256_hex("forged")]).root(m)
                assert not verify_consistency(m, other, n, root, proof)


def _append(n: int) -> None:
    for i in range(n):
        with session_scope(write=True) as s:
            ledger.append(s, actor="tester", kind="test.event", payload={"i": i})


def _verify() -> ledger.Report:
    key = keys.ensure_key().public_key()
    with session_scope() as s:
        return ledger.verify(s, checkpoints=ledger.load_all(), public_key=key)


def _sign() -> ledger.Checkpoint:
    with session_scope() as s:
        return ledger.checkpoint(s, keys.ensure_key())


def test_a_checkpoint_is_signed_kept_as_a_file_and_matched(db: str) -> None:
    _append(5)
    cp = _sign()
    assert cp.size == 5 and cp.verifies(keys.ensure_key().public_key())
    assert [c.root for c in ledger.load_all()] == [cp.root]
    assert _sign() == cp  # nothing new to sign
    _append(2)
    assert _sign().size == 7
    report = _verify()
    assert report.ok and report.checkpoints == 2 and report.checkpoint is not None
    assert report.checkpoint.size == 7


def test_deleting_the_oldest_entries_is_named_even_without_a_checkpoint(db: str) -> None:
    _append(6)
    with session_scope(write=True) as s:
        s.execute(delete(LedgerEntry).where(LedgerEntry.seq <= 2))
    report = _verify()
    assert report.first is not None and report.first.kind == "deleted"
    assert "entries 1 to 2 at the start of the ledger are missing" in report.first.detail


def test_truncation_and_an_emptied_ledger_are_named(db: str) -> None:
    _append(6)
    _sign()
    with session_scope(write=True) as s:
        s.execute(delete(LedgerEntry).where(LedgerEntry.seq >= 5))
    report = _verify()
    assert [p.kind for p in report.problems] == ["truncated"]
    assert "holds 4 entries but the checkpoint" in report.problems[0].detail
    with session_scope(write=True) as s:
        s.execute(delete(LedgerEntry))
    assert [p.kind for p in _verify().problems] == ["truncated"]


def test_a_recomputed_chain_is_named_and_never_signed_again(db: str) -> None:
    """Whoever can write the database edits entry 2 and recomputes every hash after it: the chain is
    valid on its own, but not against the checkpoint kept outside."""
    _append(5)
    _sign()
    with session_scope(write=True) as s:
        rows = list(s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))
        fields = [
            {c: getattr(e, c) for c in ("seq", "ts", "actor", "workspace_id", "kind", "payload")}
            for e in rows
        ]
        s.execute(delete(LedgerEntry))
        s.flush()
        prev = GENESIS
        for f in fields:
            if f["seq"] == 2:
                f["payload"] = json.dumps({"i": 99})
            digest = sha256_hex(f["payload"])
            h = entry_hash(
                **{k: f[k] for k in ("seq", "ts", "actor", "workspace_id", "kind")},
                payload_digest=digest,
                prev_hash=prev,
            )
            s.add(LedgerEntry(**f, payload_digest=digest, prev_hash=prev, entry_hash=h))
            prev = h
    report = _verify()
    assert [p.kind for p in report.problems] == ["rewritten"]
    assert "the first 5 entries no longer match the checkpoint" in report.problems[0].detail
    with pytest.raises(checkpoints.LedgerRewritten, match="no longer match"):
        _sign()


def test_a_checkpoint_not_signed_by_the_programme_is_not_trusted(db: str) -> None:
    _append(3)
    with session_scope() as s:
        forged = ledger.checkpoint(s, Ed25519PrivateKey.generate())
    assert forged.size == 3
    report = _verify()
    assert [p.kind for p in report.problems] == ["unsigned"] and report.checkpoints == 0


def test_the_cli_signs_and_verifies_against_checkpoints(db: str) -> None:
    runner = CliRunner()
    _append(4)
    out = runner.invoke(cli.app, ["ledger", "checkpoint"])
    assert out.exit_code == 0 and "4 entries" in out.output, out.output
    out = runner.invoke(cli.app, ["ledger", "verify"])
    assert out.exit_code == 0 and "matches 1 signed checkpoint" in out.output, out.output
    with session_scope(write=True) as s:
        s.execute(delete(LedgerEntry).where(LedgerEntry.seq == 4))
    out = runner.invoke(cli.app, ["ledger", "verify"])
    assert out.exit_code == 1 and "truncated" in out.output


class _Witness:
    """A witness on a loopback port that keeps what it is sent and answers with a receipt id."""

    def __init__(self, status: int = 200) -> None:
        import http.server
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers["Content-Type"], json.loads(body)))
                answer = json.dumps({"receipt": f"w-{len(received)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/checkpoints"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _witness_url(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    from finsandbox.config import get_settings

    monkeypatch.setenv("FINSANDBOX_LEDGER_WITNESS_URL", url)
    get_settings.cache_clear()


def test_without_a_witness_url_nothing_is_posted(db: str) -> None:
    _append(2)
    cp = _sign()
    assert checkpoints.receipt(checkpoints.directory(), cp) is None
    assert not (checkpoints.directory() / "witness").exists()


def test_a_new_checkpoint_is_posted_to_the_witness_with_its_key_and_the_receipt_kept(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    witness = _Witness()
    try:
        _witness_url(monkeypatch, witness.url)
        _append(3)
        cp = _sign()
        assert len(witness.received) == 1
        content_type, body = witness.received[0]
        assert content_type == "application/json"
        sent = ledger.Checkpoint(**body["checkpoint"])
        assert sent == cp
        # What the witness got is enough to check the signature without the sandbox.
        import base64

        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_key"]))
        assert sent.verifies(public)
        got = checkpoints.receipt(checkpoints.directory(), cp)
        assert got is not None and got["ok"] and got["status"] == 200
        assert got["response"] == {"receipt": "w-1"}
        assert _sign() == cp and len(witness.received) == 1  # witnessed already: not posted again
        result = CliRunner().invoke(cli.app, ["ledger", "checkpoint"])
        assert result.exit_code == 0, result.output
        assert f"posted to the witness {witness.url}: HTTP 200" in " ".join(result.output.split())
    finally:
        witness.close()


def test_an_unreachable_or_refusing_witness_never_stops_a_checkpoint_and_is_retried(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = _Witness(status=503)
    try:
        _witness_url(monkeypatch, refusing.url)
        _append(2)
        cp = _sign()
        got = checkpoints.receipt(checkpoints.directory(), cp)
        assert got is not None and not got["ok"] and "HTTP 503" in got["error"]
        assert [c.root for c in ledger.load_all()] == [cp.root]  # kept all the same
    finally:
        refusing.close()
    _witness_url(monkeypatch, refusing.url)  # now nothing listens there
    assert _sign() == cp
    got = checkpoints.receipt(checkpoints.directory(), cp)
    assert got is not None and not got["ok"] and "could not be reached" in got["error"]
    result = CliRunner().invoke(cli.app, ["ledger", "checkpoint"])
    assert result.exit_code == 0
    said = " ".join(result.output.split())
    assert "not witnessed" in said and "posted again with the next checkpoint" in said
    working = _Witness()
    try:
        _witness_url(monkeypatch, working.url)
        assert _sign() == cp
        assert len(working.received) == 1  # the unwitnessed checkpoint is posted when it can be
        assert checkpoints.receipt(checkpoints.directory(), cp)["ok"]
    finally:
        working.close()
