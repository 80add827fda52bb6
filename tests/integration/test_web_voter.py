"""The attendee's flow and every refusal, through the Flask test client, on both databases."""

import json
import re
import time
from datetime import timedelta

import pytest
from conftest import ACTOR, csrf_of
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select
from voting import confirm, enter, receipt_of, review, vote

from ballot.storage.models import Ballot, LiveBallot, LiveSpend, Spend
from ballot.voting import credentials
from ballot.web import create_app

CODE_REFUSED = "该票码在本会议无法使用"


def counts(world):
    with world.db.read() as s:
        return (
            sum(s.execute(select(func.count()).select_from(m)).scalar_one() for m in (Ballot, LiveBallot)),
            sum(s.execute(select(func.count()).select_from(m)).scalar_one() for m in (Spend, LiveSpend)),
        )


def ready(world, codes=3):
    return world.ready(codes=codes)


def test_slip_url_to_receipt(client, world):
    m, item, codes = ready(world)
    first = enter(client, codes[0].lower())  # case-insensitive
    # One item open for this code: straight to its ballot.
    assert first.status_code == 303 and first.headers["Location"].endswith(f"/ballot/{item.id}")
    listing = client.get("/ballot").get_data(as_text=True)
    assert "干部任免票决" in listing and "开始投票" in listing
    form = client.get(f"/ballot/{item.id}")
    html = form.get_data(as_text=True)
    assert form.headers["Cache-Control"] == "no-store"
    assert html.count('type="radio"') == 9 and "checked" not in html  # nothing preselected
    reviewed = review(client, item.id, {"n0": "yes", "n1": "no"})
    page = reviewed.get_data(as_text=True)
    assert "确认提交后不可更改" in page
    assert "张三" in page and "同意" in page and "李四" in page and "不同意" in page
    assert page.count("弃权") >= 1  # unmarked 王五 shown as 弃权 before confirming
    assert counts(world) == (0, 0)  # review stores nothing
    again = client.get(f"/ballot/{item.id}").get_data(as_text=True)  # "返回修改" keeps the marks
    assert re.search(r'id="n0-yes" name="n0" value="yes"\s+checked', again)
    assert re.search(r'id="n1-no" name="n1" value="no"\s+checked', again)
    assert re.search(r'id="n2-abstain" name="n2" value="abstain"\s+checked', again)  # as reviewed
    assert again.count("checked") == 3
    cast = confirm(client, item.id, reviewed, {"n0": "yes", "n1": "no"})
    assert cast.status_code == 303, cast.get_data(as_text=True)
    receipt = receipt_of(client.get(cast.headers["Location"]))
    assert len(receipt) == 9 and receipt.replace("-", "") not in codes[0]
    assert counts(world) == (1, 1)
    with world.db.read() as s:
        ballot = s.execute(select(LiveBallot)).scalar_one()  # the item is open: in the live store
        assert json.loads(ballot.choices_json) == {"votes": ["yes", "no", "abstain"]}
        assert ballot.receipt == receipt
    # The list now shows the item as done; the form redirects to the receipt (back button).
    assert "已投票" in client.get("/ballot").get_data(as_text=True)
    back = client.get(f"/ballot/{item.id}")
    assert back.status_code == 303 and back.headers["Location"].endswith("/receipt")


def test_slip_url_lists_items_when_several_are_open(client, world):
    m = world.meeting(
        '[meeting]\ntitle="两项"\n[[groups]]\nname="甲"\nexpected=5\n'
        '[[items]]\ntitle="第一项"\nrule="general"\nnominees=["张三"]\n'
        '[[items]]\ntitle="第二项"\nrule="general"\nnominees=["李四"]\n'
    )
    code = world.codes(m.groups[0].id, 1)[0]
    world.present(m.groups[0].id, 5)
    world.open(m.items[0].id)
    world.open(m.items[1].id)
    r = enter(client, code)
    assert r.status_code == 303 and r.headers["Location"].endswith("/ballot")
    listing = client.get("/ballot").get_data(as_text=True)
    assert "第一项" in listing and "第二项" in listing
    vote(client, m.items[0].id, {"n0": "yes"})
    # With one item left to cast, the slip URL goes straight to it.
    assert enter(client, code).headers["Location"].endswith(f"/ballot/{m.items[1].id}")


def test_typed_code_on_start_page(client, world):
    m, item, codes = ready(world)
    start = client.get("/").get_data(as_text=True)
    entered = client.post(
        "/enter", data={"code": " " + codes[1].replace("-", " ").lower(), "csrf_token": csrf_of(start)}
    )
    assert entered.status_code == 303
    assert vote(client, item.id, {"n0": "no"})


def test_double_tap_and_reload_show_the_same_receipt(client, world):
    m, item, codes = ready(world)
    enter(client, codes[0])
    reviewed = review(client, item.id, {"n0": "yes"})
    saved_cookie = client.get_cookie("ballot_session").value  # the state before the first tap lands
    first = confirm(client, item.id, reviewed, {"n0": "yes"})
    receipt = receipt_of(client.get(first.headers["Location"]))
    again = confirm(client, item.id, reviewed, {"n0": "yes"})  # a second tap after success
    assert again.status_code == 303 and receipt_of(client.get(again.headers["Location"])) == receipt
    # A tap that raced the first one still carries the old session: same receipt, no new ballot.
    client.set_cookie("ballot_session", saved_cookie)
    raced = confirm(client, item.id, reviewed)
    assert raced.status_code == 303 and receipt_of(client.get(raced.headers["Location"])) == receipt
    assert receipt_of(client.get(f"/ballot/{item.id}/receipt")) == receipt
    assert counts(world) == (1, 1)


def test_code_already_used_from_another_device(app, world):
    m, item, codes = ready(world)
    phone_a, phone_b = app.test_client(), app.test_client()
    enter(phone_a, codes[0])
    enter(phone_b, codes[0])
    reviewed_b = review(phone_b, item.id, {"n0": "no"})
    vote(phone_a, item.id, {"n0": "yes"})
    refused = confirm(phone_b, item.id, reviewed_b, {"n0": "no"})
    assert refused.status_code == 409 and "本票码已投过本议题" in refused.get_data(as_text=True)
    assert "本票码已投过本议题" in phone_b.get(f"/ballot/{item.id}").get_data(as_text=True)
    assert counts(world) == (1, 1)


def test_unknown_voided_and_malformed_codes_get_one_message(client, world, settings):
    m, item, codes = ready(world)
    other = world.meeting('[meeting]\ntitle="另一会议"\n[[groups]]\nname="甲"\nexpected=3\n')
    with world.db.write() as s:
        credentials.void_code(s, settings.derived_key("credential"), m.id, codes[2], ACTOR)
    bodies = []
    for code in ("ABCD-EFGH-JKMN", codes[2], "not a code", "A" * 40):
        r = enter(client, code)
        assert r.status_code == 400
        bodies.append(r.get_data(as_text=True))
    assert all(CODE_REFUSED in b for b in bodies)
    assert len({b.replace(b[b.find("csrf") :], "") for b in bodies}) == 1  # byte-identical pages
    # A valid code of another meeting opens only that meeting: this meeting's item is not there.
    other_code = world.codes(other.groups[0].id, 1)[0]
    assert enter(client, other_code).status_code == 303
    assert client.get(f"/ballot/{item.id}").status_code == 404
    assert "干部任免票决" not in client.get("/ballot").get_data(as_text=True)
    assert counts(world) == (0, 0)


def test_item_not_open(client, world):
    m = world.standard()
    code = world.codes(m.groups[0].id, 1)[0]
    enter(client, code)
    r = client.get(f"/ballot/{m.items[0].id}")
    assert r.status_code == 409 and "不在表决中" in r.get_data(as_text=True)
    world.present(m.groups[0].id, 11)
    world.open(m.items[0].id)
    reviewed = review(client, m.items[0].id, {"n0": "yes"})
    world.close(m.items[0].id)
    late = confirm(client, m.items[0].id, reviewed, {"n0": "yes"})
    assert late.status_code == 409 and "不在表决中" in late.get_data(as_text=True)
    assert counts(world) == (0, 0)


def test_malformed_form_is_refused_and_stores_nothing(client, world):
    m, item, codes = ready(world)
    enter(client, codes[0])
    for data in ({"n0": "maybe"}, {"n0": ["yes", "no"]}, {"n9": "yes"}):
        r = review(client, item.id, data)
        text = r.get_data(as_text=True)
        assert r.status_code == 400 and ("请返回重新填写" in text or "只能选择一项" in text)
    token = csrf_of(client.get(f"/ballot/{item.id}").get_data(as_text=True))
    unreviewed = client.post(f"/ballot/{item.id}/cast", data={"n0": "yes", "csrf_token": token})
    assert unreviewed.status_code == 400 and "请先核对选票" in unreviewed.get_data(as_text=True)
    assert review(client, item.id, {"n0": "yes"}).status_code == 200
    no_csrf = client.post(f"/ballot/{item.id}/cast", data={"n0": "yes"})
    assert no_csrf.status_code == 400 and "页面已过期" in no_csrf.get_data(as_text=True)
    assert counts(world) == (0, 0)


def test_oversized_input(client, world):
    m, item, codes = ready(world)
    enter(client, codes[0])
    r = client.post(f"/ballot/{item.id}/review", data={"n0": "yes", "junk": "x" * 200_000})
    assert r.status_code == 413 and "提交的内容过大" in r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)
    assert counts(world) == (0, 0)


def test_expired_session(app, world):
    m, item, codes = ready(world)
    client = app.test_client()
    enter(client, codes[0])
    reviewed = review(client, item.id, {"n0": "yes"})
    app.permanent_session_lifetime = timedelta(seconds=1)
    time.sleep(2.1)
    r = confirm(client, item.id, reviewed, {"n0": "yes"})
    assert r.status_code == 400 and "会话已失效" in r.get_data(as_text=True)
    listing = client.get("/ballot")
    assert listing.status_code == 401 and "投票会话已过期" in listing.get_data(as_text=True)
    assert counts(world) == (0, 0)


def test_unknown_pages_and_methods_are_chinese(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and "页面不存在" in r.get_data(as_text=True)
    r = client.get("/enter")
    assert r.status_code == 405 and "操作方式不正确" in r.get_data(as_text=True)


def test_guessing_is_rate_limited_per_client_on_failures_only(settings, database, world):
    app = create_app(settings.with_overrides(code_failures_per_client=3, code_failures_global=1000), database)
    m, item, codes = ready(world)
    # Successful entries never count.
    for _ in range(5):
        assert enter(app.test_client(), codes[0]).status_code == 303
    guesser = app.test_client()
    for _ in range(3):
        assert enter(guesser, "ZZZZ-ZZZZ-ZZZZ").status_code == 400
    blocked = enter(guesser, codes[1])  # even a valid code waits once the client is blocked
    assert blocked.status_code == 429 and "错误次数过多" in blocked.get_data(as_text=True)
    # X-Forwarded-For is not trusted by default: a forged header does not escape the limit.
    forged = guesser.get(f"/v/{codes[1]}", headers={"X-Forwarded-For": "10.9.9.9"})
    assert forged.status_code == 429
    # Another client (another address) is unaffected.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.77"
    assert enter(other, codes[1]).status_code == 303


def test_proxy_header_used_only_when_trusted(settings, database, world):
    app = create_app(settings.with_overrides(code_failures_per_client=2, trusted_proxies=1), database)
    m, item, codes = ready(world)
    client = app.test_client()
    for _ in range(2):
        client.get("/v/ZZZZ-ZZZZ-ZZZZ", headers={"X-Forwarded-For": "10.0.0.1"})
    assert client.get(f"/v/{codes[0]}", headers={"X-Forwarded-For": "10.0.0.1"}).status_code == 429
    # Behind the trusted proxy, another phone (another forwarded address) is a different client.
    assert client.get(f"/v/{codes[0]}", headers={"X-Forwarded-For": "10.0.0.2"}).status_code == 303


def test_global_ceiling_never_locks_out_honest_voters(settings, database, world):
    app = create_app(settings.with_overrides(code_failures_per_client=10, code_failures_global=3), database)
    m, item, codes = ready(world, codes=3)

    def client_at(addr):
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = addr
        return c

    attackers = [client_at(f"203.0.113.{i}") for i in range(3)]
    for a in attackers:
        assert enter(a, "ZZZZ-ZZZZ-ZZZZ").status_code == 400
    # The global ceiling is reached: clients that have failed are held back ...
    assert enter(attackers[0], "YYYY-YYYY-YYYY").status_code == 429
    assert enter(attackers[1], codes[0]).status_code == 429
    # ... a new guesser gets one refusal and is then held back too ...
    newcomer = client_at("203.0.113.50")
    assert enter(newcomer, "XXXX-XXXX-XXXX").status_code == 400
    assert enter(newcomer, "XXXX-XXXX-XXXX").status_code == 429
    # ... but a whole hall of voters typing their codes right is never locked out.
    for i, code in enumerate(codes):
        assert enter(client_at(f"192.0.2.{i}"), code).status_code == 303


@pytest.fixture
def open_item_code(world):
    """One open item and one code (set up once; hypothesis then runs every example on it)."""
    m, item, codes = ready(world, codes=1)
    return codes[0], item.id


FIELD = st.one_of(st.sampled_from(["n0", "n1", "n2", "n3", "code", "csrf_token"]), st.text(max_size=12))
VALUE = st.one_of(st.sampled_from(["yes", "no", "abstain", ""]), st.text(max_size=40))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(FIELD, VALUE, max_size=6))
def test_arbitrary_forms_never_cause_a_server_error(app, open_item_code, form):
    code, item = open_item_code
    client = app.test_client()
    client.get(f"/v/{code}")
    page = client.get(f"/ballot/{item}")
    token = csrf_of(page.get_data(as_text=True)) if page.status_code == 200 else "x"
    for url in (f"/ballot/{item}/review", f"/ballot/{item}/cast", "/enter"):
        r = client.post(url, data={"csrf_token": token, **form})
        assert r.status_code < 500, (url, form)
        assert "Traceback" not in r.get_data(as_text=True)


def test_repeat_submit_after_close_shows_the_receipt(app, world):
    m, item, (code,) = world.ready(codes=1)
    phone = app.test_client()
    enter(phone, code)
    reviewed = review(phone, item.id, {"n0": "yes"})
    before = phone.get_cookie("ballot_session").value
    receipt = receipt_of(phone.get(confirm(phone, item.id, reviewed).headers["Location"]))
    world.close(item.id)
    phone.set_cookie("ballot_session", before)
    again = confirm(phone, item.id, reviewed)
    assert again.status_code == 303 and receipt_of(phone.get(again.headers["Location"])) == receipt


def test_a_refusal_no_voter_view_handles_gets_the_voter_page_not_a_500(app, client):
    """The voter blueprint maps `Refused` once: a Chinese message and the way back."""
    from ballot.voting.casting import NotOpen

    def refusing():
        raise NotOpen("本议题现在不能投票。")

    app.view_functions["vote.start"] = refusing
    page = client.get("/")
    text = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "本议题现在不能投票。" in text and "Traceback" not in text and 'href="/"' in text
