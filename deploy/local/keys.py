"""Secrets made once per data folder and kept across restarts.

<data>/keys/auth_private.pem (0600) and auth_public.pem: the Ed25519 pair auth signs JWTs with;
<data>/keys/service_secret (0600): shared by the services to authenticate each other;
<data>/admin_password (0600): the seeded admin's password when SHOP_ADMIN_PASSWORD is unset.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyFiles:
    private_key: Path
    public_key: Path
    service_secret: Path


def write_private(path: Path, data: bytes) -> None:
    """Writes `data` with mode 0600, atomically (a crash leaves the old file or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _restrict(path: Path) -> None:
    # A secret copied in by hand may carry looser bits; nobody but the owner needs to read it.
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def ensure_keys(data_dir: Path) -> KeyFiles:
    """Creates what is missing under <data>/keys and returns the paths; never replaces a key."""
    keys = data_dir / "keys"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = KeyFiles(keys / "auth_private.pem", keys / "auth_public.pem", keys / "service_secret")

    if files.private_key.exists():
        private = serialization.load_pem_private_key(files.private_key.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{files.private_key} does not hold an Ed25519 private key")
        _restrict(files.private_key)
    else:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(files.private_key, pem)

    # The public key always follows from the private one, so a lost or stale copy is repaired.
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not files.public_key.exists() or files.public_key.read_bytes() != public_pem:
        files.public_key.write_bytes(public_pem)

    if files.service_secret.exists() and files.service_secret.read_text().strip():
        _restrict(files.service_secret)
    else:
        write_private(files.service_secret, secrets.token_hex(32).encode())
    return files


def ensure_admin_password(data_dir: Path) -> str:
    """The admin password stored in <data>/admin_password, made on first use."""
    path = data_dir / "admin_password"
    if path.exists():
        password = path.read_text().strip()
        if password:
            _restrict(path)
            return password
    password = secrets.token_urlsafe(18)
    write_private(path, password.encode())
    return password
