"""report.pdf: PDF/A-3b declared, fonts embedded and subset, names read back exactly, the key
fingerprint and a QR of tally.json's digest on every page, tally.json and its signature attached;
names the fonts cannot print are flagged before signing; a vote that cannot be finalised is
printed as such. The PDF is written to test-artifacts/ for a person to look at."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
import subprocess
import zipfile

import pytest
from click.testing import CliRunner
from conftest import ARTIFACTS, ROOT, csrf_of, login
from voting import vote

from ballot.archive import build as archive
from ballot.archive import signing
from ballot.archive import verify as verifier
from ballot.cli import main
from ballot.documents import report, reportfonts
from ballot.storage import audit
from ballot.storage.models import Meeting

pytestmark = pytest.mark.server  # real PDFs, poppler and zbar


@pytest.fixture(autouse=True)
def _once(request):
    """The PDF is made from tally.json alone; the database side is tested on both in test_archive."""
    if "backend" in request.fixturenames and request.getfixturevalue("backend") != "sqlite":
        pytest.skip("the report is the same on both databases; made once, on SQLite")


needs_poppler = pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils (scripts/setup.sh test)")


def fallback_only_character() -> str:
    """A real CJK character (Extension B) that Noto Serif CJK and HanaMinA lack and HanaMinB has."""
    from fontTools.ttLib import TTCollection, TTFont

    noto = next(
        f
        for f in TTCollection(reportfonts.CHAIN[0][1], lazy=True).fonts
        if "Noto Serif CJK SC" in f["name"].getDebugName(4)
    ).getBestCmap()
    hana_a = TTFont(reportfonts.CHAIN[1][1], lazy=True).getBestCmap()
    hana_b = TTFont(reportfonts.CHAIN[2][1], lazy=True).getBestCmap()
    return chr(next(c for c in sorted(hana_b) if 0x20000 <= c < 0x2A6E0 and c not in noto and c not in hana_a))


MEETING = """
[meeting]
title = "某县委常委会第12次会议"
date = "2026-11-23"
location = "县委第一会议室"
[[groups]]
name = "常委"
expected = 9
[[groups]]
name = "列席"
expected = 2
[[items]]
title = "干部任免票决"
groups = ["常委"]
nominees = [{{ name = "王𫖮", post = "县财政局局长" }}, {{ name = "禤文华", post = "县审计局局长" }}, {{ name = "张{rare}", post = "县统计局局长" }}]
[[items]]
title = "差额票决：县教育局局长"
kind = "contest"
groups = ["常委"]
rule = "appointment"
[[items.posts]]
post = "县教育局局长"
seats = 1
candidates = ["刘䶮", "訾明", "欧阳丽"]
[[items]]
title = "班子成员民主测评"
kind = "evaluate"
weights = {{ "常委" = "0.5", "列席" = "0.5" }}
subjects = ["王𫖮", "禤文华"]
[[items]]
title = "民主推荐县发改局副局长人选"
kind = "recommend"
groups = ["常委"]
seats = 1
candidates = ["亓秀英", "司马青"]
write_ins = true
[[items]]
title = "竞职演讲评分"
kind = "score"
groups = ["常委"]
candidates = ["靳一鸣", "郄晓东"]
"""


@pytest.fixture
def meeting_archive(app, world, tmp_path):
    rare = fallback_only_character()
    m = world.meeting(MEETING.format(rare=rare))
    approval, contest, evaluation, recommendation, scoring = m.items
    members, guests = m.groups
    world.present(members.id, 7)
    world.present(guests.id, 2)
    codes = world.codes(members.id, 7)
    guest_codes = world.codes(guests.id, 2)
    world.open(approval.id)
    for i, code in enumerate(codes):
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, approval.id, {"n0": "yes", "n1": "yes" if i < 5 else "no", "n2": "abstain" if i == 0 else "yes"})
    world.close(approval.id)
    world.open(contest.id)
    for i, code in enumerate(codes[:6]):
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, contest.id, {"p0": "0" if i < 5 else "1"})
    world.close(contest.id)
    world.open(evaluation.id)
    for code in codes + guest_codes:
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, evaluation.id, {"s0": "0", "s1": "1"})
    world.close(evaluation.id)
    world.open(recommendation.id)
    for i, code in enumerate(codes):
        phone = app.test_client()
        phone.get(f"/v/{code}")
        # 上官婉 written in on 5 ballots: at least k, so her name is published
        vote(phone, recommendation.id, {"w0": "上官婉"} if i < 5 else ({"c0": "1"} if i < 6 else {"c1": "1"}))
    world.close(recommendation.id)
    world.open(scoring.id)
    for i, code in enumerate(codes[:5]):
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, scoring.id, {"s0_0": str(80 + i), "s1_0": str(90 - i)})
    world.close(scoring.id)
    key = signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    folder = tmp_path / "archive"
    archive.write(files, folder)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report.pdf").write_bytes(files["report.pdf"])
    return folder, key, files, rare


NAMES = ["王𫖮", "禤文华", "刘䶮", "訾明", "欧阳丽", "亓秀英", "司马青", "上官婉", "靳一鸣", "郄晓东"]


@needs_poppler
def test_every_font_is_embedded_and_subset_and_the_rare_name_uses_the_fallback_font(meeting_archive):
    folder, _, _, rare = meeting_archive
    out = subprocess.run(["pdffonts", str(folder / "report.pdf")], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    assert rows, out
    for row in rows:
        emb, sub = row[-5], row[-4]
        assert (emb, sub) == ("yes", "yes"), row  # embedded and subset (PDF/A needs embedded)
        assert re.match(r"^[A-Z]{6}\+", row[0]), row  # a subset's tag
    families = " ".join(row[0] for row in rows)
    assert "Noto-Serif-CJK-SC" in families and "HanaMinB" in families  # 张{rare}: HanaMinB only


@needs_poppler
def test_pdftotext_gives_back_every_name_exactly(meeting_archive):
    folder, _, _, rare = meeting_archive
    text = subprocess.run(["pdftotext", str(folder / "report.pdf"), "-"], capture_output=True, text=True).stdout
    for name in [*NAMES, "张" + rare, "县财政局局长"]:
        assert name in text, name
    assert "按姓氏笔画排序" in text and "同意票超过应到会人数的半数" in text or "应到" in text
    assert "监票人" in text and "计票人" in text and "主持人" in text


def test_pdf_a_3b_metadata_output_intent_and_attachments(meeting_archive):
    import pikepdf

    _, _, files, _ = meeting_archive
    pdf = pikepdf.open(io.BytesIO(files["report.pdf"]))
    with pdf.open_metadata() as xmp:
        assert xmp["pdfaid:part"] == "3" and xmp["pdfaid:conformance"] == "B"
        assert "计票结果报告" in str(xmp.get("dc:title"))
    (intent,) = list(pdf.Root.OutputIntents)
    assert intent.S == "/GTS_PDFA1" and "sRGB" in str(intent.OutputConditionIdentifier)
    assert intent.DestOutputProfile.N == 3
    attached = {name: spec.get_file().read_bytes() for name, spec in pdf.attachments.items()}
    assert attached == {"tally.json": files["tally.json"], "tally.json.minisig": files["tally.json.minisig"]}
    relations = {str(f.F): str(f.AFRelationship) for f in pdf.Root.AF}
    assert relations == {"tally.json": "/Source", "tally.json.minisig": "/Supplement"}
    assert [float(x) for x in pdf.pages[0].MediaBox[2:]] == [
        pytest.approx(595.28, abs=0.5),
        pytest.approx(841.89, abs=0.5),
    ]  # A4


@needs_poppler
@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbar-tools (scripts/setup.sh test)")
def test_every_page_has_the_fingerprint_and_a_qr_of_the_tally_digest(meeting_archive, tmp_path):
    folder, key, files, _ = meeting_archive
    pdf = folder / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 2
    expected = report.digest_text(files["tally.json"])
    for page in range(1, pages + 1):
        text = subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, text=True
        ).stdout
        assert key.fingerprint in text
        assert f"第{page}页/共{pages}页" in "".join(text.split())
        png = tmp_path / f"page-{page}"
        subprocess.run(
            ["pdftoppm", "-r", "200", "-f", str(page), "-l", str(page), "-png", str(pdf), str(png)], check=True
        )
        (image,) = tmp_path.glob(f"page-{page}*.png")
        if page == 1:
            shutil.copy(image, ARTIFACTS / "report-page-1.png")
        scanned = subprocess.run(["zbarimg", "--raw", "-q", str(image)], capture_output=True, text=True).stdout
        assert expected in scanned.splitlines(), (page, scanned)
        image.unlink()


def test_the_report_pdf_is_signed_and_a_changed_byte_is_detected(meeting_archive):
    _, key, files, _ = meeting_archive
    assert all(c.ok for c in verifier.verify(files, [key])), [c.line for c in verifier.verify(files, [key])]
    changed = bytearray(files["report.pdf"])
    changed[len(changed) // 2] ^= 1
    bad = [c.line for c in verifier.verify({**files, "report.pdf": bytes(changed)}, [key]) if not c.ok]
    assert bad and bad[0].startswith("失败：report.pdf 的签名")


def test_a_vote_that_cannot_be_finalised_is_printed_as_such(app, world, tmp_path):
    m = world.meeting(
        """
[meeting]
title = "收回多于实到"
[[groups]]
name = "常委"
expected = 9
[[items]]
title = "干部任免票决"
nominees = ["张三"]
"""
    )
    (item,) = m.items
    codes = world.codes(m.groups[0].id, 7)
    world.present(m.groups[0].id, 6)  # 7 ballots come back from 6 present
    world.open(item.id)
    for code in codes:
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item.id, {"n0": "yes"})
    world.close(item.id)
    signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    tally = json.loads(files["tally.json"])
    assert tally["items"][0]["result"]["finalised"] is False
    html = report.html(tally, files["tally.json"])
    assert "本议题结果不能确认" in html and "不据此确认任何人通过或当选" in html
    assert "通过</td>" not in html  # no one is shown as passed


UNPRINTABLE = """
[meeting]
title = "缺字检查"
[[groups]]
name = "委员"
expected = 3
[[items]]
title = "干部任免票决"
nominees = ["王{nowhere}明", "李四"]
"""


def nowhere_character() -> str:
    """An assigned CJK character (Extension G) that no installed report font has."""
    covered = reportfonts._coverage()
    return next(chr(c) for c in range(0x30000, 0x3134B) if not any(c in cmap for _, cmap in covered))


def _closed_unprintable(app, world):
    m = world.meeting(UNPRINTABLE.format(nowhere=nowhere_character()))
    (item,) = m.items
    (code,) = world.codes(m.groups[0].id, 1)
    world.present(m.groups[0].id, 3)
    world.open(item.id)
    phone = app.test_client()
    phone.get(f"/v/{code}")
    vote(phone, item.id, {"n0": "yes", "n1": "yes"})
    world.close(item.id)
    return m


def test_a_name_the_fonts_cannot_print_is_flagged_before_signing(app, world, tmp_path):
    m = _closed_unprintable(app, world)
    signing.create_key(tmp_path / "inst")
    key = signing.load_key(tmp_path / "inst")
    nowhere = nowhere_character()
    with world.db.read() as s:
        with pytest.raises(
            archive.UnprintableNames, match=f"王{nowhere}明.*U\\+{ord(nowhere):04X}：已安装的字库都没有这个字"
        ):
            archive.build(s, s.get(Meeting, m.id), key)
        files = archive.build(s, s.get(Meeting, m.id), key, accept_unprintable=True)
    names = [row["name"] for row in json.loads(files["tally.json"])["items"][0]["result"]["rows"]]
    assert f"王{nowhere}明" in names  # tally.json keeps the exact character
    # a private-use character (a vendor input method's own) is flagged too
    (gap,) = reportfonts.missing(["李\ue000"])
    assert gap.char == "\ue000" and "私用区字符" in gap.problem and gap.texts == ("李\ue000",)


def test_chair_sees_the_unprintable_name_and_confirms_before_the_zip(app, world, tmp_path, monkeypatch):
    m = _closed_unprintable(app, world)
    signing.create_key(world.settings.instance_path)
    world.staff("chair")
    chair = app.test_client()
    login(chair, "chair1")
    page = chair.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    assert 'id="unprintable"' in page and "已安装的字库都没有这个字" in page
    refused = chair.get(f"/admin/meetings/{m.id}/archive.zip")
    assert refused.status_code == 200 and "报告无法正确印出以下字符" in refused.get_data(as_text=True)
    form = refused.get_data(as_text=True)
    got = chair.post(
        f"/admin/meetings/{m.id}/archive.zip", data={"csrf_token": csrf_of(form), "accept_unprintable": "1"}
    )
    assert got.status_code == 200 and got.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(got.data)) as z:
        assert "report.pdf" in z.namelist()
    with world.db.read() as s:  # only the signing that happened is recorded, with the acceptance
        signed = [json.loads(e.detail_json) for e in audit.entries(s, m.id) if e.action == "archive.sign"]
    assert [d["accept_unprintable"] for d in signed] == [True]


def test_cli_export_refuses_until_the_clerk_accepts(app, world, settings, tmp_path):
    m = _closed_unprintable(app, world)
    env = {"BALLOT_DATABASE_URL": settings.database_url, "BALLOT_INSTANCE": str(settings.instance_path)}
    runner = CliRunner()
    assert runner.invoke(main, ["init"], env=env).exit_code == 0
    refused = runner.invoke(main, ["export", str(m.id), str(tmp_path / "out")], env=env)
    assert refused.exit_code != 0 and "都没有这个字" in refused.output and "--accept-unprintable" in refused.output
    done = runner.invoke(main, ["export", str(m.id), str(tmp_path / "out"), "--accept-unprintable"], env=env)
    assert done.exit_code == 0, done.output
    assert (tmp_path / "out" / "report.pdf").exists()


@pytest.fixture(scope="module")
def tgh() -> list[str]:
    """The 8,105 characters of 通用规范汉字表, read from Unihan by the stroke-data build script."""
    spec = importlib.util.spec_from_file_location("build_strokes", ROOT / "scripts" / "build_strokes.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    try:
        return sorted(build.unihan("kTGH"))
    except FileNotFoundError:
        pytest.skip("Debian unicode-data is not installed (scripts/setup.sh test installs it)")


def test_fonts_cover_every_character_of_the_general_standard_table_and_rare_surnames(tgh):
    assert len(tgh) == 8105
    rare = "𫖮禤訾䶮龑𬌗赟昶邝隗亓厍靳郄"
    assert reportfonts.missing(["".join(tgh), rare]) == []


@needs_poppler
def test_all_8105_characters_render_and_read_back(tgh, tmp_path):
    from weasyprint import HTML

    lines = ["".join(tgh[i : i + 40]) for i in range(0, len(tgh), 40)]
    body = "".join(f"<p>{line}</p>" for line in lines)
    html = (
        f'<html lang="zh-CN"><body style="font-family: {reportfonts.css_family()}; font-size: 9pt">{body}</body></html>'
    )
    pdf = tmp_path / "all.pdf"
    HTML(string=html).write_pdf(pdf, pdf_variant="pdf/a-3b")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    got = set(text) - set(" \n\f")
    assert got == set(tgh)
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "Noto-Serif-CJK-SC" in fonts and "HanaMin" not in fonts  # Noto alone covers the table
