"""The instance's Ed25519 signing key, and signatures in the minisign format.

A signature made here verifies with the standard `minisign -V -p minisign.pub -m FILE` and with
`verify` below; no code of ours is needed to check a report years later. The private key is a
file in the instance folder (mode 0600, optionally encrypted with a passphrase from the
environment), never in the database or an image. Rotation keeps every older public key, so old
reports still verify.

minisign formats (https://jedisct1.github.io/minisign/): a public key is base64("Ed" ‖ key id
(8 bytes, little-endian) ‖ Ed25519 public key); a signature file is an untrusted comment line,
base64("ED" ‖ key id ‖ Ed25519(BLAKE2b-512(file))), a trusted comment line, and
base64(Ed25519(signature ‖ trusted comment)).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ballot.config import SIGNING_PASSPHRASE, signing_passphrase
from ballot.counting.errors import Refused

PASSPHRASE_ENV = SIGNING_PASSPHRASE
KEY_DIR = "signing"


class SigningError(Refused):
    """A problem with a key or a signature; the message is Chinese."""


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes  # 8 bytes, as minisign writes them
    raw: bytes  # 32 bytes

    @property
    def id_hex(self) -> str:
        """The key id as minisign prints it (big-endian hex of the little-endian number)."""
        return self.key_id[::-1].hex().upper()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the public key, in groups of four, for scrutineers to note."""
        digest = hashlib.sha256(self.raw).hexdigest().upper()
        return " ".join(digest[i : i + 4] for i in range(0, 32, 4))

    def minisign(self) -> str:
        encoded = base64.b64encode(b"Ed" + self.key_id + self.raw).decode()
        return f"untrusted comment: minisign public key {self.id_hex}\n{encoded}\n"

    @classmethod
    def parse(cls, text: str) -> "PublicKey":
        lines = [line for line in text.strip().splitlines() if line and not line.startswith("untrusted comment:")]
        try:
            blob = base64.b64decode(lines[0], validate=True)
        except (IndexError, ValueError):
            raise SigningError("公钥文件格式无效") from None
        if len(blob) != 42 or blob[:2] != b"Ed":
            raise SigningError("公钥文件格式无效（不是 minisign 公钥）")
        return cls(blob[2:10], blob[10:])


@dataclass(frozen=True)
class SigningKey:
    public: PublicKey
    private: Ed25519PrivateKey

    def sign(self, data: bytes, trusted_comment: str) -> str:
        """A minisign signature file (prehashed "ED") of `data`."""
        if "\n" in trusted_comment:
            raise SigningError("签名说明不能换行")
        signature = self.private.sign(hashlib.blake2b(data, digest_size=64).digest())
        global_signature = self.private.sign(signature + trusted_comment.encode())
        body = base64.b64encode(b"ED" + self.public.key_id + signature).decode()
        return (
            f"untrusted comment: signature from ballot key {self.public.id_hex}\n{body}\n"
            f"trusted comment: {trusted_comment}\n{base64.b64encode(global_signature).decode()}\n"
        )


def verify(data: bytes, signature_text: str, public: PublicKey) -> str:
    """The trusted comment if the signature is good; SigningError (Chinese) otherwise."""
    lines = signature_text.strip("\n").split("\n")
    if len(lines) != 4 or not lines[2].startswith("trusted comment: "):
        raise SigningError("签名文件格式无效")
    try:
        blob = base64.b64decode(lines[1], validate=True)
        global_signature = base64.b64decode(lines[3], validate=True)
    except ValueError:
        raise SigningError("签名文件格式无效") from None
    if len(blob) != 74 or blob[:2] not in (b"ED", b"Ed"):
        raise SigningError("签名文件格式无效")
    if blob[2:10] != public.key_id:
        raise SigningError(f"签名所用密钥（{blob[2:10][::-1].hex().upper()}）不是这个公钥（{public.id_hex}）")
    message = hashlib.blake2b(data, digest_size=64).digest() if blob[:2] == b"ED" else data
    key = Ed25519PublicKey.from_public_bytes(public.raw)
    comment = lines[2][len("trusted comment: ") :]
    try:
        key.verify(blob[10:], message)
        key.verify(global_signature, blob[10:] + comment.encode())
    except InvalidSignature:
        raise SigningError("签名与文件内容不符：文件被改动过，或签名不属于该文件") from None
    return comment


def _dir(instance_path: Path) -> Path:
    return Path(instance_path) / KEY_DIR


def _passphrase() -> bytes | None:
    return signing_passphrase()


def create_key(instance_path: Path) -> PublicKey:
    """A new current key (an earlier one stays, for verifying old reports)."""
    folder = _dir(instance_path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public = PublicKey(secrets.token_bytes(8), raw)
    passphrase = _passphrase()
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    key_file = folder / f"{public.id_hex}.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    (folder / f"{public.id_hex}.pub").write_text(public.minisign())
    (folder / "current").write_text(public.id_hex + "\n")
    return public


def ensure_key(instance_path: Path) -> PublicKey | None:
    """Make the instance's first key if it has none; the new key, or None if one existed."""
    return create_key(instance_path) if current_id(instance_path) is None else None


def public_keys(instance_path: Path) -> list[PublicKey]:
    """Every public key the instance ever had (the current one first)."""
    folder = _dir(instance_path)
    current = current_id(instance_path)
    keys = [PublicKey.parse(p.read_text()) for p in sorted(folder.glob("*.pub"))] if folder.is_dir() else []
    return sorted(keys, key=lambda k: k.id_hex != current)


def current_id(instance_path: Path) -> str | None:
    marker = _dir(instance_path) / "current"
    return marker.read_text().strip() if marker.exists() else None


def load_key(instance_path: Path, key_id: str | None = None) -> SigningKey:
    """The key `key_id` (by default the folder's current one) with its private half."""
    key_id = key_id or current_id(instance_path)
    if key_id is None:
        raise SigningError("实例还没有签名密钥：请先运行 `ballot init`（或 `ballot keys rotate`）")
    folder = _dir(instance_path)
    try:
        private = serialization.load_pem_private_key((folder / f"{key_id}.key").read_bytes(), _passphrase())
    except (TypeError, ValueError):
        raise SigningError(f"无法读取签名私钥：口令（环境变量 {PASSPHRASE_ENV}）不对或缺失") from None
    public = PublicKey.parse((folder / f"{key_id}.pub").read_text())
    return SigningKey(public, private)
