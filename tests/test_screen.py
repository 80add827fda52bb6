"""The projector screen's key, its snapshot, its stream limit, and the chair's console."""

import pytest
from conftest import ACTOR, csrf_of, login

from ballot import screen
from ballot.models import Meeting


def key_for(world, m):
    with world.db.write() as s:
        return screen.new_key(s, ACTOR, s.get(Meeting, m.id), world.settings.derived_key("screen"))


def test_screen_key_opens_the_screen_and_a_new_key_revokes_the_old(client, world):
    m = world.standard()
    old = key_for(world, m)
    assert client.get(f"/screen/{old}").status_code == 200
    new = key_for(world, m)
    refused = client.get(f"/screen/{old}")
    assert refused.status_code == 404 and "投屏链接无效" in refused.get_data(as_text=True)
    assert client.get(f"/screen/{old}/snapshot").status_code == 404
    page = client.get(f"/screen/{new}").get_data(as_text=True)
    assert "请稍候，表决即将开始" in page  # nothing open, nothing chosen


def test_snapshot_shows_turnout_only_until_the_chair_reveals(client, world):
    from voting import vote

    m, item, codes = world.ready(codes=3)
    key = key_for(world, m)
    snap = client.get(f"/screen/{key}/snapshot").get_json()
    assert 'id="cast">0<' in snap["html"] and "同意" not in snap["html"]
    phone = client.application.test_client()
    phone.get(f"/v/{codes[0]}")
    vote(phone, item.id, {"n0": "yes", "n1": "no", "n2": "abstain"})
    again = client.get(f"/screen/{key}/snapshot").get_json()
    assert again["id"] != snap["id"] and 'id="cast">1<' in again["html"]
    with world.db.write() as s, pytest.raises(screen.OperationError, match="表决结束后才能"):
        screen.show(s, ACTOR, s.get(Meeting, m.id), item.id, reveal=True)
    world.close(item.id)
    with world.db.write() as s:
        screen.show(s, ACTOR, s.get(Meeting, m.id), item.id, reveal=True)
    revealed = client.get(f"/screen/{key}/snapshot").get_json()["html"]
    assert "同意 <b>1</b>" in revealed and "依据" in revealed


def test_streams_beyond_the_limit_are_refused_so_votes_keep_their_threads(app, world):
    m = world.standard()
    key = key_for(world, m)
    hub = app.extensions["ballot.screen_hub"]
    hub.max_streams = 0
    r = app.test_client().get(f"/screen/{key}/events")
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "busy"


def test_chair_console_puts_items_on_screen_and_enters_attendance(client, world):
    m = world.standard()
    item = m.items[0]
    world.staff("chair")
    login(client, "chair1")
    url = f"/admin/meetings/{m.id}/console"
    page = client.get(url).get_data(as_text=True)
    assert "主持人控制台" in page and "上大屏" in page and "实到人数" in page
    r = client.post(
        f"/admin/meetings/{m.id}/screen", data={"csrf_token": csrf_of(page), "item": item.id, "to": "console"}
    )
    assert r.status_code == 303
    with world.db.read() as s:
        assert s.get(Meeting, m.id).screen_item_id == item.id
    r = client.post(
        f"/admin/groups/{m.groups[0].id}/present",
        data={"csrf_token": csrf_of(page), "present": "10", "to": "console"},
    )
    assert r.status_code == 303 and r.headers["Location"].endswith(url)
    assert client.get(f"/admin/meetings/{m.id}/turnout.json").get_json() == {
        str(item.id): {"cast": 0, "status": "draft"}
    }
