"""Fixtures: a fresh database per test (SQLite file or PostgreSQL database), app, clients,
and factories for meetings, codes and casts."""

from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ballot.config import Settings
from ballot.meetings import meetingfile
from ballot.meetings.sittings import close_item, open_item, set_present
from ballot.meetings.users import create_user
from ballot.storage import audit
from ballot.storage.db import Database
from ballot.storage.migrate import upgrade
from ballot.storage.models import Meeting
from ballot.voting import credentials
from ballot.voting.sealing import compact_pending
from ballot.web import create_app

PG_URL = os.environ.get("BALLOT_TEST_PG_URL")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
# the helpers the tests share (voting, httpvoter, server, crashkit), importable by name as before
sys.path.insert(0, str(ROOT / "tests" / "support"))
ACTOR = audit.Actor("tester", "admin")
PASSWORD = "correct-horse-battery"

BACKENDS = ["sqlite", "postgresql"]


def pytest_collection_modifyitems(config, items):
    if PG_URL or not os.environ.get("BALLOT_TEST_REQUIRE_PG"):
        return
    raise pytest.UsageError("BALLOT_TEST_REQUIRE_PG is set but BALLOT_TEST_PG_URL is not")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template():
    if not PG_URL:
        yield None
        return
    name = f"tmpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    upgrade(_pg_db_url(name))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _pg_db_url(name: str) -> str:
    return re.sub(r"/[^/]*$", f"/{name}", PG_URL)


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL not configured (BALLOT_TEST_PG_URL); scripts/test.sh starts one")
    return request.param


@pytest.fixture
def db_url(backend, tmp_path, sqlite_template, pg_template):
    if backend == "sqlite":
        path = tmp_path / "ballot.db"
        shutil.copy(sqlite_template, path)
        shutil.copy(f"{sqlite_template}-live", f"{path}-live")  # the live store (sealing.py)
        yield f"sqlite:///{path}"
        return
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {pg_template}"))
    yield _pg_db_url(name)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    return Settings(
        instance_path=instance, database_url=db_url, master_secret=b"test-secret-" + b"x" * 20, testing=True
    )


@pytest.fixture
def database(settings):
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def app(settings, database):
    app = create_app(settings, database)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


class World:
    """Factories over one database: meetings, staff, codes, open/close."""

    def __init__(self, settings: Settings, database: Database):
        self.settings = settings
        self.db = database

    def staff(self, role: str, username: str | None = None) -> str:
        username = username or f"{role}1"
        with self.db.write() as s:
            create_user(s, username, PASSWORD, role)
        return username

    def meeting(self, toml: str) -> Meeting:
        with self.db.write() as s:
            m = meetingfile.load(s, ACTOR, toml)
            list(m.groups), list(m.items)
        return m

    def standard(self, expected: int = 11, nominees=("张三", "李四", "王五"), rule: str = "appointment") -> Meeting:
        names = ", ".join(f'"{n}"' for n in nominees)
        return self.meeting(f'''
[meeting]
title = "测试会议"
date = "2026-11-30"
[[groups]]
name = "常委"
expected = {expected}
[[items]]
title = "干部任免票决"
rule = "{rule}"
nominees = [{names}]
''')

    def ready(self, codes: int = 3, **standard):
        """A standard meeting with `codes` codes issued, 实到 entered and its item open."""
        m = self.standard(**standard)
        group, item = m.groups[0], m.items[0]
        issued = self.codes(group.id, codes)
        self.present(group.id, group.expected)
        self.open(item.id)
        return m, item, issued

    def codes(self, group_id: int, count: int) -> list[str]:
        with self.db.write() as s:
            from ballot.storage.models import VoterGroup

            group = s.get(VoterGroup, group_id)
            return credentials.issue_codes(s, self.settings.derived_key("credential"), group, count, ACTOR)

    def present(self, group_id: int, present: int) -> None:
        from ballot.storage.models import VoterGroup

        with self.db.write() as s:
            set_present(s, ACTOR, s.get(VoterGroup, group_id), present)

    def open(self, item_id: int) -> None:
        with self.db.write() as s:
            open_item(s, ACTOR, item_id)

    def close(self, item_id: int) -> None:
        with self.db.write() as s:
            close_item(s, ACTOR, item_id)
        assert compact_pending(self.db)


@pytest.fixture
def world(settings, database) -> World:
    return World(settings, database)


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on page"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/admin/login").get_data(as_text=True)
    return client.post("/admin/login", data={"username": username, "password": password, "csrf_token": csrf_of(page)})
