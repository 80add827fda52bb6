"""Staff sessions that can be ended, the users page, the instance secret, Secure cookies, and
who may make the server sign an archive."""

import base64
import io
import os
import stat
import time
import zipfile

import pytest
from click.testing import CliRunner
from conftest import PASSWORD, csrf_of, login
from sqlalchemy import select
from voting import enter, review

from ballot.archive import signing
from ballot.cli import main
from ballot.config import load_settings
from ballot.storage import audit
from ballot.storage.models import AuditEntry, User
from ballot.web import create_app

COOKIE = "ballot_session"


def post(client, url, data, page_url="/admin/"):
    page = client.get(page_url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_of(page)})


def copy_of(app, client):
    """Another device holding a copy of the client's cookie (sniffed, or taken from a laptop)."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def actions(world) -> list[tuple[str, str]]:
    with world.db.read() as s:
        return [(e.action, e.detail_json) for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]


def user_id(world, username: str) -> int:
    with world.db.read() as s:
        return s.execute(select(User.id).where(User.username == username)).scalar_one()


# -- sessions end when they should ------------------------------------------------------------


def test_a_copied_cookie_stops_working_at_logout(app, world):
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    thief = copy_of(app, clerk)
    assert logged_in(thief)
    assert post(clerk, "/admin/logout", {}).status_code == 303
    assert not logged_in(thief) and not logged_in(clerk)
    assert thief.get("/admin/").headers["Location"].endswith("/admin/login")


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, world):
    world.staff("chair")
    here, elsewhere = app.test_client(), app.test_client()
    login(here, "chair1")
    login(elsewhere, "chair1")
    new = "another-long-password"
    wrong = post(here, "/admin/password", {"current": "wrong", "new": new, "repeat": new}, "/admin/password")
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.get_data(as_text=True)
    assert logged_in(elsewhere)
    r = post(here, "/admin/password", {"current": PASSWORD, "new": new, "repeat": new}, "/admin/password")
    assert r.status_code == 200 and "密码已修改" in r.get_data(as_text=True)
    assert logged_in(here) and not logged_in(elsewhere)
    assert login(app.test_client(), "chair1").status_code == 401
    assert login(app.test_client(), "chair1", new).status_code == 303
    assert ("user.password_change", '{"username": "chair1"}') in actions(world)


def test_a_taken_over_session_cannot_guess_the_current_password(app, world, settings):
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    new = "another-long-password"
    for _ in range(3):  # a typo in the new password is no guess
        r = post(clerk, "/admin/password", {"current": "x", "new": new, "repeat": new + "!"}, "/admin/password")
        assert r.status_code == 400 and "不一致" in r.get_data(as_text=True)
    for i in range(settings.login_failures_per_client):
        r = post(clerk, "/admin/password", {"current": f"guess-{i}", "new": new, "repeat": new}, "/admin/password")
        assert r.status_code == 400
    r = post(clerk, "/admin/password", {"current": PASSWORD, "new": new, "repeat": new}, "/admin/password")
    assert r.status_code == 429


@pytest.mark.parametrize("change", ["deactivate", "reset_password", "role"])
def test_the_administrator_ends_a_users_sessions(app, world, change):
    world.staff("admin")
    world.staff("scrutineer")
    admin, scrutineer = app.test_client(), app.test_client()
    login(admin, "admin1")
    login(scrutineer, "scrutineer1")
    thief = copy_of(app, scrutineer)
    uid = user_id(world, "scrutineer1")
    r = post(admin, f"/admin/users/{uid}", {"action": change, "role": "teller"}, "/admin/users")
    assert r.status_code in (200, 303)
    assert not logged_in(scrutineer) and not logged_in(thief)
    assert logged_in(admin)
    done = {"deactivate": "user.deactivate", "reset_password": "user.password_reset", "role": "user.role"}[change]
    assert any(action == done and "scrutineer1" in detail for action, detail in actions(world))
    if change == "reset_password":
        page = r.get_data(as_text=True)
        assert 'id="new-password"' in page
        assert login(app.test_client(), "scrutineer1").status_code == 401  # the old password is gone
    if change == "deactivate":
        assert login(app.test_client(), "scrutineer1").status_code == 401
    if change == "role":
        with world.db.read() as s:
            assert s.get(User, uid).role == "teller"
        assert ("user.role", '{"new": "teller", "old": "scrutineer", "username": "scrutineer1"}') in actions(world)


def test_users_page_adds_reactivates_and_keeps_one_administrator(app, world):
    world.staff("admin")
    admin = app.test_client()
    login(admin, "admin1")
    r = post(
        admin,
        "/admin/users",
        {"username": "teller9", "display_name": "计票甲", "role": "teller", "password": "teller-password-1"},
        "/admin/users",
    )
    assert r.status_code == 303
    teller = user_id(world, "teller9")
    post(admin, f"/admin/users/{teller}", {"action": "deactivate"}, "/admin/users")
    assert login(app.test_client(), "teller9", "teller-password-1").status_code == 401
    post(admin, f"/admin/users/{teller}", {"action": "activate"}, "/admin/users")
    assert login(app.test_client(), "teller9", "teller-password-1").status_code == 303
    me = user_id(world, "admin1")
    for change in ("deactivate", "role"):
        r = post(admin, f"/admin/users/{me}", {"action": change, "role": "clerk"}, "/admin/users")
        assert r.status_code == 400 and "唯一的管理员" in r.get_data(as_text=True)
    bad = post(admin, f"/admin/users/{teller}", {"action": "role", "role": "root"}, "/admin/users")
    assert bad.status_code == 400 and "角色无效" in bad.get_data(as_text=True)
    assert post(admin, "/admin/users/999999", {"action": "deactivate"}, "/admin/users").status_code == 404
    assert [a for a, _ in actions(world)] == ["user.create", "user.deactivate", "user.activate"]
    clerk_like = app.test_client()
    login(clerk_like, "teller9", "teller-password-1")
    assert post(clerk_like, f"/admin/users/{me}", {"action": "deactivate"}).status_code == 403


def test_a_staff_login_ends_after_its_lifetime_however_busy(settings, database, world, monkeypatch):
    app = create_app(settings.with_overrides(clerk_session_minutes=30), database)
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    start = time.time()
    for minutes in (10, 20, 29):  # busy all along: every request renews the cookie
        monkeypatch.setattr(time, "time", lambda m=minutes: start + m * 60)
        assert logged_in(clerk)
    monkeypatch.setattr(time, "time", lambda: start + 31 * 60)
    assert not logged_in(clerk)


# -- Secure cookies ------------------------------------------------------------------------------


def _login_cookie(app, world, base_url, headers=None) -> str:
    client = app.test_client()
    page = client.get("/admin/login", base_url=base_url, headers=headers).get_data(as_text=True)
    r = client.post(
        "/admin/login",
        base_url=base_url,
        headers=headers,
        data={"username": "clerk1", "password": PASSWORD, "csrf_token": csrf_of(page)},
    )
    assert r.status_code == 303
    return r.headers["Set-Cookie"]


def test_cookies_are_secure_whenever_the_request_came_over_https(settings, database, world):
    world.staff("clerk")
    direct = create_app(settings, database)
    assert "Secure" in _login_cookie(direct, world, "https://hall.example")
    assert "Secure" not in _login_cookie(direct, world, "http://hall.example")
    # a client's own X-Forwarded-Proto means nothing while no proxy is trusted
    assert "Secure" not in _login_cookie(direct, world, "http://hall.example", {"X-Forwarded-Proto": "https"})
    proxied = create_app(settings.with_overrides(trusted_proxies=1), database)
    https_proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"}
    assert "Secure" in _login_cookie(proxied, world, "http://hall.example", https_proxy)


# -- the instance secret ---------------------------------------------------------------------


def test_an_empty_or_short_secret_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("BALLOT_SECRET_KEY", raising=False)
    (tmp_path / "secret.key").write_text("")
    with pytest.raises(SystemExit) as refused:
        load_settings(tmp_path)
    text = str(refused.value)
    assert "实例密钥过短" in text and "至少需要 32 字节" in text and "ballot init" in text and "票码全部失效" in text
    with pytest.raises(SystemExit):
        load_settings(tmp_path, create_secret=True)  # `init` does not paper over it either
    assert (tmp_path / "secret.key").read_text() == ""
    monkeypatch.setenv("BALLOT_SECRET_KEY", "short")
    with pytest.raises(SystemExit, match="BALLOT_SECRET_KEY 只有 5 字节"):
        load_settings(tmp_path)
    monkeypatch.setenv("BALLOT_SECRET_KEY", "k" * 32)
    assert load_settings(tmp_path).master_secret == b"k" * 32


def test_init_writes_the_secret_whole_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("BALLOT_SECRET_KEY", raising=False)
    monkeypatch.setenv("BALLOT_DATABASE_URL", f"sqlite:///{tmp_path / 'ballot.db'}")
    instance = tmp_path / "inst"
    r = CliRunner().invoke(main, ["init", "--instance", str(instance)])
    assert r.exit_code == 0, r.output
    secret = instance / "secret.key"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600 and len(secret.read_bytes()) == 64
    assert sorted(p.name for p in instance.iterdir() if p.name.startswith(".secret")) == []  # no temp file left
    before = secret.read_bytes()
    assert CliRunner().invoke(main, ["init", "--instance", str(instance)]).exit_code == 0
    assert secret.read_bytes() == before  # init never replaces a secret
    secret.write_text("")
    r = CliRunner().invoke(main, ["init", "--instance", str(instance)])
    assert r.exit_code != 0 and "实例密钥过短" in r.output


# -- signing the archive -----------------------------------------------------------------------


def test_only_those_who_publish_results_sign_and_each_signing_is_recorded(app, world, settings):
    m, item, codes = world.ready(codes=1)
    world.close(item.id)
    key = signing.create_key(settings.instance_path)
    url = f"/admin/meetings/{m.id}/archive.zip"
    for role in ("teller", "scrutineer", "clerk"):
        world.staff(role)
        client = app.test_client()
        login(client, f"{role}1")
        assert client.get(url).status_code == 403
        page = client.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
        assert "archive.zip" not in page
        assert post(client, url, {"accept_unprintable": "1"}, f"/admin/meetings/{m.id}").status_code == 403
    assert not [a for a, _ in actions(world) if a == "archive.sign"]
    world.staff("chair")
    chair = app.test_client()
    login(chair, "chair1")
    r = chair.get(url)
    assert r.status_code == 200 and r.mimetype == "application/zip"
    zipfile.ZipFile(io.BytesIO(r.data)).testzip()
    with world.db.read() as s:
        (entry,) = [e for e in audit.entries(s, m.id) if e.action == "archive.sign"]
        assert (entry.actor, entry.role) == ("chair1", "chair")
        assert entry.detail_json == f'{{"accept_unprintable": false, "key": "{key.id_hex}"}}'


def test_forms_work_over_https(app, world):
    m = world.standard()
    code = world.codes(m.groups[0].id, 1)[0]
    client = app.test_client()
    page = client.get("/", base_url="https://vote.example.org").get_data(as_text=True)
    r = client.post("/enter", data={"code": code, "csrf_token": csrf_of(page)}, base_url="https://vote.example.org")
    assert r.status_code == 303


def test_session_cookie_is_encrypted(app, world):
    m, item, (code,) = world.ready(codes=1)
    phone = app.test_client()
    enter(phone, code)
    review(phone, item.id, {"n0": "yes", "n1": "no"})
    cookie = phone.get_cookie("ballot_session").value
    with world.db.read() as s:
        from ballot.storage.models import Credential

        cred_id = s.execute(select(Credential.id)).scalar_one()
    raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    for secret in (cred_id.encode(), b"votes", b"yes", b"receipt"):
        assert secret not in raw and secret.decode() not in cookie
    tampered = cookie[:-6] + ("A" if cookie[-6] != "A" else "B") + cookie[-5:]
    phone.set_cookie("ballot_session", tampered)
    assert phone.get("/ballot").status_code == 401  # a forged or damaged cookie is no session
