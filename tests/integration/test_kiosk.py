"""The shared kiosk without a browser: it serves one meeting, and a code of another meeting is
refused with the same words as any code that does not work here, and counted as a failure."""

from conftest import csrf_of, login

from ballot.web.voter.vote import CODE_REFUSED


def test_a_kiosk_refuses_another_meetings_code_like_any_bad_code(app, world):
    here, elsewhere = world.standard(), world.standard()
    other_code = world.codes(elsewhere.groups[0].id, 1)[0]
    world.present(elsewhere.groups[0].id, 11)
    world.open(elsewhere.items[0].id)
    world.staff("clerk")
    device = app.test_client()
    login(device, "clerk1")
    page = device.get(f"/admin/meetings/{here.id}").get_data(as_text=True)
    started = device.post(f"/admin/meetings/{here.id}/kiosk", data={"csrf_token": csrf_of(page)})
    assert started.status_code == 303 and started.headers["Location"].endswith("/kiosk")
    limiter = app.extensions["ballot.kiosk_code_limiter"]
    before = limiter.failures("127.0.0.1")
    refused = device.post(
        "/enter", data={"code": other_code, "csrf_token": csrf_of(device.get("/kiosk").get_data(as_text=True))}
    )
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400 and CODE_REFUSED in text and 'href="/kiosk"' in text
    assert limiter.failures("127.0.0.1") == before + 1
    # the same code works on a phone of its own meeting: it was refused only here
    phone = app.test_client()
    assert phone.get(f"/v/{other_code}").status_code == 303


def test_a_queue_of_typos_at_the_kiosk_does_not_lock_it_as_fast_as_a_phone(app, world, settings):
    m = world.standard()
    code = world.codes(m.groups[0].id, 1)[0]
    world.present(m.groups[0].id, 11)
    world.open(m.items[0].id)
    world.staff("clerk")
    device = app.test_client()
    login(device, "clerk1")
    page = device.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    device.post(f"/admin/meetings/{m.id}/kiosk", data={"csrf_token": csrf_of(page)})
    token = csrf_of(device.get("/kiosk").get_data(as_text=True))
    for _ in range(settings.code_failures_per_client + 2):  # more typos than one phone may make
        assert device.post("/enter", data={"code": "WRONG-CODE", "csrf_token": token}).status_code == 400
    assert device.post("/enter", data={"code": code, "csrf_token": token}).status_code == 303
    assert app.extensions["ballot.code_limiter"].failures("127.0.0.1") == 0  # phones are counted apart
