"""An API cast can be retried safely: the same Idempotency-Key and request after a lost response
get the same receipt; the record is gone once the item closes."""

import threading

import pytest
from sqlalchemy import select

from ballot.meetings.sittings import cast_count
from ballot.storage.models import ApiIdempotency, Credential

BALLOT = {"n0": "yes", "n1": "no", "n2": "abstain"}


def cast(client, code, item_id, choices=BALLOT, key=None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/api/v1/ballots", json={"code": code, "item_id": item_id, "choices": choices}, headers=headers)


def ballots(world, item_id):
    with world.db.read() as s:
        return cast_count(s, item_id)  # live while open, sealed once closed


def records(world):
    with world.db.read() as s:
        return list(s.execute(select(ApiIdempotency)).scalars())


def test_a_retry_after_a_lost_response_gets_the_same_receipt(client, world, backend):
    _m, item, codes = world.ready(codes=2)
    first = cast(client, codes[0], item.id, key="c0ffee-1")  # committed; say the answer never arrived
    assert first.status_code == 201
    again = cast(client, codes[0], item.id, key="c0ffee-1")
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ballots(world, item.id) == 1
    # same request with the choices in another order and a value as a one-element list: same request
    reordered = {"n2": ["abstain"], "n1": "no", "n0": "yes"}
    assert cast(client, codes[0], item.id, reordered, key="c0ffee-1").get_json() == first.get_json()


def test_without_the_key_or_with_another_key_a_retry_is_already_cast(client, world, backend):
    _m, item, codes = world.ready(codes=2)
    assert cast(client, codes[0], item.id).status_code == 201
    plain = cast(client, codes[0], item.id)
    assert plain.status_code == 409 and plain.get_json()["error"]["code"] == "already_cast"
    assert cast(client, codes[1], item.id, key="k-1").status_code == 201
    for key in (None, "k-2"):
        refused = cast(client, codes[1], item.id, key=key)
        assert refused.status_code == 409 and refused.get_json()["error"] == {
            "code": "already_cast",
            "message": "本票码已投过本议题",
        }
    assert ballots(world, item.id) == 2


def test_the_same_key_with_another_ballot_is_refused(client, world, backend):
    _m, item, codes = world.ready(codes=1)
    first = cast(client, codes[0], item.id, key="same-key")
    other = cast(client, codes[0], item.id, {**BALLOT, "n0": "no"}, key="same-key")
    assert other.status_code == 422
    error = other.get_json()["error"]
    assert error["code"] == "idempotency_key_reused" and "Idempotency-Key" in error["message"]
    assert "内容不同" in error["message"]
    assert ballots(world, item.id) == 1
    assert cast(client, codes[0], item.id, key="same-key").get_json() == first.get_json()


def test_one_code_used_by_several_clients_with_one_key_counts_once(app, world, backend):
    _m, item, codes = world.ready(codes=1)
    answers, barrier = [], threading.Barrier(6, timeout=30)

    def post():
        barrier.wait()
        response = cast(app.test_client(), codes[0], item.id, key="shared")
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 6 and {status for status, _ in answers} == {201}
    assert len({body["receipt"] for _, body in answers}) == 1
    assert ballots(world, item.id) == 1


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "键", "a\tb"])
def test_a_malformed_key_is_refused_before_anything_is_stored(client, world, key):
    _m, item, codes = world.ready(codes=1)
    refused = cast(client, codes[0], item.id, key=key)
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid_idempotency_key"
    assert ballots(world, item.id) == 0


def test_the_record_names_neither_code_nor_receipt_and_is_gone_after_close(client, world, backend):
    _m, item, codes = world.ready(codes=3)
    receipts = [cast(client, code, item.id, key=f"key-{i}").get_json()["receipt"] for i, code in enumerate(codes)]
    stored = records(world)
    assert len(stored) == 3
    with world.db.read() as s:
        credential_ids = set(s.execute(select(Credential.id)).scalars())
    for row in stored:
        values = " ".join(str(v) for v in (row.id, row.request_digest, row.sealed_receipt))
        assert not any(r in values or r.replace("-", "") in values for r in receipts)
        assert not any(c in values for c in credential_ids)
    world.close(item.id)
    assert records(world) == []
    late = cast(client, codes[0], item.id, key="key-0")  # after the seal nothing remembers the key
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "already_cast"
