"""The projector screen's key, its snapshot, its stream limit, and the chair's console."""

import pytest
from conftest import ACTOR, csrf_of, login

from ballot.live import screen
from ballot.storage.models import Meeting


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


def test_live_numbers_come_only_in_batches_of_k_never_per_ballot(client, world):
    """No figure from fewer than k ballots; a count is held until k more ballots are in after it
    (so the final result is never less than k ballots from a batch); not more often than every
    few seconds; and every screen shows the same batch."""
    from datetime import timedelta

    from voting import vote

    from ballot.clock import utcnow
    from ballot.storage.models import Item, LiveTally

    m = world.meeting(
        """
[meeting]
title = "实时票数"
[[groups]]
name = "委员"
expected = 20
[[items]]
title = "推荐"
kind = "recommend"
seats = 1
candidates = ["张伟", "王芳"]
live = true
live_batch = 3
"""
    )
    item = m.items[0]
    world.present(m.groups[0].id, 20)
    codes = world.codes(m.groups[0].id, 10)
    world.open(item.id)
    key = key_for(world, m)
    t0 = utcnow()

    def cast(n):
        phone = client.application.test_client()
        phone.get(f"/v/{codes[n]}")
        vote(phone, item.id, {"c0": "1"})

    def publish(at):
        with world.db.write() as s:
            return screen.publish_live(s, s.get(Item, item.id), now=at)

    def shown():
        with world.db.read() as s:
            return screen.state(s, s.get(Meeting, m.id))["item"].get("live")

    for n in range(2):
        cast(n)
        assert publish(t0) is None and shown() is None  # 1, then 2 ballots: below k = 3
    cast(2)
    assert publish(t0) is None and shown() is None  # the count of 3 is taken, and held
    cast(3)
    assert publish(t0 + timedelta(seconds=60)) is None  # one more ballot: still held, however long
    assert shown() is None
    cast(4)
    cast(5)
    assert publish(t0 + timedelta(seconds=1)) is None  # three more ballots, but too soon
    first = publish(t0 + timedelta(seconds=6))
    assert first is not None and first.ballots == 3 and shown()["counts"]["cast"] == 3
    # the screen page (polling fallback) shows the published batch, not the live count of 7
    cast(6)
    html = client.get(f"/screen/{key}/snapshot").get_json()["html"]
    assert "前 3 票的计数" in html and 'id="cast">7<' in html
    cast(7)
    cast(8)
    second = publish(t0 + timedelta(seconds=12))
    assert second.ballots == 6 and shown()["counts"]["cast"] == 6
    world.close(item.id)
    with world.db.read() as s:  # the batches, and the held count, go when the item closes
        assert s.query(LiveTally).count() == 0


def test_items_show_no_live_numbers_unless_they_allow_them(client, world):
    from ballot.storage.models import Item

    m, item, codes = world.ready(codes=6)
    with world.db.write() as s:
        assert screen.publish_live(s, s.get(Item, item.id)) is None
    key = key_for(world, m)
    assert "实时票数" not in client.get(f"/screen/{key}/snapshot").get_json()["html"]


def test_names_font_has_every_character_of_the_meetings_names():
    import io

    from fontTools.ttLib import TTFont

    from ballot.documents import webfont

    chars = webfont.characters(["王𫖮", "禤小明", "訾雪", "欧阳·买买提"])
    data = webfont.subset_woff2(chars)
    if data is None:
        pytest.skip("no CJK font installed (scripts/setup.sh test installs fonts-noto-cjk)")
    cmap = TTFont(io.BytesIO(data)).getBestCmap()
    assert all(ord(ch) in cmap for ch in chars) and len(data) < 100_000


def test_closing_while_ballots_arrive_counts_each_ballot_or_refuses_it_never_half(world):
    """Casts race a close: every cast either committed before the close (and is counted in the
    sealed result) or was refused as not open; nothing is half-stored."""
    import threading

    from ballot.meetings.results import item_result
    from ballot.meetings.sittings import close_item
    from ballot.storage.models import Item
    from ballot.voting import credentials
    from ballot.voting.casting import NotOpen, cast_ballot
    from ballot.voting.codes import new_receipt

    m, item, codes = world.ready(codes=40)
    key = world.settings.derived_key("credential")
    outcomes, barrier = [], threading.Barrier(41)

    def voter(code):
        barrier.wait()
        try:
            with world.db.read() as s:
                credential_id = credentials.find_usable(s, key, code).id
            with world.db.write() as s:
                cast_ballot(s, credential_id, item.id, {"votes": ["yes", "no", "abstain"]}, new_receipt())
            outcomes.append("counted")
        except NotOpen:
            outcomes.append("refused")

    def closer():
        barrier.wait()
        with world.db.write() as s:
            close_item(s, ACTOR, item.id)

    threads = [threading.Thread(target=voter, args=(c,)) for c in codes] + [threading.Thread(target=closer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with world.db.read() as s:
        result = item_result(s, s.get(Item, item.id))
    assert len(outcomes) == 40 and set(outcomes) <= {"counted", "refused"}
    assert result["counts"]["cast"] == outcomes.count("counted")
    assert result["rows"][0]["yes"] == outcomes.count("counted")


def test_a_live_batch_counts_every_groups_ballots_so_none_appears_alone_later(world):
    """A group with few ballots is not left out of a batch (its ballots would then be the
    difference between the batch and the result); the batch is held until k more are in."""
    from datetime import timedelta

    from ballot.clock import utcnow
    from ballot.storage.models import Item

    m = world.meeting(
        """
[meeting]
title = "两组"
[[groups]]
name = "甲组"
expected = 10
[[groups]]
name = "乙组"
expected = 10
[[items]]
title = "推荐"
kind = "recommend"
seats = 1
candidates = ["张伟", "王芳"]
live = true
live_batch = 3
"""
    )
    item = m.items[0]
    for g in m.groups:
        world.present(g.id, 10)
    a, b = world.codes(m.groups[0].id, 6), world.codes(m.groups[1].id, 2)
    world.open(item.id)
    from voting import vote

    t0 = utcnow()

    def cast_and_publish(codes, at):
        for code in codes:
            phone = world_app_client(world)
            phone.get(f"/v/{code}")
            vote(phone, item.id, {"c0": "1"})
        with world.db.write() as s:
            return screen.publish_live(s, s.get(Item, item.id), now=at)

    assert cast_and_publish(a[:3] + b, t0) is None  # the count of 5 is held
    published = cast_and_publish(a[3:], t0 + timedelta(seconds=10))
    import json

    assert json.loads(published.result_json)["tally"]["counts"]["cast"] == 5  # 乙组's 2 are in it


def world_app_client(world):
    from ballot.web import create_app

    return create_app(world.settings, world.db).test_client()
