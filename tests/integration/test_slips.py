"""Slip sheets: the PDF a clerk prints. Decoded back with zbarimg, read with pdftotext."""

import io
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from conftest import ARTIFACTS, ROOT, csrf_of, login
from sqlalchemy import func, select
from voting import enter, vote

from ballot.cli import main
from ballot.documents.slips import COLUMNS, ROWS, SlipError, SlipSheet, qr_matrix, render_slips, stream_slips
from ballot.storage.models import Credential, IssueBatch, SlipJob
from ballot.voting import credentials
from ballot.voting.codes import new_code

SHEET = SlipSheet(
    "××县2026年度科级领导干部会议推荐大会", "参会领导干部", "2026-11-25", "http://192.168.1.10:8000", "County-Hall"
)


def decode(pdf: bytes, tmp_path, page: int = 1) -> list[str]:
    """Render one page at 150 dpi, cut it into its slips as a guillotine would, and scan each
    slip on its own (as a phone does: zbar misses some codes when ten share one image)."""
    from PIL import Image

    path = tmp_path / "slips.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-f", str(page), "-l", str(page), str(path), str(tmp_path / "p")], check=True
    )
    png = sorted(tmp_path.glob("p-*.png"))[-1]
    image = Image.open(png)
    width, height = image.size
    found = []
    for slot in range(COLUMNS * ROWS):
        col, row = slot % COLUMNS, slot // COLUMNS
        box = (col * width // COLUMNS, row * height // ROWS, (col + 1) * width // COLUMNS, (row + 1) * height // ROWS)
        image.crop(box).save(tmp_path / "slip.png")
        out = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "slip.png")], capture_output=True, text=True)
        found += out.stdout.split()
    return sorted(found)


def text_of(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "t.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


needs_tools = pytest.mark.skipif(
    not (shutil.which("zbarimg") and shutil.which("pdftoppm")),
    reason="zbar-tools and poppler-utils are installed by scripts/setup.sh test",
)


def test_upper_case_url_uses_alphanumeric_mode():
    assert SHEET.url_for("7k3m-q9tx-2hbd") == "HTTP://192.168.1.10:8000/V/7K3M-Q9TX-2HBD"
    assert len(qr_matrix(SHEET.url_for(new_code()))) == 29  # version 3, not 4 as in byte mode


@needs_tools
def test_every_qr_on_a_page_decodes_to_its_slip(tmp_path):
    codes = [new_code() for _ in range(23)]
    out = io.BytesIO()
    progress = []
    assert render_slips(SHEET, codes, out, lambda d, t: progress.append((d, t))) == 3
    assert progress == [(3, 3)]  # one part of up to ten pages
    pdf = out.getvalue()
    assert decode(pdf, tmp_path, 1) == sorted(SHEET.url_for(c) for c in codes[:10])
    assert decode(pdf, tmp_path, 3) == sorted(SHEET.url_for(c) for c in codes[20:])
    text = text_of(pdf, tmp_path)
    for code in codes:
        assert code in text  # the typeable code, in clear beside its QR
    for words in (
        "科级领导干部",
        "参会领导干部",
        "2026-11-25",
        "扫码，或在手机浏览器输入网址和票码",
        "County-Hall",
        "192.168.1.10:8000",
    ):
        assert words in text
    assert not re.search(r"第\s*\d+\s*张|No\.", text)  # no serial numbers
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "slips.pdf", ARTIFACTS / "slips.pdf")


def test_the_sheet_streams_out_ten_pages_at_a_time(tmp_path):
    codes = [new_code() for _ in range(250)]
    progress = []
    chunks = list(stream_slips(SHEET, codes, lambda d, t: progress.append((d, t))))
    assert len(chunks) == 5  # header, three parts, then page tree and cross-reference table
    assert progress == [(10, 25), (20, 25), (25, 25)]
    pdf = b"".join(chunks)
    path = tmp_path / "s.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    assert "Pages:           25" in info.stdout and not info.stderr
    assert decode(pdf, tmp_path, 25) == sorted(SHEET.url_for(c) for c in codes[240:])


def test_missing_glyph_is_refused_before_printing():
    with pytest.raises(SlipError, match="字体缺少以下字符"):
        render_slips(SlipSheet("会议\U0002b5ae", "组", "", "http://x"), [new_code()], io.BytesIO())


@needs_tools
def test_clerk_downloads_slips_and_codes_work(app, world, tmp_path):
    app.extensions["ballot.settings"] = app.extensions["ballot.settings"].with_overrides(public_url="http://vote.example.org")
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    m = world.standard()
    gid = m.groups[0].id
    page = clerk.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    assert "http://vote.example.org" in page and "<svg" in page and "扫码测试" in page
    token = "ab" * 16
    r = clerk.post(
        f"/admin/groups/{gid}/slips",
        data={"csrf_token": csrf_of(page), "count": "12", "wifi": "Hall-5G", "token": token},
    )
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    pdf = r.get_data()
    urls = decode(pdf, tmp_path, 1)
    assert len(urls) == 10 and all(u.startswith("HTTP://VOTE.EXAMPLE.ORG/V/") for u in urls)
    job = clerk.get(f"/admin/slip-jobs/{token}").get_json()
    assert job == {"status": "done", "stalled": False, "pages_done": 2, "pages_total": 2}
    # The printed URL works as printed: upper case path and code.
    assert enter(app.test_client(), urls[0].split("/V/")[1]).status_code == 303
    assert app.test_client().get("/V/" + urls[1].split("/V/")[1]).status_code == 303
    with world.db.read() as s:
        assert s.execute(select(func.count()).select_from(Credential)).scalar_one() == 12
        assert s.get(SlipJob, token).status == "done"


def test_scan_test_page(client):
    r = client.get("/SCAN-TEST")
    assert r.status_code == 200 and "连接正常" in r.get_data(as_text=True)


def test_void_batch_and_all_unused_when_the_door_closes(app, world):
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    first = world.codes(gid, 5)
    second = world.codes(gid, 3)
    world.present(gid, 11)
    world.open(item.id)
    voter = app.test_client()
    enter(voter, first[0])

    vote(voter, item.id, {"n0": "yes"})
    url = f"/admin/meetings/{m.id}"
    page = clerk.get(url).get_data(as_text=True)
    with world.db.read() as s:
        batch2 = s.execute(select(IssueBatch.id).order_by(IssueBatch.id.desc())).scalars().first()
    r = clerk.post(f"/admin/meetings/{m.id}/void-batch", data={"csrf_token": csrf_of(page), "batch": str(batch2)})
    assert r.status_code == 303
    assert enter(app.test_client(), second[0]).status_code == 400
    with world.db.read() as s:
        assert credentials.reconciliation(s, gid) == {
            "issued": 8,
            "used": 1,
            "voided": 3,
            "unused": 4,
            "balanced": True,
        }
    no_confirm = clerk.post(f"/admin/groups/{gid}/void-unused", data={"csrf_token": csrf_of(page)})
    assert no_confirm.status_code == 400
    r = clerk.post(f"/admin/groups/{gid}/void-unused", data={"csrf_token": csrf_of(page), "confirm": "1"})
    assert r.status_code == 303
    with world.db.read() as s:
        assert credentials.reconciliation(s, gid) == {
            "issued": 8,
            "used": 1,
            "voided": 7,
            "unused": 0,
            "balanced": True,
        }
    assert enter(app.test_client(), first[1]).status_code == 400  # a spare slip cannot vote
    assert enter(app.test_client(), first[0]).status_code == 303  # the used one still shows its items
    page = clerk.get(url).get_data(as_text=True)
    assert "已签发 = 已使用 + 未使用 + 已作废" in page


@needs_tools
def test_cli_issues_a_pdf(tmp_path, monkeypatch, backend, db_url):
    if backend != "sqlite":
        pytest.skip("CLI path is the same on both databases")
    monkeypatch.delenv("BALLOT_SECRET_KEY", raising=False)
    monkeypatch.delenv("BALLOT_DATABASE_URL", raising=False)
    inst = tmp_path / "inst"
    run = CliRunner()
    run.invoke(main, ["init", "--instance", str(inst)])
    run.invoke(
        main,
        ["meeting", "load", "--instance", str(inst), str(ROOT / "examples" / "standing-committee-appointments.toml")],
    )
    pdf = tmp_path / "slips.pdf"
    r = run.invoke(
        main,
        [
            "codes",
            "issue",
            "--instance",
            str(inst),
            "1",
            "--count",
            "11",
            "--pdf",
            str(pdf),
            "--public-url",
            "http://10.1.2.3:8000",
            "--wifi",
            "CW-Room",
        ],
    )
    assert r.exit_code == 0, r.output
    assert len(decode(pdf.read_bytes(), tmp_path, 2)) == 1
    # the report-signing key made by `ballot init`: its fingerprint on every slip, to note before voting
    from ballot.archive import signing

    (key,) = signing.public_keys(inst)
    text = text_of(pdf.read_bytes(), tmp_path)
    assert text.count("计票报告签名密钥指纹 " + key.fingerprint) == 11
    r = run.invoke(main, ["codes", "issue", "--instance", str(inst), "1", "--count", "1"])
    assert r.exit_code != 0 and "--pdf" in r.output
    r = run.invoke(main, ["codes", "void-unused", "--instance", str(inst), "1", "--group", "县委常委"])
    assert r.exit_code == 0 and "已作废 11 张" in r.output


def test_slip_sheet_that_cannot_print_issues_nothing(app, world):
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    m = world.meeting('[meeting]\ntitle="会议\U0002b5ae"\n[[groups]]\nname="甲"\nexpected=3\n')
    gid = m.groups[0].id
    page = clerk.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    r = clerk.post(f"/admin/groups/{gid}/slips", data={"csrf_token": csrf_of(page), "count": "5"})
    assert r.status_code == 400 and "字体缺少" in r.get_data(as_text=True)
    from ballot.voting import credentials

    with world.db.read() as s:
        assert credentials.reconciliation(s, gid)["issued"] == 0


def test_broken_slip_download_voids_its_own_batch_only(app, world, monkeypatch):
    from ballot.web.staff import codes as admin_module

    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    m = world.standard()
    gid = m.groups[0].id
    others = []

    def breaking_stream(sheet, codes, progress=None):
        yield b"%PDF-1.4\n"
        others.extend(world.codes(gid, 2))  # another clerk issues codes meanwhile
        raise RuntimeError("disk full")

    monkeypatch.setattr(admin_module, "stream_slips", breaking_stream)
    page = clerk.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    with pytest.raises(RuntimeError, match="disk full"):
        clerk.post(f"/admin/groups/{gid}/slips", data={"csrf_token": csrf_of(page), "count": "5"}).get_data()
    from ballot.voting import credentials

    with world.db.read() as s:
        assert credentials.reconciliation(s, gid) == {
            "issued": 7,
            "used": 0,
            "voided": 5,
            "unused": 2,
            "balanced": True,
        }
    assert enter(app.test_client(), others[0]).status_code == 303  # the other clerk's codes still work
