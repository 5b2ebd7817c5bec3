"""Evidence bundles: a use case's exit report with everything needed to check it, signed.

The zip holds the report (HTML, PDF), every scorecard version, the case results, the reviews and
the slice of the ledger from the workspace's first entry to the head at export. Entries of other
workspaces in that range carry only their hashed fields, not their payloads: enough to recompute
the chain, nothing about another bank. `manifest.json` lists each file's SHA-256 and the head;
`signature` is Ed25519 over the canonical manifest. `verify_bundle` checks it all offline and names
what does not match.
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
from finsandbox.ledger.chain import GENESIS, entry_hash
from finsandbox.store.models import CaseResult, LedgerEntry, Trial, User
from finsandbox.supervision import keys

FORMAT = "finsandbox-evidence-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "signature"
LEDGER_FILE = "ledger/entries.jsonl"


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


def _entry_dict(e: LedgerEntry, full: bool) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "ts": e.ts,
        "actor": e.actor,
        "workspace_id": e.workspace_id,
        "kind": e.kind,
        "payload": e.payload if full else None,
        "payload_digest": e.payload_digest,
        "prev_hash": e.prev_hash,
        "entry_hash": e.entry_hash,
    }


def ledger_slice(session: Session, workspace_id: str, head_seq: int) -> list[dict[str, Any]]:
    """Entries from the workspace's first to `head_seq`; other workspaces' payloads left out."""
    first = session.scalar(
        select(LedgerEntry.seq)
        .where(LedgerEntry.workspace_id == workspace_id)
        .order_by(LedgerEntry.seq)
        .limit(1)
    )
    if first is None:
        return []
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.seq >= first, LedgerEntry.seq <= head_seq)
        .order_by(LedgerEntry.seq)
    )
    return [_entry_dict(e, e.workspace_id == workspace_id) for e in entries]


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
    from finsandbox.reports.exit_report import exit_report_context, render_exit_html, render_pdf

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
    entries = ledger_slice(session, ws.id, head["seq"])
    files[LEDGER_FILE] = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries).encode("utf-8")
    public = key.public_key()
    manifest = {
        "format": FORMAT,
        "workspace": {"id": ws.id, "slug": ws.slug, "name": ws.name, "theme": ws.theme, "bank": ws.bank.name},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "created_by": actor,
        "ledger_head": head,
        "ledger_range": [entries[0]["seq"], entries[-1]["seq"]] if entries else None,
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
            "ledger_head": head,
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


def _chain_problems(entries: list[dict[str, Any]], workspace_id: str | None) -> list[str]:
    """Recompute the slice's hash chain; name each entry that was edited, removed or relinked."""
    problems: list[str] = []
    prev: dict[str, Any] | None = None
    for e in entries:
        seq = e.get("seq")
        label = f"{LEDGER_FILE}: entry {seq}"
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
        except KeyError as exc:
            problems.append(f"{label}: field {exc.args[0]} is missing")
            prev = e
            continue
        if e.get("payload") is not None and ledger.sha256_hex(e["payload"]) != e["payload_digest"]:
            problems.append(f"{label} ({e['kind']}) was edited: its payload does not match its digest")
        elif e.get("payload") is None and e.get("workspace_id") == workspace_id:
            problems.append(f"{label} ({e['kind']}) of this workspace has no payload")
        if recomputed != e.get("entry_hash"):
            problems.append(f"{label} ({e['kind']}) was edited: its fields do not match its hash")
        if prev is None:
            if seq == 1 and e["prev_hash"] != GENESIS:
                problems.append(f"{label} is the first entry but does not link to the genesis")
        else:
            expected = prev["seq"] + 1
            if seq != expected:
                gone = f"entry {expected}" if seq == expected + 1 else f"entries {expected} to {seq - 1}"
                problems.append(
                    f"{LEDGER_FILE}: ledger {gone} removed (the slice jumps from {prev['seq']} to {seq})"
                )
            elif e["prev_hash"] != prev.get("entry_hash"):
                problems.append(
                    f"{label} does not link to entry {prev['seq']} (an entry was replaced or inserted)"
                )
        prev = e
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
    _check_ledger(check, manifest, contents)
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


def _check_ledger(check: BundleCheck, manifest: dict[str, Any], contents: dict[str, bytes]) -> None:
    raw = contents.get(LEDGER_FILE)
    if raw is None:
        if LEDGER_FILE not in (manifest.get("files") or {}):
            check.problems.append(f"{LEDGER_FILE}: the manifest lists no ledger slice")
        return
    try:
        entries = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    except ValueError:
        check.problems.append(f"{LEDGER_FILE}: not valid JSON lines")
        return
    workspace_id = (manifest.get("workspace") or {}).get("id")
    problems = _chain_problems(entries, workspace_id)
    head = manifest.get("ledger_head") or {}
    last = entries[-1] if entries else None
    if last is None:
        problems.append(f"{LEDGER_FILE}: the ledger slice is empty")
    elif last.get("seq") != head.get("seq") or last.get("entry_hash") != head.get("hash"):
        problems.append(
            f"{LEDGER_FILE}: the slice ends at entry {last.get('seq')}, not at the head the manifest "
            f"records ({head.get('seq')}:{str(head.get('hash'))[:16]}…); entries at the end were removed"
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
            problems.append(f"{where} cites ledger entry {seq}, which is not in the bundle's ledger slice")
        elif entry.get("workspace_id") != workspace_id:
            problems.append(f"{where} cites ledger entry {seq}, which belongs to another workspace")
    check.problems.extend(problems)
    if not problems:
        check.checked.append(f"{LEDGER_FILE} chain ({len(entries)} entries)")


def read_bundle_file(path: Path, name: str) -> bytes:
    """One file of a bundle (for tests and tools that show a bundle's content)."""
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)
