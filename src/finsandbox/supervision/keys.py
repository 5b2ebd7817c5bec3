"""The programme's Ed25519 signing key: made on first use, kept owner-only in the data directory.

Exit bundles are signed with it; anyone holding the public key can check a bundle offline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from finsandbox.config import get_settings
from finsandbox.errors import ConfigError, InvalidRequest

PRIVATE_NAME = "programme-ed25519.pem"
PUBLIC_NAME = "programme-ed25519.pub.pem"


def key_dir() -> Path:
    path = get_settings().ensure_home() / "keys"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def private_key_path() -> Path:
    return key_dir() / PRIVATE_NAME


def public_key_path() -> Path:
    return key_dir() / PUBLIC_NAME


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create the file with its final permissions from the start (no window where it is readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def ensure_key() -> Ed25519PrivateKey:
    """The programme's private key, generated (0600) the first time it is needed."""
    path = private_key_path()
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            _write_new(path, pem, 0o600)
        except FileExistsError:
            pass  # another process made it first; use theirs
        else:
            pub = public_key_path()
            pub.unlink(missing_ok=True)
            _write_new(pub, public_bytes(key.public_key()), 0o644)
            return key
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"the programme's private key {path} is readable by others (mode {mode:o}); "
            f"run `chmod 600 {path}` and consider rotating it"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"the programme's private key {path} cannot be read: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"the programme's private key {path} is not an Ed25519 key")
    if not public_key_path().exists():
        _write_new(public_key_path(), public_bytes(key.public_key()), 0o644)
    return key


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(spec: str | Path) -> Ed25519PublicKey:
    """A public key from a PEM file, or given inline as PEM, base64 or hex of its 32 raw bytes."""
    text: str
    path = Path(str(spec))
    try:
        is_file = path.is_file()
    except OSError:
        is_file = False
    text = path.read_text(encoding="utf-8", errors="replace") if is_file else str(spec)
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise InvalidRequest("the public key is not an Ed25519 key")
            return key
        raw: bytes | None = None
        if len(text) == 64:
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raw = None
        if raw is None:
            raw = base64.b64decode(text, validate=True)
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key has 32 bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        where = f"the file {path}" if is_file else "the given text"
        raise InvalidRequest(
            f"{where} is not an Ed25519 public key (PEM, or base64/hex of 32 bytes): {exc}"
        ) from None
