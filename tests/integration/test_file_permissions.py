"""The SQLite instance is private to the service user: after `ballot init`, a served run that writes,
and `ballot backup`, every file in the instance folder is 0600 and every folder 0700 — the
database and its -wal and -shm included, even when the shell's umask is the usual 022 and an older
instance left its files world-readable."""

import os
import stat
import tomllib
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import ROOT
from server import running_server

from ballot.cli import main
from ballot.config import load_settings

pytestmark = pytest.mark.server


@pytest.fixture
def usual_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(folder: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        out[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def not_private(folder: Path) -> dict[str, str]:
    wrong = {}
    for name, mode in modes(folder).items():
        want = 0o700 if (folder / name).is_dir() else 0o600
        if mode != want:
            wrong[name] = oct(mode)
    return wrong


def cli(*args):
    os.umask(0o022)  # every command starts from a shell's usual umask
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_instance_files_are_private_after_init_a_served_run_and_a_backup(tmp_path, monkeypatch, usual_umask):
    monkeypatch.delenv("BALLOT_SECRET_KEY", raising=False)
    monkeypatch.delenv("BALLOT_DATABASE_URL", raising=False)
    instance = tmp_path / "inst"
    cli("init", "--instance", instance)
    assert {"ballot.db", "secret.key", "signing"} <= set(os.listdir(instance))
    assert not_private(instance) == {}
    cli("create-admin", "--instance", instance, "--password", "correct-horse-battery")
    token = cli("api-token", "create", "--instance", instance, "--user", "admin").strip()
    # an instance set up before: its files were left world-readable
    for name in ("ballot.db", "secret.key"):
        os.chmod(instance / name, 0o644)
    os.chmod(instance, 0o755)
    settings = load_settings(instance)
    os.umask(0o022)
    with running_server(settings, tmp_path / "server.log", workers=1, threads=2) as base:
        body = (ROOT / "examples" / "standing-committee-appointments.toml").read_text(encoding="utf-8")
        r = httpx.post(
            f"{base}/api/v1/meetings", json=tomllib.loads(body), headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201, r.text
        names = set(os.listdir(instance))
        assert {"ballot.db-wal", "ballot.db-shm"} <= names  # while the workers hold the database open
        assert not_private(instance) == {}
    cli("backup", "--instance", instance, instance / "backup-1.db")
    cli("meeting", "load", "--instance", instance, ROOT / "examples" / "standing-committee-appointments.toml")
    assert not_private(instance) == {}
