"""Evidence bundles: a use case's exit report with everything needed to check it, signed.

The zip holds the report (HTML, PDF), every scorecard version, the case results, the reviews and
the workspace's own ledger entries, nothing of any other workspace. Each entry carries an inclusion
proof against a signed checkpoint of the whole ledger made at export (`ledger/checkpoint.json`, a
Merkle root as in Certificate Transparency), and the bundle carries a consistency proof from the
checkpoint before it, so the entries are proven part of the one ledger, and that ledger an extension
of what was signed earlier, without revealing a neighbour. `manifest.json` lists each file's SHA-256,
the checkpoint and the entries' numbers; `signature` is Ed25519 over the canonical manifest.
`verify_bundle` checks it all offline and names what does not match.
"""

from __future__ import annotations

import base64
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from finsandbox import ledger
from finsandbox.ledger.chain import entry_hash
from finsandbox.store.models import CaseResult, LedgerEntry, Trial, User
from finsandbox.supervision import keys

FORMAT = "finsandbox-evidence-bundle/2"
MANIFEST = "manifest.json"
SIGNATURE = "signature"
LEDGER_FILE = "ledger/entries.jsonl"
CHECKPOINT_FILE = "ledger/checkpoint.json"
PREVIOUS_FILE = "ledger/previous-checkpoint.json"
CONSISTENCY_FILE = "ledger/consistency.json"


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


def _entry_dict(e: LedgerEntry, proof: list[str]) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "ts": e.ts,
        "actor": e.actor,
        "workspace_id": e.workspace_id,
        "kind": e.kind,
        "payload": e.payload,
        "payload_digest": e.payload_digest,
        "prev_hash": e.prev_hash,
        "entry_hash": e.entry_hash,
        "inclusion_proof": proof,
    }


def ledger_slice(session: Session, workspace_id: str, tree: ledger.Tree, size: int) -> list[dict[str, Any]]:
    """The workspace's own entries up to entry `size`, each with its inclusion proof in the tree of
    the first `size` entries. No other workspace's entry, field or payload is included."""
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.workspace_id == workspace_id, LedgerEntry.seq <= size)
        .order_by(LedgerEntry.seq)
    )
    return [_entry_dict(e, tree.inclusion_proof(e.seq - 1, size)) for e in entries]


def _result_dict(r: CaseResult) -> dict[str, Any]:
    return {
        "id": r.id,
        "trial_id": r.trial_id,
        "item": r.item,
        "suite": r.suite,
        "recipe": r.recipe,
        "case_id": r.case_id,
        "attack": r.attack,
        "passed": r.passed,
        "error": r.error,
        "input": r.case.get("input"),
        "expected": r.case.get("expected"),
        "output": r.output,
        "scores": r.scores,
        "evidence": r.evidence,
    }


def sign_manifest(manifest: dict[str, Any], key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.sign(ledger.canonical(manifest).encode("utf-8"))).decode("ascii")


@dataclass
class BundleInfo:
    path: Path
    manifest: dict[str, Any]
    files: list[str]


def export_bundle(
    session: Session,
    workspace: str,
    out: Path,
    *,
    actor: str,
    user: User | None = None,
    pdf: bool = True,
) -> BundleInfo:
    """Write the signed evidence bundle of a use case to `out` (a .zip path) and record the export.

    The session must be a write session: the export itself is a ledger entry (after the head the
    bundle proves, so the bundle stays checkable against the live ledger).
    """
    from finsandbox.supervision.exit_report import exit_report_context, render_exit_html, render_pdf

    key = keys.ensure_key()
    context = exit_report_context(session, workspace, user=user)
    ws = context["workspace_row"]
    html = render_exit_html(context)
    files: dict[str, bytes] = {"report.html": html.encode("utf-8")}
    if pdf:
        files["report.pdf"] = render_pdf(html)
    for card in context["scorecards"]:
        suffix = f"v{card['version']}" if card.get("version") else "unversioned"
        files[f"scorecards/{card['trial']['id']}-{suffix}.json"] = _json(card)
    for trial in session.scalars(select(Trial).where(Trial.workspace_id == ws.id).order_by(Trial.created_at)):
        rows = session.scalars(
            select(CaseResult).where(CaseResult.trial_id == trial.id).order_by(CaseResult.item)
        )
        files[f"results/{trial.id}.jsonl"] = "".join(
            json.dumps(_result_dict(r), ensure_ascii=False, sort_keys=True, default=str) + "\n" for r in rows
        ).encode("utf-8")
    files["reviews.json"] = _json(context["reviews"])
    head = context["ledger_head"]
    earlier = [c for c in ledger.load_all() if c.key_id == keys.key_id(key.public_key())]
    checkpoint = ledger.checkpoint(session, key, upto=head["seq"])
    hashes = list(session.scalars(select(LedgerEntry.entry_hash).order_by(LedgerEntry.seq)))[
        : checkpoint.size
    ]
    tree = ledger.Tree.of_entries(hashes)
    entries = ledger_slice(session, ws.id, tree, checkpoint.size)
    files[LEDGER_FILE] = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries).encode("utf-8")
    files[CHECKPOINT_FILE] = checkpoint.to_json().encode("utf-8")
    previous = [c for c in earlier if c.size < checkpoint.size]
    if previous:
        files[PREVIOUS_FILE] = previous[-1].to_json().encode("utf-8")
        files[CONSISTENCY_FILE] = _json(
            {
                "from": previous[-1].size,
                "to": checkpoint.size,
                "proof": tree.consistency_proof(previous[-1].size, checkpoint.size),
            }
        )
    public = key.public_key()
    manifest = {
        "format": FORMAT,
        "workspace": {"id": ws.id, "slug": ws.slug, "name": ws.name, "theme": ws.theme, "bank": ws.bank.name},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "created_by": actor,
        "ledger_head": {"seq": checkpoint.size, "hash": checkpoint.head_hash},
        "checkpoint": {"size": checkpoint.size, "root": checkpoint.root, "time": checkpoint.time},
        "ledger_entries": [e["seq"] for e in entries],
        "key_id": keys.key_id(public),
        "public_key": base64.b64encode(keys.public_bytes(public)).decode("ascii"),
        "files": {name: ledger.sha256_hex(data) for name, data in sorted(files.items())},
    }
    signature = sign_manifest(manifest, key)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, _json(manifest))
        zf.writestr(SIGNATURE, signature + "\n")
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
    tmp.replace(out)
    ledger.append(
        session,
        actor=actor,
        kind="bundle.exported",
        workspace_id=ws.id,
        payload={
            "manifest_digest": ledger.sha256_hex(ledger.canonical(manifest)),
            "ledger_head": manifest["ledger_head"],
            "checkpoint_root": checkpoint.root,
            "key_id": manifest["key_id"],
        },
    )
    return BundleInfo(path=out, manifest=manifest, files=sorted(files))


# --- verification -------------------------------------------------------------------------------


@dataclass
class BundleCheck:
    """The outcome of verifying a bundle; `problems` name each file, entry or signature that fails."""

    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _entry_problems(
    entries: list[dict[str, Any]], workspace_id: str | None, checkpoint: ledger.Checkpoint
) -> list[str]:
    """Each entry must be this workspace's, unedited, and proven included in the signed checkpoint."""
    problems: list[str] = []
    for e in entries:
        label = f"{LEDGER_FILE}: entry {e.get('seq')}"
        try:
            recomputed = entry_hash(
                seq=e["seq"],
                ts=e["ts"],
                actor=e["actor"],
                workspace_id=e["workspace_id"],
                kind=e["kind"],
                payload_digest=e["payload_digest"],
                prev_hash=e["prev_hash"],
            )
            payload, seq, proof = e["payload"], int(e["seq"]), e["inclusion_proof"]
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{label}: field {exc.args[0] if exc.args else ''} is missing or malformed")
            continue
        if e["workspace_id"] != workspace_id:
            problems.append(f"{label} belongs to another workspace; a bundle carries only its own entries")
        if not isinstance(payload, str) or ledger.sha256_hex(payload) != e["payload_digest"]:
            problems.append(f"{label} ({e['kind']}) was edited: its payload does not match its digest")
        if recomputed != e.get("entry_hash"):
            problems.append(f"{label} ({e['kind']}) was edited: its fields do not match its hash")
        elif not isinstance(proof, list) or not ledger.verify_inclusion(
            recomputed, seq - 1, checkpoint.size, proof, checkpoint.root
        ):
            problems.append(
                f"{label} ({e['kind']}) is not proven part of the ledger: its inclusion proof does not "
                f"lead to the signed checkpoint's root"
            )
    return problems


def verify_bundle(path: Path, public_key: Ed25519PublicKey) -> BundleCheck:
    """Check signature, file digests, the ledger chain and every cross-reference, offline."""
    check = BundleCheck()
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        check.problems.append(f"{path}: no such file")
        return check
    except zipfile.BadZipFile:
        check.problems.append(f"{path}: not a zip file")
        return check
    with zf:
        names = set(zf.namelist())
        for required in (MANIFEST, SIGNATURE):
            if required not in names:
                check.problems.append(f"{required}: missing from the bundle")
        if check.problems:
            return check
        try:
            manifest = json.loads(zf.read(MANIFEST))
        except ValueError:
            check.problems.append(f"{MANIFEST}: not valid JSON")
            return check
        check.manifest = manifest
        _check_signature(check, manifest, zf.read(SIGNATURE), public_key)
        listed: dict[str, str] = manifest.get("files") or {}
        contents: dict[str, bytes] = {}
        for name, digest in sorted(listed.items()):
            if name not in names:
                check.problems.append(f"{name}: listed in the manifest but missing from the bundle")
                continue
            data = zf.read(name)
            contents[name] = data
            if ledger.sha256_hex(data) != digest:
                check.problems.append(f"{name}: edited (its SHA-256 does not match the manifest)")
            else:
                check.checked.append(name)
        for extra in sorted(names - set(listed) - {MANIFEST, SIGNATURE}):
            if not extra.endswith("/"):
                check.problems.append(f"{extra}: in the bundle but not listed in the manifest")
    _check_ledger(check, manifest, contents, public_key)
    return check


def _check_signature(check: BundleCheck, manifest: dict[str, Any], raw: bytes, key: Ed25519PublicKey) -> None:
    given = keys.key_id(key)
    try:
        signature = base64.b64decode(raw.strip(), validate=True)
        key.verify(signature, ledger.canonical(manifest).encode("utf-8"))
        check.checked.append(SIGNATURE)
    except (InvalidSignature, ValueError):
        signer = manifest.get("key_id")
        if signer and signer != given:
            check.problems.append(
                f"{SIGNATURE}: does not verify; the bundle says it was signed by key {signer}, "
                f"but the given public key is {given} (wrong key?)"
            )
        else:
            check.problems.append(
                f"{SIGNATURE}: does not verify with public key {given} ({MANIFEST} was edited, or the "
                "signature was replaced)"
            )


def _read_checkpoint(
    check: BundleCheck, contents: dict[str, bytes], name: str, key: Ed25519PublicKey
) -> ledger.Checkpoint | None:
    if name not in contents:
        check.problems.append(f"{name}: missing from the bundle")
        return None
    try:
        cp = ledger.Checkpoint.from_json(contents[name])
    except (ValueError, KeyError, TypeError):
        check.problems.append(f"{name}: not a signed checkpoint")
        return None
    if not cp.verifies(key):
        check.problems.append(f"{name}: its signature does not verify with public key {keys.key_id(key)}")
        return None
    return cp


def _check_ledger(
    check: BundleCheck, manifest: dict[str, Any], contents: dict[str, bytes], key: Ed25519PublicKey
) -> None:
    raw = contents.get(LEDGER_FILE)
    if raw is None:
        if LEDGER_FILE not in (manifest.get("files") or {}):
            check.problems.append(f"{LEDGER_FILE}: the manifest lists no ledger entries")
        return
    try:
        entries = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    except ValueError:
        check.problems.append(f"{LEDGER_FILE}: not valid JSON lines")
        return
    workspace_id = (manifest.get("workspace") or {}).get("id")
    checkpoint = _read_checkpoint(check, contents, CHECKPOINT_FILE, key)
    if checkpoint is None:
        return
    problems: list[str] = []
    stated = manifest.get("checkpoint") or {}
    if stated.get("size") != checkpoint.size or stated.get("root") != checkpoint.root:
        problems.append(f"{CHECKPOINT_FILE}: it is not the checkpoint the manifest names")
    problems += _entry_problems(entries, workspace_id, checkpoint)
    listed = manifest.get("ledger_entries") or []
    present = {e.get("seq") for e in entries}
    for seq in listed:
        if seq not in present:
            problems.append(f"{LEDGER_FILE}: entry {seq}, listed in the manifest, was removed")
    for seq in sorted(present - set(listed), key=lambda x: int(x or 0)):
        problems.append(f"{LEDGER_FILE}: entry {seq} is not listed in the manifest")
    if PREVIOUS_FILE in contents or CONSISTENCY_FILE in contents:
        previous = _read_checkpoint(check, contents, PREVIOUS_FILE, key)
        try:
            proof = json.loads(contents.get(CONSISTENCY_FILE, b"{}"))
            consistent = previous is not None and ledger.verify_consistency(
                previous.size, previous.root, checkpoint.size, checkpoint.root, proof.get("proof") or []
            )
        except (ValueError, AttributeError, TypeError):
            consistent = False
        if previous is not None and not consistent:
            problems.append(
                f"{CONSISTENCY_FILE}: the ledger at export does not extend the {previous.label}; "
                "history was rewritten between the two checkpoints"
            )
    by_seq = {e.get("seq"): e for e in entries}
    cited: list[tuple[str, int]] = []
    result_ids: set[str] = set()
    for name, data in contents.items():
        if name.startswith("results/") and name.endswith(".jsonl"):
            for line in data.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                row = json.loads(line)
                result_ids.add(row.get("id"))
                for seq in (row.get("evidence") or {}).get("ledger_seqs") or []:
                    cited.append((f"{name}: case {row.get('item')}", int(seq)))
    reviews = json.loads(contents["reviews.json"]) if "reviews.json" in contents else []
    for review in reviews:
        for f in review.get("findings", []):
            where = f"reviews.json: finding {f.get('number')} of review {str(review.get('id'))[:8]}"
            for seq in f.get("ledger_seqs", []):
                cited.append((where, int(seq)))
            for cid in f.get("case_result_ids", []):
                if cid not in result_ids:
                    problems.append(f"{where} cites case result {cid}, which is not in the bundle's results")
        for event in review.get("thread", []):
            cited.append(
                (f"reviews.json: review {str(review.get('id'))[:8]} {event.get('kind')}", event["ledger_seq"])
            )
    for where, seq in cited:
        entry = by_seq.get(seq)
        if entry is None:
            problems.append(f"{where} cites ledger entry {seq}, which is not among the bundle's entries")
        elif entry.get("workspace_id") != workspace_id:
            problems.append(f"{where} cites ledger entry {seq}, which belongs to another workspace")
    check.problems.extend(problems)
    if not problems:
        check.checked.append(f"{LEDGER_FILE}: {len(entries)} entries proven in the signed {checkpoint.label}")


def read_bundle_file(path: Path, name: str) -> bytes:
    """One file of a bundle (for tests and tools that show a bundle's content)."""
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)
