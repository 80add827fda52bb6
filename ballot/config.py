"""Settings: read once from the environment and the instance folder, then frozen."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

SECRET_FILE = "secret.key"


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    master_secret: bytes
    # How many reverse proxies in front of us may set X-Forwarded-For (0 = trust none).
    trusted_proxies: int = 0
    voter_session_minutes: int = 8 * 60
    clerk_session_minutes: int = 8 * 60
    # Failed-code limits: per client, and a global ceiling that only throttles clients that
    # have failed themselves, so an attack elsewhere never locks out a hall of honest voters.
    code_failures_per_client: int = 10
    code_failure_window_seconds: int = 300
    code_failures_global: int = 600
    login_failures_per_client: int = 5
    login_failure_window_seconds: int = 300
    # Projector screens streamed (SSE) at once per process; served by threads added on top of the
    # voting threads, so screens never take a thread a vote needs. More screens fall back to polling.
    screen_streams: int = 4
    testing: bool = False
    extra: dict = field(default_factory=dict)

    def derived_key(self, purpose: str) -> bytes:
        """Independent keys for independent uses, all from the one instance secret."""
        return hmac.new(self.master_secret, purpose.encode(), hashlib.sha256).digest()

    def with_overrides(self, **kw) -> "Settings":
        return replace(self, **kw)


def default_instance_path() -> Path:
    return Path(os.environ.get("BALLOT_INSTANCE", "instance")).resolve()


def read_or_create_secret(instance_path: Path, create: bool) -> bytes:
    env = os.environ.get("BALLOT_SECRET_KEY")
    if env:
        return env.encode()
    path = instance_path / SECRET_FILE
    if path.exists():
        return path.read_bytes().strip()
    if not create:
        raise SystemExit(f"实例密钥不存在：{path}。请先运行 `ballot init`，或设置环境变量 BALLOT_SECRET_KEY。")
    instance_path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def load_settings(instance_path: Path | None = None, create_secret: bool = False) -> Settings:
    instance = Path(instance_path).resolve() if instance_path else default_instance_path()
    db_url = os.environ.get("BALLOT_DATABASE_URL") or f"sqlite:///{instance / 'ballot.db'}"
    return Settings(
        instance_path=instance,
        database_url=db_url,
        master_secret=read_or_create_secret(instance, create_secret),
        trusted_proxies=_int_env("BALLOT_TRUSTED_PROXIES", 0),
        voter_session_minutes=_int_env("BALLOT_VOTER_SESSION_MINUTES", 8 * 60),
        code_failures_per_client=_int_env("BALLOT_CODE_FAILURES_PER_CLIENT", 10),
        code_failures_global=_int_env("BALLOT_CODE_FAILURES_GLOBAL", 600),
        screen_streams=_int_env("BALLOT_SCREEN_STREAMS", 4),
    )
