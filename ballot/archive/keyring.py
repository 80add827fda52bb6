"""Which signing key is current, as every worker and app server sees it.

The public keys live in the database (`signing_keys`, the newest row current), so `ballot keys
rotate` on any machine takes effect on every worker and app server at their next request, with
no restart and no cache to expire: reading the current key is one lookup in a table of a few
rows. The private keys stay files in the instance folder (signing.py), never in the database: a
`pg_dump` of the database must not be able to sign a report. Several app servers therefore mount
one instance folder (a shared volume; it already holds the one secret.key they all need), and a
server that lacks the current private key refuses to sign, naming the fix.

An instance whose keys predate this table (or a test that only made key files) has no rows: its
key files are read as before, and `ballot serve` and `ballot init` record them once.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ballot.clock import utcnow
from ballot.storage.models import SigningKeyRecord

from . import signing
from .signing import PublicKey, SigningError, SigningKey


def _recorded(session: Session) -> list[PublicKey]:
    rows = session.execute(select(SigningKeyRecord.public_key).order_by(SigningKeyRecord.id.desc())).scalars()
    return [PublicKey.parse(text) for text in rows]


def public_keys(session: Session, instance_path: Path) -> list[PublicKey]:
    """Every public key the instance ever had, the current one first."""
    return _recorded(session) or signing.public_keys(instance_path)


def current(session: Session, instance_path: Path) -> PublicKey | None:
    text = session.execute(
        select(SigningKeyRecord.public_key).order_by(SigningKeyRecord.id.desc()).limit(1)
    ).scalar_one_or_none()
    if text is not None:
        return PublicKey.parse(text)
    keys = signing.public_keys(instance_path)
    return keys[0] if keys else None


def signing_key(session: Session, instance_path: Path) -> SigningKey:
    """The current key with its private half, from this server's instance folder."""
    public = current(session, instance_path)
    if public is None:
        return signing.load_key(instance_path)  # its message says how to make one
    if not has_private(instance_path, public):
        raise SigningError(
            f"本服务器的实例文件夹中没有当前签名密钥 {public.id_hex} 的私钥：多台应用服务器须挂载同一个实例文件夹"
            "（共享卷），或在生成该密钥的服务器上导出。"
        )
    return signing.load_key(instance_path, public.id_hex)


def has_private(instance_path: Path, public: PublicKey) -> bool:
    return (Path(instance_path) / signing.KEY_DIR / f"{public.id_hex}.key").exists()


def record(session: Session, public: PublicKey) -> None:
    """Make `public` the current key everywhere (a key already recorded is left where it is)."""
    if session.execute(select(SigningKeyRecord.id).where(SigningKeyRecord.key_id == public.id_hex)).first() is None:
        session.add(SigningKeyRecord(key_id=public.id_hex, public_key=public.minisign(), created_at=utcnow()))
        session.flush()


def rotate(session: Session, instance_path: Path) -> PublicKey:
    """A new key file in the instance folder, current from the commit of `session` on."""
    public = signing.create_key(instance_path)
    record(session, public)
    return public


def adopt_files(session: Session, instance_path: Path) -> PublicKey | None:
    """Record the instance folder's keys if the database has none yet (older instances, and the
    first `ballot init`); the current key, or None if there is none anywhere.

    Only an empty table is filled: a server whose own folder holds some other key (an unshared
    instance folder) must not make it current behind everyone's back."""
    if _recorded(session):
        return current(session, instance_path)
    keys = signing.public_keys(instance_path)  # current first
    for public in reversed(keys):  # the current one last: it gets the newest row
        record(session, public)
    return keys[0] if keys else None
