"""JSON API: the whole meeting through /api/v1, its errors, and the OpenAPI document in sync."""

import dataclasses
import re
import tomllib

import pytest
from conftest import ACTOR, ROOT, csrf_of, login

from ballot.meetings import apitokens
from ballot.storage.models import Item, User
from ballot.web.api.openapi import spec


@pytest.fixture
def tokens(world):
    out = {}
    for role in ("clerk", "chair", "scrutineer"):
        world.staff(role)
        with world.db.write() as s:
            user = s.query(User).filter_by(username=f"{role}1").one()
            out[role] = {"Authorization": "Bearer " + apitokens.create_token(s, user, role, ACTOR)}
    return out


def meeting_body():
    return tomllib.loads((ROOT / "examples" / "standing-committee-appointments.toml").read_text(encoding="utf-8"))


def test_spec_lists_exactly_the_api_routes(app):
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in spec()["paths"].items() for method in ops}
    assert routes == documented
    served = app.test_client().get("/api/v1/openapi.json").get_json()
    assert served == spec() and served["openapi"].startswith("3.")


def test_a_whole_meeting_through_the_api(client, world, tokens):
    clerk, chair, scrutineer = tokens["clerk"], tokens["chair"], tokens["scrutineer"]
    r = client.post("/api/v1/meetings", json=meeting_body(), headers=clerk)
    assert r.status_code == 201, r.get_json()
    meeting = r.get_json()
    group, item = meeting["groups"][0], meeting["items"][0]
    assert group["expected"] == 11 and item["status"] == "draft"
    r = client.post(f"/api/v1/groups/{group['id']}/codes", json={"count": 11}, headers=clerk)
    assert r.status_code == 201
    codes = r.get_json()["codes"]
    assert len(codes) == 11 and r.get_json()["urls"][0].endswith("/V/" + codes[0])
    assert client.post(f"/api/v1/items/{item['id']}/open", headers=clerk).status_code == 403
    refused = client.post(f"/api/v1/items/{item['id']}/open", headers=chair)
    assert refused.status_code == 409 and "实到" in refused.get_json()["error"]["message"]
    assert client.post(f"/api/v1/groups/{group['id']}/present", json={"present": 9}, headers=chair).status_code == 200
    assert client.post(f"/api/v1/items/{item['id']}/open", headers=chair).get_json()["status"] == "open"
    receipts = set()
    for i, code in enumerate(codes[:9]):
        choices = {"n0": "yes" if i < 6 else "no", "n1": "yes" if i < 5 else "no", "n2": "abstain"}
        r = client.post("/api/v1/ballots", json={"code": code.lower(), "item_id": item["id"], "choices": choices})
        assert r.status_code == 201, r.get_json()
        receipts.add(r.get_json()["receipt"])
    assert len(receipts) == 9
    again = client.post("/api/v1/ballots", json={"code": codes[0], "item_id": item["id"], "choices": {}})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_cast"
    bad = client.post("/api/v1/ballots", json={"code": codes[9], "item_id": item["id"], "choices": {"n0": "maybe"}})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_ballot"
    unknown = client.post("/api/v1/ballots", json={"code": "ZZZZ-ZZZZ-ZZZZ", "item_id": item["id"], "choices": {}})
    assert unknown.status_code == 403 and unknown.get_json()["error"]["code"] == "code_unusable"
    turnout = client.get(f"/api/v1/items/{item['id']}/turnout", headers=scrutineer).get_json()
    assert turnout == {"item_id": item["id"], "status": "open", "expected": 11, "present": 9, "issued": 11, "cast": 9}
    early = client.get(f"/api/v1/items/{item['id']}/result", headers=scrutineer)
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_closed"
    assert client.post(f"/api/v1/items/{item['id']}/close", headers=chair).get_json()["status"] == "closed"
    result = client.get(f"/api/v1/items/{item['id']}/result", headers=scrutineer).get_json()["result"]
    assert [(r["yes"], r["passed"]) for r in result["rows"]] == [(6, True), (5, False), (0, False)]
    assert result["counts"]["cast"] == 9 and result["minimum"] == 6
    late = client.post("/api/v1/ballots", json={"code": codes[10], "item_id": item["id"], "choices": {}})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "item_not_open"


def test_errors_are_json_with_chinese_messages(client, world, tokens):
    r = client.get("/api/v1/meetings/1")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    r = client.get("/api/v1/meetings/1", headers={"Authorization": "Bearer blt_nonsense"})
    assert r.status_code == 401
    r = client.get("/api/v1/meetings/99", headers=tokens["clerk"])
    assert r.status_code == 404 and r.get_json()["error"]["message"] == "会议不存在"
    r = client.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    r = client.post("/api/v1/meetings", data="not json", headers=tokens["clerk"])
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_json"
    body = meeting_body()
    body["items"][0]["nominees"] = []
    r = client.post("/api/v1/meetings", json=body, headers=tokens["clerk"])
    assert r.status_code == 422 and "请至少填写一名人选" in r.get_json()["error"]["message"]
    r = client.post(
        "/api/v1/meetings",
        json={"meeting": {"title": "x" * 10}, "groups": [{"name": "甲", "expected": 3}], "padding": "x" * 100_000},
        headers=tokens["clerk"],
    )
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "too_large"
    r = client.post("/api/v1/groups/1/codes", json={"count": True}, headers=tokens["clerk"])
    assert r.status_code in (400, 404)


def test_revoked_token_stops_working(client, world, tokens):
    with world.db.write() as s:
        token_id = apitokens.tokens(s)[0][0].id
        apitokens.revoke(s, token_id, ACTOR)
    assert client.get("/api/v1/meetings/1", headers=tokens["clerk"]).status_code == 401


def test_clerk_creates_and_revokes_a_token_on_the_admin_page(app, world):
    from conftest import csrf_of, login

    world.staff("clerk")
    c = app.test_client()
    login(c, "clerk1")
    page = c.get("/admin/tokens").get_data(as_text=True)
    r = c.post("/admin/tokens", data={"csrf_token": csrf_of(page), "name": "干部系统"})
    token = re.search(r'id="new-token" class="code">(blt_[^<]+)<', r.get_data(as_text=True)).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().post("/api/v1/meetings", json=meeting_body(), headers=headers).status_code == 201
    assert token not in c.get("/admin/tokens").get_data(as_text=True)  # shown once
    c.post("/admin/tokens", data={"csrf_token": csrf_of(page), "revoke": "1"})
    assert app.test_client().get("/api/v1/meetings/1", headers=headers).status_code == 401


def test_an_evaluation_by_sittings_through_the_api_and_the_recount_equals_the_live_tally(client, world, tokens):
    from ballot.counting.kinds import get_kind
    from ballot.meetings.results import ballots_of, item_result
    from ballot.meetings.sittings import item_counts

    clerk, chair, scrutineer = tokens["clerk"], tokens["chair"], tokens["scrutineer"]
    body = tomllib.loads((ROOT / "examples" / "three-way-evaluation.toml").read_text(encoding="utf-8"))
    meeting = client.post("/api/v1/meetings", json=body, headers=clerk).get_json()
    item, groups = meeting["items"][0], {g["name"]: g["id"] for g in meeting["groups"]}
    url = f"/api/v1/items/{item['id']}"
    bad = client.post(f"{url}/open", json=[1], headers=chair)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_body"
    assert client.post(f"{url}/open", json={"group_id": groups["单位干部群众"]}, headers=chair).status_code == 200
    codes = client.post(f"/api/v1/groups/{groups['单位干部群众']}/codes", json={"count": 6}, headers=clerk).get_json()
    others = client.post(f"/api/v1/groups/{groups['述职会议']}/codes", json={"count": 1}, headers=clerk).get_json()
    vote = {f"s{i}": str(i % 4) for i in range(7)} | {"s1": "0", "s2": "1"}
    for code in codes["codes"]:
        r = client.post("/api/v1/ballots", json={"code": code, "item_id": item["id"], "choices": vote})
        assert r.status_code == 201, r.get_json()
    waiting = client.post("/api/v1/ballots", json={"code": others["codes"][0], "item_id": item["id"], "choices": vote})
    assert waiting.status_code == 409  # the 述职会议 has not opened yet
    assert client.get(f"{url}/result", headers=scrutineer).status_code == 409
    with world.db.read() as s:  # the live tally, before any group closes (every group counted as if closed)
        row = s.get(Item, item["id"])
        item_config = __import__("json").loads(row.config_json)
        counts = dataclasses.replace(item_counts(s, row), closed_groups=frozenset(groups.values()))
        live = get_kind("evaluate").tally(item_config, ballots_of(s, item["id"]), counts)
    assert client.post(f"{url}/close", json={"group_id": groups["单位干部群众"]}, headers=chair).status_code == 200
    partial = client.get(f"{url}/result", headers=scrutineer).get_json()["result"]
    assert partial["subjects"][1]["composite_note"] == "待所有测评组结束后计算"
    for name in ("述职会议", "分管领导"):
        assert client.post(f"{url}/open", json={"group_id": groups[name]}, headers=chair).status_code == 200
        r = client.post(f"{url}/close", json={"group_id": groups[name]}, headers=chair)
    assert r.get_json()["status"] == "closed"
    with world.db.read() as s:  # recounted from the sealed (shuffled) ballots: the same figures per group
        final = item_result(s, s.get(Item, item["id"]))
    for before, after in zip(live["subjects"], final["subjects"], strict=True):
        assert before["groups"][0]["counts"] == after["groups"][0]["counts"]
        assert before["groups"][0]["mean"] == after["groups"][0]["mean"]
    assert item_config["weights"] == {"单位干部群众": "2/5", "述职会议": "3/10", "分管领导": "3/10"}


def _token_page(app, username):
    client = app.test_client()
    login(client, username)
    return client, csrf_of(client.get("/admin/tokens").get_data(as_text=True))


def test_tokens_are_personal_and_only_admins_revoke_others(app, world):
    for role in ("clerk", "chair", "scrutineer"):
        world.staff(role)
    chair, chair_csrf = _token_page(app, "chair1")
    r = chair.post("/admin/tokens", data={"csrf_token": chair_csrf, "name": "主持人平板"})
    assert r.status_code == 200 and "blt_" in r.get_data(as_text=True)  # a chair may make their own
    scrutineer, s_csrf = _token_page(app, "scrutineer1")
    assert scrutineer.post("/admin/tokens", data={"csrf_token": s_csrf, "name": "监票"}).status_code == 200
    clerk, clerk_csrf = _token_page(app, "clerk1")
    page = clerk.get("/admin/tokens").get_data(as_text=True)
    assert "主持人平板" not in page  # others' tokens are not listed ...
    refused = clerk.post("/admin/tokens", data={"csrf_token": clerk_csrf, "revoke": "1"})
    assert refused.status_code == 400  # ... nor revocable
    from ballot.storage.models import ApiToken

    with world.db.read() as s:
        assert not s.get(ApiToken, 1).revoked
    assert clerk.post("/admin/tokens", data={"csrf_token": clerk_csrf, "revoke": "9" * 30}).status_code == 400
