"""Exit report (HTML and PDF, read back) and the signed evidence bundle: it verifies; tampering is named."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from finsandbox import ledger
from finsandbox.errors import NotFound
from finsandbox.store import session_scope
from finsandbox.supervision import bundles, keys
from finsandbox.supervision import reviews as rv
from finsandbox.supervision import scorecards as sc
from tests.supervision.helpers import Row, make_supervisor, make_trial, make_workspace, rows, user


@pytest.fixture
def use_case(db: str) -> dict[str, str]:
    """Two trials of one use case, a scorecard each, a review with a finding tied to evidence."""
    ws_id, owner = make_workspace("ws-exit", "Alpha Bank")
    other_id, _ = make_workspace("ws-noise", "Beta Bank")
    sup = make_supervisor()
    redact = {
        "guard": "pii",
        "action": "redact",
        "reason": "phone",
        "score": 1.0,
        "entity_types": {"PHONE": 1},
    }
    first = make_trial(
        ws_id, rows("tiny/answers", 3, 3) + rows("tiny/privacy", 2, 0), name="first", age_days=2
    )
    make_trial(other_id, rows("tiny/answers", 1, 1), name="someone else's")  # interleaved in the ledger
    second = make_trial(
        ws_id,
        rows("tiny/answers", 5, 1) + [Row("tiny/privacy", True, guard_decisions=[redact])] * 2,
        name="second",
    )
    with session_scope(write=True) as s:
        sc.build_scorecard(s, first, actor="test")
        card, _ = sc.build_scorecard(s, second, actor="test")
        worst = card.data["recipes"]["tiny/answers"]["worst"][0]
        review = rv.open_review(s, user(s, sup), card.id)
        rv.add_finding(
            s,
            user(s, sup),
            review.id,
            severity="medium",
            principle="reliability_accuracy",
            text="Fee answers contradict the tariff sheet.",
            case_result_ids=[worst["case_result_id"]],
            ledger_seqs=worst["ledger_seqs"],
        )
        rv.add_action(
            s, user(s, sup), review.id, text="Ground answers in the tariff.", due_on=date(2027, 1, 31)
        )
        rv.respond(s, user(s, owner), review.id, text="Retrieval added; see trial 3.", finding=1)
        rv.decide(s, user(s, sup), review.id, decision="changes_requested", note="Fix finding 1.")
    return {"workspace": "ws-exit", "owner": owner, "sup": sup, "other_owner": "owner@ws-noise.example.com"}


def _export(tmp_path: Path, name: str = "bundle.zip", pdf: bool = True) -> Path:
    with session_scope(write=True) as s:
        info = bundles.export_bundle(s, "ws-exit", tmp_path / name, actor="test", pdf=pdf)
    return info.path


def _public() -> object:
    return keys.ensure_key().public_key()


def test_exit_report_pdf_has_the_expected_pages_and_text(use_case: dict[str, str], tmp_path: Path) -> None:
    bundle = _export(tmp_path)
    with zipfile.ZipFile(bundle) as zf:
        pdf = PdfReader(io.BytesIO(zf.read("report.pdf")))
        manifest = json.loads(zf.read("manifest.json"))
    pages = [p.extract_text() for p in pdf.pages]
    # cover, what was tested, one scorecard per trial (2), findings, guards/usage/ledger
    assert len(pages) >= 6
    text = "\n".join(pages)
    assert "Exit report: ws-exit assistant" in pages[0]
    assert "Alpha Bank" in pages[0]
    assert "1. What was tested" in pages[1] and "first" in pages[1] and "second" in pages[1]
    assert "Scorecard: first" in text and "Scorecard: second" in text
    assert "Fee answers contradict the tariff sheet." in text
    assert "Retrieval added; see trial 3." in text
    assert "changes requested" in text
    assert "4. Guard statistics" in text and "PHONE" in text
    assert "5. Compute used" in text
    head = manifest["ledger_head"]
    assert f"entry {head['seq']}" in pages[0]
    assert head["hash"][:16] in text.replace("\n", "")
    assert "Beta Bank" not in text and "someone else's" not in text


def test_exit_report_html_has_server_side_charts(use_case: dict[str, str]) -> None:
    from finsandbox.supervision.exit_report import exit_report_context, render_exit_html

    with session_scope() as s:
        html = render_exit_html(exit_report_context(s, "ws-exit", user=user(s, use_case["owner"])))
    assert html.count('src="data:image/svg+xml;base64,') == 2
    # nothing is fetched from elsewhere: no external source, no script
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html) and "<script" not in html


def test_participants_cannot_export_another_banks_report(use_case: dict[str, str]) -> None:
    from finsandbox.supervision.exit_report import exit_report_context

    with pytest.raises(NotFound, match="no use case 'ws-exit'"), session_scope() as s:
        exit_report_context(s, "ws-exit", user=user(s, use_case["other_owner"]))


def test_a_fresh_bundle_verifies_offline(use_case: dict[str, str], tmp_path: Path) -> None:
    bundle = _export(tmp_path, pdf=False)
    check = bundles.verify_bundle(bundle, _public())
    assert check.ok, check.problems
    names = set(zipfile.ZipFile(bundle).namelist())
    assert {"manifest.json", "signature", "report.html", "reviews.json", "ledger/entries.jsonl"} <= names
    assert "ledger/checkpoint.json" in names
    assert sum(n.startswith("scorecards/") for n in names) == 2
    assert sum(n.startswith("results/") for n in names) == 2
    # only this workspace's entries, each with its inclusion proof; nothing at all of the other bank
    entries = [json.loads(x) for x in zipfile.ZipFile(bundle).read("ledger/entries.jsonl").splitlines()]
    assert entries and all(e["workspace_id"] == check.manifest["workspace"]["id"] for e in entries)
    assert all(e["inclusion_proof"] for e in entries)
    with session_scope() as s:
        from finsandbox.programme import get_workspace

        other = get_workspace(s, "ws-noise")
        foreign = [other.id, use_case["other_owner"], "ws-noise", "Beta Bank"]
    with zipfile.ZipFile(bundle) as zf:
        everything = b"".join(zf.read(n) for n in zf.namelist())
    assert not [f for f in foreign if f.encode() in everything]
    # the export itself is recorded after the head the bundle proves
    with session_scope() as s:
        assert ledger.head(s).kind == "bundle.exported"
        assert ledger.head(s).seq == check.manifest["ledger_head"]["seq"] + 1


def test_a_second_bundle_proves_the_ledger_extends_the_first_checkpoint(
    use_case: dict[str, str], tmp_path: Path
) -> None:
    first = _export(tmp_path, "first.zip", pdf=False)
    second = _export(tmp_path, "second.zip", pdf=False)
    check = bundles.verify_bundle(second, _public())
    assert check.ok, check.problems
    earlier = json.loads(zipfile.ZipFile(first).read("ledger/checkpoint.json"))
    previous = json.loads(zipfile.ZipFile(second).read("ledger/previous-checkpoint.json"))
    assert previous == earlier
    proof = json.loads(zipfile.ZipFile(second).read("ledger/consistency.json"))
    assert proof["from"] == earlier["size"] < proof["to"]
    proof["proof"][0] = "00" * 32
    forged = _rewrite(
        second, tmp_path / "t.zip", {"ledger/consistency.json": json.dumps(proof).encode()}, resign=True
    )
    problems = bundles.verify_bundle(forged, _public()).problems
    assert len(problems) == 1 and "history was rewritten between the two checkpoints" in problems[0]


def _rewrite(src: Path, out: Path, changes: dict[str, bytes | None], *, resign: bool = False) -> Path:
    """Copy a bundle with files replaced or removed; `resign` updates the manifest and signs it again
    with the programme key, as an insider with the key would, so only the chain check can notice."""
    with zipfile.ZipFile(src) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    for name, data in changes.items():
        if data is None:
            files.pop(name, None)
        else:
            files[name] = data
    if resign:
        manifest = json.loads(files["manifest.json"])
        manifest["files"] = {
            n: ledger.sha256_hex(d) for n, d in files.items() if n not in ("manifest.json", "signature")
        }
        files["manifest.json"] = json.dumps(manifest).encode()
        files["signature"] = bundles.sign_manifest(manifest, keys.ensure_key()).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out


def test_an_edited_report_is_named(use_case: dict[str, str], tmp_path: Path) -> None:
    bundle = _export(tmp_path, pdf=False)
    html = zipfile.ZipFile(bundle).read("report.html").replace(b"changes_requested", b"accepted")
    html = html.replace(b"changes requested", b"accepted")
    check = bundles.verify_bundle(_rewrite(bundle, tmp_path / "t.zip", {"report.html": html}), _public())
    assert check.problems == ["report.html: edited (its SHA-256 does not match the manifest)"]


def test_an_edited_result_is_named(use_case: dict[str, str], tmp_path: Path) -> None:
    bundle = _export(tmp_path, pdf=False)
    name = next(n for n in zipfile.ZipFile(bundle).namelist() if n.startswith("results/"))
    data = zipfile.ZipFile(bundle).read(name).replace(b'"passed": false', b'"passed": true')
    check = bundles.verify_bundle(_rewrite(bundle, tmp_path / "t.zip", {name: data}), _public())
    assert check.problems == [f"{name}: edited (its SHA-256 does not match the manifest)"]


def test_an_edited_manifest_breaks_the_signature(use_case: dict[str, str], tmp_path: Path) -> None:
    bundle = _export(tmp_path, pdf=False)
    manifest = json.loads(zipfile.ZipFile(bundle).read("manifest.json"))
    manifest["workspace"]["bank"] = "Someone Else"
    check = bundles.verify_bundle(
        _rewrite(bundle, tmp_path / "t.zip", {"manifest.json": json.dumps(manifest).encode()}), _public()
    )
    assert len(check.problems) == 1 and check.problems[0].startswith("signature: does not verify")


def test_a_removed_ledger_entry_is_named(use_case: dict[str, str], tmp_path: Path) -> None:
    bundle = _export(tmp_path, pdf=False)
    lines = zipfile.ZipFile(bundle).read("ledger/entries.jsonl").splitlines(keepends=True)
    removed = json.loads(lines[3])["seq"]
    data = b"".join(lines[:3] + lines[4:])
    # plain removal: the file no longer matches the signed manifest
    check = bundles.verify_bundle(
        _rewrite(bundle, tmp_path / "a.zip", {"ledger/entries.jsonl": data}), _public()
    )
    assert check.problems[0] == "ledger/entries.jsonl: edited (its SHA-256 does not match the manifest)"
    assert any(f"entry {removed}, listed in the manifest, was removed" in p for p in check.problems)
    # even with the file digests re-signed, the manifest's list of entries names the missing one
    check = bundles.verify_bundle(
        _rewrite(bundle, tmp_path / "b.zip", {"ledger/entries.jsonl": data}, resign=True), _public()
    )
    assert check.problems[0] == f"ledger/entries.jsonl: entry {removed}, listed in the manifest, was removed"


def test_a_forged_or_foreign_entry_is_not_proven(use_case: dict[str, str], tmp_path: Path) -> None:
    """An entry made up with a consistent hash has no inclusion proof to the signed root; another
    workspace's entry does not belong in the bundle at all."""
    from finsandbox.ledger.chain import entry_hash

    bundle = _export(tmp_path, pdf=False)
    entries = [json.loads(x) for x in zipfile.ZipFile(bundle).read("ledger/entries.jsonl").splitlines()]
    forged = dict(entries[-1])
    forged["payload"] = json.dumps({"decision": "accepted"})
    forged["payload_digest"] = ledger.sha256_hex(forged["payload"])
    forged["entry_hash"] = entry_hash(
        **{
            k: forged[k]
            for k in ("seq", "ts", "actor", "workspace_id", "kind", "payload_digest", "prev_hash")
        }
    )
    data = "".join(json.dumps(e) + "\n" for e in [*entries[:-1], forged]).encode()
    problems = bundles.verify_bundle(
        _rewrite(bundle, tmp_path / "f.zip", {"ledger/entries.jsonl": data}, resign=True), _public()
    ).problems
    assert problems == [
        f"ledger/entries.jsonl: entry {forged['seq']} ({forged['kind']}) is not proven part of the ledger: "
        "its inclusion proof does not lead to the signed checkpoint's root"
    ]
    foreign = dict(entries[0], workspace_id="0" * 32)
    data = "".join(json.dumps(e) + "\n" for e in [foreign, *entries[1:]]).encode()
    problems = bundles.verify_bundle(
        _rewrite(bundle, tmp_path / "g.zip", {"ledger/entries.jsonl": data}, resign=True), _public()
    ).problems
    assert any("belongs to another workspace; a bundle carries only its own entries" in p for p in problems)


def test_an_edited_ledger_payload_is_named_even_when_resigned(
    use_case: dict[str, str], tmp_path: Path
) -> None:
    bundle = _export(tmp_path, pdf=False)
    entries = [json.loads(x) for x in zipfile.ZipFile(bundle).read("ledger/entries.jsonl").splitlines()]
    target = next(e for e in entries if e["kind"] == "review.decided")
    target["payload"] = target["payload"].replace("changes_requested", "accepted")
    data = "".join(json.dumps(e) + "\n" for e in entries).encode()
    check = bundles.verify_bundle(
        _rewrite(bundle, tmp_path / "t.zip", {"ledger/entries.jsonl": data}, resign=True), _public()
    )
    assert check.problems == [
        f"ledger/entries.jsonl: entry {target['seq']} (review.decided) was edited: "
        "its payload does not match its digest"
    ]


def test_removing_the_newest_entries_is_caught_by_the_signed_manifest(
    use_case: dict[str, str], tmp_path: Path
) -> None:
    bundle = _export(tmp_path, pdf=False)
    lines = zipfile.ZipFile(bundle).read("ledger/entries.jsonl").splitlines(keepends=True)
    check = bundles.verify_bundle(
        _rewrite(bundle, tmp_path / "t.zip", {"ledger/entries.jsonl": b"".join(lines[:-1])}, resign=True),
        _public(),
    )
    assert any("listed in the manifest, was removed" in p for p in check.problems)
    assert any("review" in p and "not among the bundle's entries" in p for p in check.problems)


def test_a_wrong_key_is_named(use_case: dict[str, str], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    bundle = _export(tmp_path, pdf=False)
    other = Ed25519PrivateKey.generate().public_key()
    check = bundles.verify_bundle(bundle, other)
    assert "signed by key" in check.problems[0] and keys.key_id(other) in check.problems[0]
    assert check.problems[1:] == [
        f"ledger/checkpoint.json: its signature does not verify with public key {keys.key_id(other)}"
    ]


def test_an_added_file_and_a_non_zip_are_refused(use_case: dict[str, str], tmp_path: Path) -> None:
    bundle = _export(tmp_path, pdf=False)
    check = bundles.verify_bundle(_rewrite(bundle, tmp_path / "t.zip", {"extra.txt": b"hi"}), _public())
    assert check.problems == ["extra.txt: in the bundle but not listed in the manifest"]
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert bundles.verify_bundle(junk, _public()).problems == [f"{junk}: not a zip file"]


def test_the_programme_key_is_private_to_its_owner(use_case: dict[str, str]) -> None:
    keys.ensure_key()
    assert keys.private_key_path().stat().st_mode & 0o777 == 0o600
    pub = keys.load_public_key(keys.public_key_path())
    assert keys.key_id(pub) == keys.key_id(keys.ensure_key().public_key())


def test_a_use_case_without_trials_still_gets_a_report_and_a_bundle(db: str, tmp_path: Path) -> None:
    make_workspace("ws-new", "Alpha Bank")
    with session_scope(write=True) as s:
        info = bundles.export_bundle(s, "ws-new", tmp_path / "b.zip", actor="test", pdf=True)
    with zipfile.ZipFile(info.path) as zf:
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(zf.read("report.pdf"))).pages)
    assert "No trial of this use case has finished." in text
    assert "No supervisor review was opened for this use case." in text
    assert bundles.verify_bundle(info.path, _public()).ok
