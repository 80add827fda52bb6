"""Paper double entry and the shared kiosk in real headless Chromium: two 计票人 type the same
stack on their own devices with the keyboard alone, a mismatch is settled by the 监票人 side by
side, and the result shows both channels; at a kiosk the next voter finds nothing of the last
one (history, form, session). Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from server import running_server
from test_browser import CHROMIUM, browser, shot, sqlite_only, staff_page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

TABLET = {"width": 1024, "height": 768}


def type_stack(page, lines: str) -> None:
    """Type a stack as a 计票人 does: straight into the focused box, Enter after each sheet."""
    # expect() polls from Playwright's side: a string predicate would be evaluated in the page,
    # which the Content-Security-Policy (no 'unsafe-eval') refuses whenever it must poll
    expect(page.locator("#lines")).to_be_focused()
    page.keyboard.type(lines)


MEETING = """
[meeting]
title = "常委会（会场禁带手机）"
[[groups]]
name = "常委"
expected = 5
[[items]]
title = "干部任免票决"
nominees = [{ name = "张三", post = "县财政局局长" }, { name = "李四", post = "县审计局局长" }]
"""


def test_double_entry_with_a_mismatch_settled_by_the_scrutineer(browser, world, settings, tmp_path, sqlite_only):  # noqa: F811
    m = world.meeting(MEETING)
    gid, item = m.groups[0].id, m.items[0]
    world.present(gid, 5)
    world.open(item.id)
    for role, name in (
        ("clerk", "clerk1"),
        ("teller", "teller1"),
        ("teller", "teller2"),
        ("scrutineer", "scrutineer1"),
    ):
        world.staff(role, name)
    with running_server(settings, tmp_path / "server.log") as base:
        clerk_ctx, clerk = staff_page(browser, base, "clerk1")
        clerk.goto(f"{base}/admin/items/{item.id}/paper")
        clerk.get_by_label("常委 纸质票发出数").fill("5")
        clerk.locator("#paper-groups").get_by_role("button", name="保存").click()
        expect(clerk.locator("main")).to_contain_text("已登记纸质票发出数")
        forms = clerk.request.get(f"{base}/admin/items/{item.id}/paper/forms.pdf?group={gid}&copies=5")
        assert forms.ok and forms.headers["content-type"] == "application/pdf" and forms.body()[:5] == b"%PDF-"
        shot(clerk, "paper-1-clerk")
        clerk_ctx.close()

        # 计票人 1, on a tablet: a new batch, typed with the keyboard alone (李四 first: 姓氏笔画)
        ctx1, teller1 = staff_page(browser, base, "teller1")
        teller1.set_viewport_size(TABLET)
        teller1.goto(f"{base}/admin/items/{item.id}/paper")
        teller1.get_by_role("button", name="新建一叠并录入").click()
        keys = teller1.locator("#entry-keys").inner_text()
        assert keys.index("李四") < keys.index("张三") and "1 同意" in keys
        type_stack(teller1, "11\n12\n21\n00\n*1")  # the box has focus: no mouse needed
        assert "已录入 5 张" in teller1.locator("#entry-count").inner_text()
        shot(teller1, "paper-2-entry")
        teller1.get_by_role("button", name="提交本次录入").click()
        expect(teller1.locator("main")).to_contain_text("请另一名计票人")
        # the same teller cannot enter it again
        teller1.locator("#paper-batches").get_by_role("link", name="录入").click()
        type_stack(teller1, "11\n12\n21\n00\n*1")
        teller1.get_by_role("button", name="提交本次录入").click()
        expect(teller1.locator("#entry-error")).to_contain_text("两名不同的计票人")
        ctx1.close()

        # 计票人 2, on a touch tablet with the on-screen keypad, reads the second sheet differently
        ctx2, teller2 = staff_page(browser, base, "teller2", has_touch=True)
        teller2.set_viewport_size(TABLET)
        teller2.goto(f"{base}/admin/items/{item.id}/paper")
        teller2.locator("#paper-batches").get_by_role("link", name="录入").click()
        keypad = teller2.locator("#keypad")
        expect(keypad).to_be_visible()  # shown by the page's script once it has run
        for key in ["1", "1", "enter", "2", "2", "enter", "2", "1", "enter", "0", "0", "enter", "*", "1"]:
            box = keypad.locator(f'button[data-key="{key}"]')
            assert box.bounding_box()["height"] >= 48  # a finger-sized key
            box.tap()
        assert teller2.locator("#lines").input_value() == "11\n22\n21\n00\n*1"
        shot(teller2, "paper-2b-keypad")
        teller2.get_by_role("button", name="提交本次录入").click()
        expect(teller2.locator("main")).to_contain_text("两次录入不一致")
        ctx2.close()

        # the 监票人 compares side by side with the paper and settles
        ctx3, scrutineer = staff_page(browser, base, "scrutineer1")
        scrutineer.goto(f"{base}/admin/items/{item.id}/paper")
        scrutineer.get_by_role("link", name="核对差异").click()
        table = scrutineer.locator("#differences").inner_text()
        assert "第 2 张" in table and "李四 同意；张三 不同意" in table and "李四 不同意；张三 不同意" in table
        shot(scrutineer, "paper-3-settle")
        scrutineer.get_by_label("采用第一次").check()
        scrutineer.get_by_role("button", name="核定并计入").click()
        expect(scrutineer.locator("main")).to_contain_text("差异已核定")
        world.close(item.id)
        scrutineer.reload()
        scrutineer.get_by_label("收回的纸质票已全部录入并核对").check()
        scrutineer.get_by_role("button", name="确认纸质票录入完毕").click()
        expect(scrutineer.locator("main")).to_contain_text("已确认纸质票全部录入")
        scrutineer.goto(f"{base}/admin/items/{item.id}/result")
        channels = scrutineer.locator("#channels").inner_text()
        assert re.search(r"纸质票\s+5\s+5\s+4\s+1", channels), channels  # 发出 收回 有效 无效 (*1: outside the boxes)
        assert "同一人选划了多个符号" not in scrutineer.locator("main").inner_text()
        assert "符号划在格外 1 张" in scrutineer.locator("#invalid-reasons").inner_text()
        shot(scrutineer, "paper-4-result")
        audit = scrutineer.goto(f"{base}/admin/meetings/{m.id}/audit")
        assert audit.ok and "paper.settle" in scrutineer.locator("main").inner_text()
        ctx3.close()


def test_kiosk_next_voter_sees_nothing_of_the_last(browser, world, settings, tmp_path, sqlite_only):  # noqa: F811
    m = world.meeting(MEETING)
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 2)
    world.present(gid, 5)
    world.open(item.id)
    world.staff("clerk")
    with running_server(settings, tmp_path / "server.log") as base:
        context, page = staff_page(browser, base, "clerk1")
        page.set_viewport_size(TABLET)
        page.goto(f"{base}/admin/meetings/{m.id}")
        page.get_by_role("button", name="把这台设备设为自助投票设备").click()
        page.wait_for_url(f"{base}/kiosk")
        assert page.goto(f"{base}/admin/meetings/{m.id}").url.endswith("/admin/login")  # staff login is gone

        page.goto(f"{base}/kiosk")
        shot(page, "kiosk-1-start")
        # voter 1: a QR scanner types the slip's URL and Enter
        page.locator("#code").type(f"HTTP://VOTE.EXAMPLE/V/{codes[0]}\n")
        page.locator("fieldset.nominee").nth(0).get_by_text("同意", exact=True).click()
        page.locator("fieldset.nominee").nth(1).get_by_text("不同意", exact=True).click()
        page.get_by_role("button", name="下一步：核对选票").click()
        page.get_by_role("button", name="确认提交").click()
        receipt = page.locator("#receipt").inner_text()
        assert "20 秒后本设备自动清除" in page.locator("#kiosk-auto").inner_text()
        page.get_by_role("button", name="投票完毕，清除并交给下一位").click()
        expect(page.locator("#privacy-screen")).to_be_visible()
        shot(page, "kiosk-2-privacy")
        page.get_by_role("link", name="下一位投票").click()
        page.wait_for_url(f"{base}/kiosk")

        # voter 2: the form, the back button, the session: nothing of voter 1
        assert page.locator("#code").input_value() == ""
        assert page.locator("#code").get_attribute("autocomplete") == "off"
        for _ in range(6):  # back through voter 1's pages: each is fetched again, with no session
            page.go_back()
            text = page.locator("body").inner_text()
            assert receipt not in text and page.locator("input:checked").count() == 0, page.url
            assert "投票成功" not in text and "确认提交" not in text  # never voter 1's receipt or review
        for path in (f"/ballot/{item.id}/receipt", "/ballot", f"/ballot/{item.id}/review"):
            page.goto(f"{base}{path}")
            text = page.locator("main").inner_text()
            assert receipt not in text and "李四" not in text, path
        assert page.evaluate("document.cookie") == ""  # the session cookie is HttpOnly
        page.goto(f"{base}/kiosk")
        page.locator("#code").type(f"{codes[1]}\n")
        expect(page.locator("fieldset.nominee").first).to_be_visible()
        assert page.locator("input[type=radio]:checked").count() == 0  # a fresh ballot
        page.locator("fieldset.nominee").nth(0).get_by_text("弃权", exact=True).click()
        page.locator("fieldset.nominee").nth(1).get_by_text("弃权", exact=True).click()
        page.get_by_role("button", name="下一步：核对选票").click()
        page.clock.install()
        page.get_by_role("button", name="确认提交").click()
        assert page.locator("#receipt").inner_text() != receipt
        page.clock.fast_forward(21_000)  # nobody pressed 投票完毕: the kiosk clears itself
        page.wait_for_url(f"{base}/kiosk/privacy")
        expect(page.locator("#privacy-screen")).to_be_visible()
        context.close()
    world.close(item.id)
    with world.db.read() as s:
        from ballot.meetings.results import item_result
        from ballot.storage.models import Item

        r = item_result(s, s.get(Item, item.id))
    assert r["counts"]["cast"] == 2
