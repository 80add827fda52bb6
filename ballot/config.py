"""Settings: read once from the environment and the instance folder, then frozen.

The one place that reads the service's environment: modules receive a `Settings` (the web app
keeps it in `app.extensions`), so what configures the service is listed here and in the README's
table, and a test sets it by building a `Settings` rather than by changing the process environment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from dataclasses import dataclass, replace
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
    # a staff login ends this long after it began, however busy it was (not renewed by use)
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
    # Projector streams at once across every worker of every app server (leases in the database):
    # screen links need no login, so this bounds the connections and database watchers they can
    # hold in the whole deployment. 0 = no shared cap.
    screen_streams_total: int = 32
    # the name `ballot init` gives the instance's own unit (BALLOT_UNIT_NAME), e.g. 市委组织部
    unit_name: str = ""
    # The address printed on slips and shown to the clerk: fixed (BALLOT_PUBLIC_URL or
    # `serve --public-url`), else the LAN address `ballot serve` detected, else the request's host.
    public_url: str = ""
    detected_url: str = ""
    listen_host: str = ""  # what `ballot serve` listens on (a loopback address warns the clerk)
    secure_cookies: bool = False  # BALLOT_SECURE_COOKIES=1: Secure cookies even on plain HTTP
    testing: bool = False

    def derived_key(self, purpose: str) -> bytes:
        """Independent keys for independent uses, all from the one instance secret."""
        return hmac.new(self.master_secret, purpose.encode(), hashlib.sha256).digest()

    def with_overrides(self, **kw) -> "Settings":
        return replace(self, **kw)


def default_instance_path() -> Path:
    return Path(os.environ.get("BALLOT_INSTANCE", "instance")).resolve()


MIN_SECRET_BYTES = 32

# What derives from the instance secret, hence what a new secret loses (see derived_key's users).
_RECOVERY = (
    "请从备份（或另一台应用服务器）恢复原来的 secret.key，或设置原来的 BALLOT_SECRET_KEY。"
    "如原密钥已无法找回，可删除（或移走）该文件后运行 `ballot init` 生成新密钥，代价是："
    "已签发的票码全部失效（须作废后重新签发），所有投票人和工作人员的登录失效，大屏链接失效（须重新生成）；"
    "账号密码、API 令牌和签名密钥不受影响。"
)


def _checked_secret(secret: bytes, source: str) -> bytes:
    """A short secret (an emptied file, a typo in the variable) would let anyone forge a staff
    cookie or a code hash: refuse to start rather than run on it."""
    if len(secret) < MIN_SECRET_BYTES:
        raise SystemExit(
            f"实例密钥过短：{source} 只有 {len(secret)} 字节，至少需要 {MIN_SECRET_BYTES} 字节，服务拒绝启动。{_RECOVERY}"
        )
    return secret


def _write_new_secret(path: Path) -> None:
    """Write a fresh secret whole or not at all: a temporary file (0600), flushed to disk, then
    linked into place (never over an existing secret), and the folder synced."""
    fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another `init` made one first: use that one
    finally:
        os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_or_create_secret(instance_path: Path, create: bool) -> bytes:
    env = os.environ.get("BALLOT_SECRET_KEY")
    if env:  # set but empty means unset, as in scripts/entrypoint.sh
        return _checked_secret(env.encode(), "环境变量 BALLOT_SECRET_KEY")
    path = instance_path / SECRET_FILE
    if not path.exists():
        if not create:
            raise SystemExit(f"实例密钥不存在：{path}。请先运行 `ballot init`，或设置环境变量 BALLOT_SECRET_KEY。")
        instance_path.mkdir(parents=True, exist_ok=True)
        _write_new_secret(path)
    return _checked_secret(path.read_bytes().strip(), str(path))


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
        clerk_session_minutes=_int_env("BALLOT_STAFF_SESSION_MINUTES", 8 * 60),
        code_failures_per_client=_int_env("BALLOT_CODE_FAILURES_PER_CLIENT", 10),
        code_failures_global=_int_env("BALLOT_CODE_FAILURES_GLOBAL", 600),
        screen_streams=_int_env("BALLOT_SCREEN_STREAMS", 4),
        screen_streams_total=_int_env("BALLOT_SCREEN_STREAMS_TOTAL", 32),
        unit_name=os.environ.get("BALLOT_UNIT_NAME", "").strip(),
        public_url=os.environ.get("BALLOT_PUBLIC_URL", "").strip(),
        secure_cookies=os.environ.get("BALLOT_SECURE_COOKIES") == "1",
    )


SIGNING_PASSPHRASE = "BALLOT_SIGNING_PASSPHRASE"


def signing_passphrase() -> bytes | None:
    """The passphrase of the signing key file, read when a key is made or loaded rather than kept
    in `Settings`: the secret then lives no longer than its use, and is never in a settings repr."""
    value = os.environ.get(SIGNING_PASSPHRASE)
    return value.encode() if value else None
