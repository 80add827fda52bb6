"""Real headless Chromium (Debian's, driven by Playwright): the attendee's flow at a phone
viewport with JavaScript off, a refusal, and the result page at a 1920×1080 projector
viewport. Screenshots go to test-artifacts/ for a person to look at."""

import shutil

import pytest
from conftest import ARTIFACTS, PASSWORD
from server import running_server

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 12; M2006C3LC Build/SP1A.210812.016; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5061 "
    "MMWEBSDK/20230405 MicroMessenger/8.0.35.2360(0x2800233D) WeChat/arm64 Weixin NetType/WIFI "
    "Language/zh_CN ABI/arm64"
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def sqlite_only(backend):
    if backend != "sqlite":
        pytest.skip("browser flows run once, on the default database")


def staff_page(browser, base, username, **context_options):
    """A logged-in staff page at the 1920×1080 projector/desk size."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN", **context_options)
    page = context.new_page()
    page.goto(f"{base}/admin/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    return context, page


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_phone_flow_from_slip_url_to_receipt_without_javascript(browser, world, settings, tmp_path, sqlite_only):
    m = world.standard(nominees=("冼国强", "亓秀英", "欧阳振华"))
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 3)
    world.present(gid, 11)
    world.open(item.id)
    with running_server(settings, tmp_path / "server.log") as base:
        context = browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            java_script_enabled=False,
            user_agent=WECHAT_UA,
            locale="zh-CN",
        )
        page = context.new_page()
        page.goto(f"{base}/v/{codes[0].lower()}")
        assert page.url == f"{base}/ballot/{item.id}"  # the code is gone from the address bar
        assert codes[0] not in page.url.upper()
        assert page.locator("input[type=radio]:checked").count() == 0
        for box in page.locator("label.choice").all():
            b = box.bounding_box()
            assert b["height"] >= 48  # big touch targets
        page.get_by_text("同意", exact=True).first.click()
        page.locator("fieldset.nominee").nth(1).get_by_text("不同意", exact=True).click()
        shot(page, "phone-2-ballot")
        page.get_by_role("button", name="下一步：核对选票").click()
        review = page.locator("table.review").inner_text()
        assert (
            "冼国强" in review and "同意" in review and "不同意" in review and "欧阳振华" in review and "弃权" in review
        )
        assert page.get_by_text("确认提交后不可更改").is_visible()
        shot(page, "phone-3-review")
        page.get_by_role("button", name="确认提交").click()
        receipt = page.locator("#receipt").inner_text()
        assert len(receipt) == 9 and page.get_by_text("投票成功").is_visible()
        shot(page, "phone-4-receipt")
        # Back and reload show the receipt again, never the form.
        page.go_back()
        assert page.locator("#receipt").inner_text() == receipt
        page.go_back()
        assert page.locator("#receipt").inner_text() == receipt
        page.reload()
        assert page.locator("#receipt").inner_text() == receipt
        page.goto(f"{base}/ballot/{item.id}")
        assert page.locator("#receipt").inner_text() == receipt
        page.goto(f"{base}/ballot")
        assert "已投票" in page.locator("main").inner_text()
        shot(page, "phone-1-items")
        # No horizontal scrolling at 320 px either.
        page.set_viewport_size({"width": 320, "height": 640})
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        context.close()

        # A refusal: a mistyped code on the start page.
        context = browser.new_context(viewport=PHONE, is_mobile=True, java_script_enabled=False, locale="zh-CN")
        page = context.new_page()
        page.goto(f"{base}/")
        page.fill("#code", "7k3m-q9tx-2hbd")
        page.get_by_role("button", name="进入投票").click()
        assert "该票码在本会议无法使用" in page.locator("main").inner_text()
        shot(page, "phone-5-refused")
        context.close()


def test_result_page_at_projector_size(browser, world, settings, tmp_path, sqlite_only):
    m = world.standard(nominees=("冼国强", "亓秀英", "欧阳振华"))
    gid, item = m.groups[0].id, m.items[0]
    world.present(gid, 11)
    world.staff("chair")
    codes = world.codes(gid, 11)
    world.open(item.id)
    with running_server(settings, tmp_path / "server.log") as base:
        from httpvoter import Phone

        for i, code in enumerate(codes[:9]):
            phone = Phone(base)
            phone.enter(code)
            phone.vote(item.id, {"n0": "yes", "n1": "yes" if i < 5 else "no", "n2": "yes" if i < 6 else "abstain"})
            phone.close()
        context, page = staff_page(browser, base, "chair1")
        page.goto(f"{base}/admin/meetings/{m.id}")
        shot(page, "desk-1-meeting")
        page.get_by_text("结束表决", exact=True).click()
        page.check("input[name=confirm]")
        page.get_by_role("button", name="结束表决并计票").click()
        table = page.locator("#result").inner_text()
        assert "冼国强" in table and "81.82%" in table and "未通过" in table
        assert page.evaluate("document.documentElement.scrollWidth") <= 1920
        shot(page, "desk-2-result")
        context.close()


def test_clerk_prints_slips_with_progress(browser, world, settings, tmp_path, sqlite_only):
    world.staff("clerk")
    m = world.standard(expected=40)
    with running_server(settings, tmp_path / "server.log") as base:
        context, page = staff_page(browser, base, "clerk1", accept_downloads=True)
        page.goto(f"{base}/admin/meetings/{m.id}")
        assert page.locator("#base-url").inner_text().startswith("http://")
        assert page.locator(".url-card svg").count() == 1  # the 扫码测试 QR
        form = page.locator("form.slips-form").first
        form.locator("input[name=wifi]").fill("Hall-5G")
        with page.expect_download() as download_info:
            form.get_by_role("button", name="签发并打印票（PDF）").click()
        download = download_info.value
        path = tmp_path / "slips.pdf"
        download.save_as(path)
        assert path.read_bytes().startswith(b"%PDF")
        from playwright.sync_api import expect

        expect(form.locator(".progress")).to_contain_text("已完成 4 页", timeout=15000)
        shot(page, "desk-3-slips")
        page.reload()
        assert "40" in page.locator("#groups").inner_text()  # issued, reconciled on the page
        context.close()


def test_names_in_stroke_order_on_the_clerks_page_and_the_phone(browser, world, settings, tmp_path, sqlite_only):
    from playwright.sync_api import expect

    count_only = "䶮"  # in 通用规范汉字表 (刘䶮), but no source has its stroke sequence
    m = world.meeting(f'''
[meeting]
title = "姓氏笔画测试"
same_surname = "逐字比较"
[[groups]]
name = "委员"
expected = 5
[[items]]
title = "推荐人选表决"
nominees = ["陈清州", "王𫖮", "陈春", "禤小明", "陈学敏", "{count_only}建国", "于洋"]
''')
    gid, item = m.groups[0].id, m.items[0]
    world.staff("clerk")
    with running_server(settings, tmp_path / "server.log") as base:
        context, page = staff_page(browser, base, "clerk1")
        page.goto(f"{base}/admin/meetings/{m.id}")
        expect(page.locator("#name-order")).to_contain_text("按姓氏笔画排序（逐字比较）")
        gaps = page.locator("#stroke-gaps")
        expect(gaps).to_contain_text(f"{count_only}：只知笔画数（9画）")
        expect(gaps).to_contain_text(f"（{count_only}建国）")
        expect(gaps).not_to_contain_text("𫖮")  # entered by hand with its source: complete data
        shot(page, "desk-3-stroke-gaps")
        page.get_by_text("更改同姓排列规则").click()
        page.select_option("#name-order select[name=same_surname]", "单名优先")
        page.get_by_role("button", name="保存").click()
        expect(page.locator(".ok-note")).to_contain_text("人选现按姓氏笔画排序（单名优先）")
        page.goto(f"{base}/admin/items/{item.id}/edit")
        expected = ["于洋", "王𫖮", "陈春", "陈学敏", "陈清州", f"{count_only}建国", "禤小明"]
        assert [line.split("，")[0] for line in page.locator("#nominees").input_value().splitlines()] == expected
        context.close()

        code = world.codes(gid, 1)[0]
        world.present(gid, 5)
        world.open(item.id)
        context = browser.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, java_script_enabled=False, locale="zh-CN"
        )
        page = context.new_page()
        page.goto(f"{base}/v/{code.lower()}")
        assert page.locator("fieldset.nominee .name").all_inner_texts() == expected
        expect(page.locator(".order-note")).to_have_text("人选按姓氏笔画排序（单名优先）")
        shot(page, "phone-6-stroke-order")
        context.close()


def kinds_meetings(world, sub_items=False):
    """The two example meetings (测评, 差额) and one with a 推荐 and an 打分 item, 实到 entered."""
    from conftest import ROOT

    evaluation = world.meeting((ROOT / "examples" / "three-way-evaluation.toml").read_text(encoding="utf-8"))
    contest = world.meeting((ROOT / "examples" / "standing-committee-contest.toml").read_text(encoding="utf-8"))
    parts = 'sub_items = [{ name = "演讲", max = 60 }, { name = "答辩", max = 40 }]' if sub_items else ""
    others = world.meeting(
        f"""
[meeting]
title = "推荐与评分"
[[groups]]
name = "与会人员"
expected = 30
[[items]]
title = "推荐副局长人选"
kind = "recommend"
seats = 2
ratio = "1.5"
candidates = ["张伟", "王芳", "李强", "欧阳明", "禤小明"]
write_ins = true
[[items]]
title = "竞职演讲评分"
kind = "score"
candidates = ["张伟", "王芳"]
{parts}
"""
    )
    for m in (evaluation, contest, others):
        for g in m.groups:
            world.present(g.id, g.expected)
    return evaluation, contest, others


def test_every_kind_on_the_phone_and_the_clerks_form(browser, world, settings, tmp_path, sqlite_only):
    from playwright.sync_api import expect

    evaluation, contest, others = kinds_meetings(world, sub_items=True)
    world.staff("clerk")
    pages = []
    for m, item in (
        (evaluation, evaluation.items[0]),
        (contest, contest.items[0]),
        (others, others.items[0]),
        (others, others.items[1]),
    ):
        code = world.codes(m.groups[0].id, 1)[0]
        world.open(item.id)
        pages.append((item, code))
    with running_server(settings, tmp_path / "server.log") as base:
        for item, code in pages:
            context = browser.new_context(
                viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
            )
            page = context.new_page()
            page.goto(f"{base}/v/{code.lower()}")
            page.goto(f"{base}/ballot/{item.id}")
            expect(page.locator("h1")).to_contain_text(item.title)
            if item.kind == "recommend":
                counter = page.locator(".counter")
                expect(counter).to_have_text("已选 0/2")
                page.locator("label.pick-label").nth(0).click()
                page.locator("label.pick-label").nth(1).click()
                page.fill("input[name=w0]", "赵敏")
                expect(counter).to_have_text("已选 3/2")
                expect(counter).to_have_class("counter over")
            shot(page, f"phone-kind-{item.kind}")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            context.close()
        context, page = staff_page(browser, base, "clerk1")
        page.goto(f"{base}/admin/meetings/{others.id}/items/new")
        page.select_option("#kind", "evaluate")
        expect(page.locator("fieldset[data-kind=evaluate]")).to_be_visible()
        expect(page.locator("fieldset[data-kind=recommend]")).to_be_hidden()
        shot(page, "desk-4-item-form-evaluate")
        context.close()


def test_result_pages_of_every_kind_at_projector_size(browser, world, settings, tmp_path, sqlite_only):
    from httpvoter import Phone

    evaluation, contest, others = kinds_meetings(world)
    plans = {
        evaluation.items[0].id: (evaluation, [{f"s{i}": str((i + n) % 4) for i in range(7)} for n in range(6)]),
        contest.items[0].id: (contest, [{"p0": "0", "p1": str(n % 2), "p2": "1"} for n in range(9)]),
        others.items[0].id: (others, [{"c0": "1", "c2": "1"}] * 4 + [{"c1": "1", "w0": "赵敏"}] * 3),
        others.items[1].id: (
            others,
            [{"s0_0": s, "s1_0": t} for s, t in (("90", "85"), ("92", "88"), ("88", "90"), ("95", "80"), ("85", "86"))],
        ),
    }
    world.staff("chair")
    with running_server(settings, tmp_path / "server.log") as base:
        for item_id, (m, casts) in plans.items():
            world.open(item_id)
            codes = world.codes(m.groups[0].id, len(casts))
            for code, choices in zip(codes, casts, strict=True):
                phone = Phone(base)
                phone.enter(code)
                phone.vote(item_id, choices)
                phone.close()
            world.close(item_id)
        context, page = staff_page(browser, base, "chair1")
        for item_id in plans:
            page.goto(f"{base}/admin/items/{item_id}/result")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1920
            kind = page.locator("table.result").first
            assert kind.is_visible()
            shot(page, f"desk-result-{item_id}")
        context.close()
        # the same results revealed on the projector, in both themes, without scrollbars
        from playwright.sync_api import expect

        links = {m.id: screen_link(world, m) for m in (evaluation, contest, others)}
        context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        page = context.new_page()
        for item_id, (m, _) in plans.items():
            put_on_screen(world, m, item_id, reveal=True)
            kind = next(i.kind for i in m.items if i.id == item_id)
            for theme in ("light", "dark"):
                page.goto(f"{base}{links[m.id]}?theme={theme}")
                expect(page.locator(f".kind-{kind} .row").first).to_be_visible()
                assert page.evaluate("document.documentElement.scrollHeight") <= 1080
                assert page.evaluate("document.documentElement.scrollWidth") <= 1920
                shot(page, f"screen-3-result-{kind}-{theme}")
        context.close()


def screen_link(world, meeting) -> str:
    from conftest import ACTOR

    from ballot.live import screen
    from ballot.storage.models import Meeting

    with world.db.write() as s:
        key = screen.new_key(s, ACTOR, s.get(Meeting, meeting.id), world.settings.derived_key("screen"))
    return f"/screen/{key}"


def put_on_screen(world, meeting, item_id, reveal):
    from conftest import ACTOR

    from ballot.live import screen
    from ballot.storage.models import Meeting

    with world.db.write() as s:
        screen.show(s, ACTOR, s.get(Meeting, meeting.id), item_id, reveal)


def test_projector_updates_within_a_second_and_reveals_the_result(browser, world, settings, tmp_path, sqlite_only):
    import time

    import httpx
    from playwright.sync_api import expect

    m = world.standard(nominees=("冼国强", "亓秀英", "王𫖮"))
    gid, item = m.groups[0].id, m.items[0]
    world.present(gid, 11)
    codes = world.codes(gid, 9)
    world.open(item.id)
    link = screen_link(world, m)
    with running_server(settings, tmp_path / "server.log") as base:
        context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        page = context.new_page()
        page.goto(base + link)
        expect(page.locator("#cast")).to_have_text("0")
        expect(page.locator(".item-title")).to_have_text("干部任免票决")
        delays = []
        with httpx.Client(base_url=base) as api:
            for n, code in enumerate(codes, start=1):
                votes = {"n0": "yes", "n1": "yes" if n <= 5 else "no", "n2": "yes" if n <= 7 else "abstain"}
                started = time.monotonic()
                r = api.post("/api/v1/ballots", json={"code": code, "item_id": item.id, "choices": votes})
                assert r.status_code == 201
                expect(page.locator("#cast")).to_have_text(str(n), timeout=1000)  # no reload, within 1 s
                delays.append(time.monotonic() - started)
        assert max(delays) < 1.0
        shot(page, "screen-1-turnout")
        assert page.evaluate("document.documentElement.scrollHeight") <= 1080
        world.close(item.id)
        put_on_screen(world, m, item.id, reveal=True)
        rows = page.locator(".kind-approval .row")
        expect(rows).to_have_count(3, timeout=1000)
        # 王 and 亓 have 4 strokes: 王 横横竖横 before 亓 横横撇竖; 冼 has 8. The rule's line is at 6 of 11.
        expect(rows.nth(0)).to_contain_text("王𫖮")
        expect(rows.nth(0)).to_contain_text("同意 9")
        expect(rows.nth(1)).to_contain_text("亓秀英")
        expect(rows.nth(1)).to_contain_text("同意 5")
        expect(rows.nth(1)).to_contain_text("未通过")
        expect(rows.nth(2)).to_contain_text("冼国强")
        expect(rows.nth(2)).to_contain_text("同意 7")
        expect(page.locator(".rule")).to_contain_text("应到人数 11 人，至少需 6 票")
        shot(page, "screen-2-result-approval-light")
        page.goto(base + link + "?theme=dark")
        shot(page, "screen-2-result-approval-dark")
        put_on_screen(world, m, item.id, reveal=False)
        expect(page.locator(".kind-approval")).to_have_count(0, timeout=1000)
        context.close()


def test_rare_name_characters_come_from_the_meetings_own_web_font(browser, world, settings, tmp_path, sqlite_only):
    from playwright.sync_api import expect

    m = world.standard(nominees=("王𫖮", "禤小明", "訾雪"))
    gid, item = m.groups[0].id, m.items[0]
    world.present(gid, 11)
    code = world.codes(gid, 1)[0]
    world.open(item.id)
    link = screen_link(world, m)
    with running_server(settings, tmp_path / "server.log") as base:
        context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        page = context.new_page()
        page.goto(base + link)
        page.wait_for_load_state("networkidle")
        # the subset font loads, made of the meeting's own characters (no box on a laptop without them)
        loaded = page.evaluate("document.fonts.load('40px MeetingNames', '王𫖮禤訾').then(fs => fs.length)")
        assert loaded == 1
        css = page.evaluate("fetch(document.querySelector('link[href$=\"names.css\"]').href).then(r => r.text())")
        font = page.request.get(base + css.split('url("')[1].split('")')[0])
        assert font.ok and font.headers["content-type"] == "font/woff2" and 1000 < len(font.body()) < 200_000
        context.close()
        phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, locale="zh-CN")
        page = phone.new_page()
        page.goto(f"{base}/v/{code.lower()}")
        expect(page.locator("fieldset.nominee .name").first).to_have_text("王𫖮")
        page.wait_for_load_state("networkidle")
        assert page.evaluate(
            "[...document.fonts].some(f => f.family.includes('MeetingNames') && f.status === 'loaded')"
        )
        shot(page, "phone-7-rare-names")
        phone.close()


@pytest.mark.parametrize("count", [30, 45])
def test_projector_holds_thirty_people_and_pages_beyond(browser, world, settings, tmp_path, sqlite_only, count):
    from playwright.sync_api import expect

    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    names = [f"{surnames[i]}{'建国' if i % 2 else '丽'}" for i in range(count)]
    m = world.standard(nominees=tuple(names))
    gid, item = m.groups[0].id, m.items[0]
    world.present(gid, 11)
    world.open(item.id)
    world.close(item.id)
    link = screen_link(world, m)
    put_on_screen(world, m, item.id, reveal=True)
    with running_server(settings, tmp_path / "server.log") as base:
        context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        page = context.new_page()
        page.goto(base + link)
        rows = page.locator(".kind-approval .row")
        expect(rows).to_have_count(count)
        visible = page.evaluate(
            "[...document.querySelectorAll('.kind-approval .row')].filter(r => r.offsetParent !== null"
            " && r.getBoundingClientRect().bottom <= document.querySelector('.rule').getBoundingClientRect().top"
            " && r.getBoundingClientRect().right <= window.innerWidth).length"
        )
        shot(page, f"screen-4-{count}-people")
        assert page.evaluate("document.documentElement.scrollHeight") <= 1080
        if count <= 30:
            assert visible == count  # all on one screen, none under the footer
        else:
            assert 0 < visible < count and page.locator("#live.paged").count() == 1  # a page at a time
        context.close()
