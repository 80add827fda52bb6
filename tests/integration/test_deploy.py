"""The deployment people copy: deploy/compose.yaml holds together (checked by `docker compose
config` where the compose plugin exists, else by its structure), the entry script's one-shot
commands work, and deploy/backup-pg.sh makes a dump that restores into a scratch database whose
audit chain checks out."""

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from server import ENTRYPOINT
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from ballot.storage import audit
from ballot.storage.db import Database
from ballot.storage.models import AuditEntry

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
BACKUP = DEPLOY / "backup-pg.sh"
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None) if Path("/usr/lib/postgresql").is_dir() else None


def test_compose_file_holds_together():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"db", "migrate", "app1", "app2", "proxy"} <= set(services)
    assert int(re.match(r"postgres:(\d+)", services["db"]["image"]).group(1)) >= 15
    migrate = services["migrate"]
    assert migrate["command"] == ["init"] and migrate["restart"] == "no"
    apps = [services["app1"], services["app2"]]
    upstream = re.search(r"upstream ballot_app \{(.*?)\}", (DEPLOY / "nginx-tls.conf").read_text(), re.S).group(1)
    assert re.findall(r"server (\S+);", upstream) == ["app1:8000", "app2:8000"]
    for app in apps:
        # migrations run once, before any app server starts
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert app["depends_on"]["db"]["condition"] == "service_healthy"
        env = app["environment"]
        assert env["BALLOT_MIGRATE"] == "0" and env["BALLOT_TRUSTED_PROXIES"] == "1"
        assert "@" in env["BALLOT_DATABASE_URL"] and ":" not in env["BALLOT_DATABASE_URL"].split("//")[1].split("@")[0]
        assert "ports" not in app  # only the proxy reaches them: what makes trusting one hop safe
        # one instance volume for every server and the migration: one secret, one set of signing keys
        assert app["volumes"] == migrate["volumes"] == ["instance:/data"]
        assert app["secrets"] == ["pg_password"] and env["PGPASSWORD_FILE"] == "/run/secrets/pg_password"
    assert services["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/pg_password"
    assert set(compose["secrets"]) == {"pg_password"} and {"pgdata", "instance"} <= set(compose["volumes"])
    build = apps[0]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
    proxy = services["proxy"]
    assert set(proxy["ports"]) == {"80:80", "443:443"}
    mounts = {dst: src for src, dst, _mode in (v.rsplit(":", 2) for v in proxy["volumes"])}
    assert (DEPLOY / mounts["/etc/nginx/conf.d/default.conf"]).resolve() == DEPLOY / "nginx-tls.conf"
    assert (DEPLOY / mounts["/etc/nginx/ballot/proxy.conf"]).resolve() == DEPLOY / "ballot-proxy.conf"
    assert "include /etc/nginx/ballot/proxy.conf;" in (DEPLOY / "nginx-tls.conf").read_text()
    assert "/etc/nginx/tls" in mounts and "/etc/nginx/tls/fullchain.pem" in (DEPLOY / "nginx-tls.conf").read_text()
    backup = services["backup"]
    assert backup["entrypoint"] == ["/backup-pg.sh"] and "./backup-pg.sh:/backup-pg.sh:ro" in backup["volumes"]


def test_compose_config_when_docker_compose_is_installed(tmp_path):
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed (the structure test above still runs)")
    env = dict(os.environ, BALLOT_PUBLIC_URL="https://vote.example.org")
    secrets = DEPLOY / "secrets"
    made = not secrets.exists()
    if made:  # compose checks that a secret's file exists
        secrets.mkdir()
        (secrets / "pg_password").write_text("x")
    try:
        result = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True, text=True)
    finally:
        if made:
            shutil.rmtree(secrets)
    assert result.returncode == 0, result.stderr


def test_the_entry_script_runs_one_command_with_the_password_from_a_file(tmp_path):
    """compose's `migrate` service: `ballot-entrypoint init` makes the secret, schema and signing key."""
    password = tmp_path / "pg_password"
    password.write_text("not-used-by-sqlite\n")
    env = dict(
        os.environ,
        BALLOT_DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'ballot.db'}",
        BALLOT_INSTANCE=str(tmp_path / "data"),
        PGPASSWORD_FILE=str(password),
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    )
    env.pop("BALLOT_SECRET_KEY", None)
    result = subprocess.run([str(ENTRYPOINT), "init"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "签名密钥已生成" in result.stdout and (tmp_path / "data" / "secret.key").exists()
    again = subprocess.run([str(ENTRYPOINT), "init"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "签名密钥已生成" not in again.stdout  # idempotent: one key


def _libpq_env(url: str, extra: dict) -> dict:
    u = make_url(url)
    env = dict(os.environ, PGHOST=u.host or "", PGPORT=str(u.port or 5432), PGUSER=u.username or "", PGDATABASE=u.database)
    if u.password:
        env["PGPASSWORD"] = u.password
    return {**env, **extra}


def test_backup_script_dumps_keeps_recent_dumps_and_restores_into_a_scratch_database(world, backend, tmp_path):
    if backend != "postgresql":
        pytest.skip("deploy/backup-pg.sh backs up PostgreSQL (SQLite: `ballot backup`)")
    if PG_BIN is None or not (PG_BIN / "pg_dump").exists():
        pytest.skip("pg_dump is not installed")
    m = world.standard()
    world.codes(m.groups[0].id, 3)
    world.present(m.groups[0].id, 11)
    world.open(m.items[0].id)  # some audit entries to check
    backups = tmp_path / "backups"
    backups.mkdir()
    old, recent = backups / "ballot-20200101T000000Z.dump", backups / "ballot-19990101T000000Z.dump.keep"
    for path, age_days in ((old, 30), (recent, 30)):
        path.write_bytes(b"old")
        os.utime(path, (time.time() - age_days * 86400,) * 2)
    env = _libpq_env(world.settings.database_url, {"BACKUP_DIR": str(backups), "PG_BIN": str(PG_BIN), "BACKUP_KEEP_DAYS": "14"})
    result = subprocess.run([str(BACKUP)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    dump = Path(result.stdout.strip())
    assert dump.parent == backups and dump.exists() and oct(dump.stat().st_mode)[-3:] == "600"
    assert not old.exists() and recent.exists()  # only old dumps go, and only the script's own
    assert not list(backups.glob("*.partial"))
    # the restore drill of docs/operations.md#backups: a scratch database, then ballot's own checks
    scratch = f"restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(world.settings.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {scratch}"))
    scratch_url = re.sub(r"/[^/]*$", f"/{scratch}", world.settings.database_url)
    try:
        restore = subprocess.run(
            [str(PG_BIN / "pg_restore"), "--no-owner", "--exit-on-error", "--dbname", scratch, str(dump)],
            env=_libpq_env(world.settings.database_url, {}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert restore.returncode == 0, restore.stderr
        restored = Database(scratch_url)
        try:
            with world.db.read() as s, restored.read() as r:
                entries = list(r.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
                ok, message = audit.verify_chain(entries)
                assert ok, message
                assert len(entries) == s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() > 0
                tables = inspect(restored.read_engine).get_table_names()
                for table in tables:
                    count = f"SELECT count(*) FROM {table}"
                    assert r.execute(text(count)).scalar_one() == s.execute(text(count)).scalar_one(), table
        finally:
            restored.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
        admin.dispose()
