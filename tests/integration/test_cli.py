"""The `ballot` command: every verb has --help; init, load, issue and demo work end to end."""

import csv
import os
import stat

import pytest
from click.testing import CliRunner
from conftest import ROOT
from sqlalchemy import func, select

from ballot.cli import main
from ballot.storage.db import Database
from ballot.storage.models import Credential, Item, Meeting

VERBS = [
    [],
    ["init"],
    ["db"],
    ["db", "upgrade"],
    ["create-admin"],
    ["meeting"],
    ["meeting", "load"],
    ["codes"],
    ["codes", "issue"],
    ["serve"],
    ["demo"],
]


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: " ".join(v) or "ballot")
def test_help(verb):
    result = CliRunner().invoke(main, [*verb, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


@pytest.fixture
def instance(tmp_path, monkeypatch, backend, db_url):
    monkeypatch.delenv("BALLOT_SECRET_KEY", raising=False)
    if backend == "postgresql":
        monkeypatch.setenv("BALLOT_DATABASE_URL", db_url)
    else:
        monkeypatch.delenv("BALLOT_DATABASE_URL", raising=False)
    return tmp_path / "inst"


def test_init_load_issue(instance, tmp_path):
    run = CliRunner()
    assert run.invoke(main, ["init", "--instance", str(instance)]).exit_code == 0
    secret = instance / "secret.key"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    r = run.invoke(main, ["create-admin", "--instance", str(instance)])
    assert r.exit_code == 0 and "密码" in r.output
    r = run.invoke(
        main,
        [
            "meeting",
            "load",
            "--instance",
            str(instance),
            str(ROOT / "examples" / "standing-committee-appointments.toml"),
        ],
    )
    assert r.exit_code == 0, r.output
    out = tmp_path / "codes.csv"
    r = run.invoke(main, ["codes", "issue", "--instance", str(instance), "1", "--count", "11", "--csv", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert len(rows) == 12 and rows[1][4] == "县委常委"
    bad = run.invoke(main, ["codes", "issue", "--instance", str(instance), "99", "--count", "1", "--csv", str(out)])
    assert bad.exit_code != 0 and "不存在" in bad.output
    broken = tmp_path / "broken.toml"
    broken.write_text("[meeting]\ntitle = '缺少表决组'\n", encoding="utf-8")
    r = run.invoke(main, ["meeting", "load", "--instance", str(instance), str(broken)])
    assert r.exit_code != 0 and "[[groups]]" in r.output
    rare = tmp_path / "rare.toml"
    rare.write_text(
        "[meeting]\ntitle = '生僻字'\n[[groups]]\nname = '委员'\nexpected = 3\n"
        "[[items]]\ntitle = '表决'\nnominees = ['刘䶮', '王宏']\n",
        encoding="utf-8",
    )
    r = run.invoke(main, ["meeting", "load", "--instance", str(instance), str(rare)])
    assert r.exit_code == 0 and "警告：“䶮”只知笔画数（9画）" in r.output and "（刘䶮）" in r.output


def test_demo_prepares_a_meeting(instance, backend):
    if backend != "sqlite":
        pytest.skip("the demo runs on SQLite")
    r = CliRunner().invoke(main, ["demo", "--instance", str(instance), "--no-serve"])
    assert r.exit_code == 0, r.output
    assert "管理页面：http://127.0.0.1:8000/admin/" in r.output and "示例投票链接：http://127.0.0.1:8000/v/" in r.output
    db = Database(f"sqlite:///{instance / 'ballot.db'}")
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(Credential)).scalar_one() == 30
        assert s.execute(select(func.count()).select_from(Meeting)).scalar_one() == 1
        assert s.execute(select(Item.status).order_by(Item.position)).scalars().first() == "open"
    db.dispose()
    again = CliRunner().invoke(main, ["demo", "--instance", str(instance), "--no-serve"])
    assert again.exit_code == 0  # a fresh demo replaces the old one


def test_keys_are_recorded_for_every_server(instance, tmp_path, backend):
    if backend != "postgresql":
        pytest.skip("a second app server needs the shared database")
    run = CliRunner()
    made = run.invoke(main, ["init", "--instance", str(instance)])
    assert made.exit_code == 0 and "签名密钥已生成" in made.output
    # a second server whose instance folder is not the shared one: no key of its own, and a warning
    joined = run.invoke(main, ["init", "--instance", str(tmp_path / "second")])
    assert joined.exit_code == 0 and "签名密钥已生成" not in joined.output and "共享" in joined.output
    rotated = run.invoke(main, ["keys", "rotate", "--instance", str(instance)])
    new_id = rotated.output.split("：")[1].split("（")[0]
    shown = run.invoke(main, ["keys", "show", "--instance", str(tmp_path / "second")]).output.splitlines()
    assert shown[0].startswith(f"当前密钥 {new_id}") and shown[1].startswith("旧密钥") and len(shown) == 2
