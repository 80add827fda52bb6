"""The signed tally archive: minisign-compatible signature, digests, recount, and tampering."""

import json
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from voting import vote

from ballot import archive, signing
from ballot.cli import main
from ballot.models import Meeting

pytestmark = pytest.mark.server  # real files, the CLI and the minisign binary


@pytest.fixture
def built(app, world, tmp_path):
    """A meeting with a closed 逐人表态 and a closed 测评 (one group too small to publish)."""
    m = world.meeting(
        """
[meeting]
title = "归档测试"
[[groups]]
name = "常委"
expected = 7
[[groups]]
name = "分管领导"
expected = 2
[[items]]
title = "干部任免票决"
groups = ["常委"]
nominees = ["张三", "李四"]
[[items]]
title = "班子测评"
kind = "evaluate"
weights = { "常委" = "0.5", "分管领导" = "0.5" }
subjects = ["张三"]
"""
    )
    first, second = m.items
    for g in m.groups:
        world.present(g.id, g.expected)
    codes = world.codes(m.groups[0].id, 6)
    leaders = world.codes(m.groups[1].id, 2)
    world.open(first.id)
    for i, code in enumerate(codes):
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, first.id, {"n0": "yes", "n1": "yes" if i < 3 else "no"})
    world.close(first.id)
    world.open(second.id)
    for code in codes[:5] + leaders:
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, second.id, {"s0": "0"})
    world.close(second.id)
    key = signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    folder = tmp_path / "archive"
    archive.write(files, folder)
    return folder, key, files


def test_archive_verifies_and_recounts_every_item(built):
    folder, key, files = built
    checks = archive.verify(archive.read(folder), key)
    assert all(c.ok for c in checks), [c.line for c in checks]
    lines = [c.line for c in checks]
    assert any("干部任免票决" in line and "重新计票" in line for line in lines)
    tally = json.loads(files["tally.json"])
    assert tally["key"]["fingerprint"] == key.fingerprint and tally["audit_head"]
    assert files["tally.json"] == archive.canonical(tally)  # RFC 8785 canonical form
    ballots = json.loads(files["ballots.json"])
    evaluation = next(e for e in ballots["items"] if e["kind"] == "evaluate")
    assert list(evaluation["withheld_groups"].values()) == [2]  # 2 leaders: totals only, never ballot by ballot
    assert b"receipt" not in files["ballots.json"]
    assert {r["group"] for r in tally["reconciliation"]} == {"常委", "分管领导"}


@pytest.mark.skipif(shutil.which("minisign") is None, reason="Debian minisign (scripts/setup.sh test installs it)")
def test_the_standard_minisign_verifies_the_signature(built):
    folder, key, _ = built
    ok = subprocess.run(
        ["minisign", "-V", "-p", str(folder / "minisign.pub"), "-m", str(folder / "tally.json")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "verified" in ok.stdout + ok.stderr
    (folder / "tally.json").write_bytes((folder / "tally.json").read_bytes().replace(b'"', b"'", 1))
    bad = subprocess.run(
        ["minisign", "-V", "-p", str(folder / "minisign.pub"), "-m", str(folder / "tally.json")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def flip(files, name, old: bytes, new: bytes):
    assert old in files[name]
    return {**files, name: files[name].replace(old, new, 1)}


def failures(files, key):
    return [c.line for c in archive.verify(files, key) if not c.ok]


def test_tampering_is_detected_with_the_right_message(built, tmp_path):
    folder, key, files = built
    # one byte of the report
    assert any("签名与文件内容不符" in f for f in failures(flip(files, "tally.json", b"7", b"8"), key))
    # one ballot in the export: the digest no longer matches the signed report
    changed = flip(files, "ballots.json", b'"yes"', b'"no"')
    assert any(
        "ballots.json 与签名报告中的摘要一致：文件内容与报告记录的 SHA-256 不符" in f for f in failures(changed, key)
    )
    # a signature swapped for that of another file
    other = signing.load_key(tmp_path / "inst").sign(b"another file", "x")
    assert any("签名与文件内容不符" in f for f in failures({**files, "tally.json.minisig": other.encode()}, key))
    # another key: the key the scrutineers noted does not match
    stranger = signing.create_key(tmp_path / "other")
    assert any("不是这个公钥" in f for f in failures(files, stranger))


def test_cli_export_and_verify(app, world, built, tmp_path, monkeypatch):
    folder, key, files = built
    run = CliRunner()
    good = run.invoke(main, ["verify", str(folder), "--public-key", str(folder / "minisign.pub")])
    assert good.exit_code == 0 and "结论：全部通过" in good.output
    zipped = tmp_path / "archive.zip"
    zipped.write_bytes(archive.zipped(files))
    assert run.invoke(main, ["verify", str(zipped)]).exit_code == 0
    (folder / "ballots.json").write_bytes(files["ballots.json"].replace(b'"yes"', b'"no"', 1))
    bad = run.invoke(main, ["verify", str(folder)])
    assert bad.exit_code == 1 and "失败" in bad.output and "结论：" in bad.output


def test_the_private_key_is_private_and_can_have_a_passphrase(tmp_path, monkeypatch):
    import os
    import stat

    monkeypatch.setenv(signing.PASSPHRASE_ENV, "会议密钥口令")
    public = signing.create_key(tmp_path)
    key_file = tmp_path / "signing" / f"{public.id_hex}.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600 and b"ENCRYPTED" in key_file.read_bytes()
    assert signing.load_key(tmp_path).public == public
    monkeypatch.setenv(signing.PASSPHRASE_ENV, "错的口令")
    with pytest.raises(signing.SigningError, match="口令"):
        signing.load_key(tmp_path)
    monkeypatch.delenv(signing.PASSPHRASE_ENV)
    rotated = signing.create_key(tmp_path)  # rotation keeps the old public key
    assert [k.id_hex for k in signing.public_keys(tmp_path)] == [rotated.id_hex, public.id_hex]


def test_verify_page_and_the_clerks_zip_download(app, world, built, tmp_path):
    import io

    from conftest import csrf_of

    folder, key, files = built
    page = app.test_client()
    form = page.get("/verify").get_data(as_text=True)
    good = page.post(
        "/verify",
        data={"csrf_token": csrf_of(form), "archive": (io.BytesIO(archive.zipped(files)), "archive.zip")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "结论：全部通过" in good
    tampered = {**files, "ballots.json": files["ballots.json"].replace(b'"yes"', b'"no"', 1)}
    bad = page.post(
        "/verify",
        data={"csrf_token": csrf_of(form), "archive": (io.BytesIO(archive.zipped(tampered)), "archive.zip")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "结论：有项目未通过" in bad and "SHA-256 不符" in bad
    junk = page.post(
        "/verify",
        data={"csrf_token": csrf_of(form), "archive": (io.BytesIO(b"not a zip"), "x.zip")},
        content_type="multipart/form-data",
    )
    assert junk.status_code == 200 and "不是有效的 zip 文件" in junk.get_data(as_text=True)


def test_clerk_downloads_the_archive_as_one_zip(app, world, built, settings):
    import io
    import zipfile

    from conftest import login

    folder, _, files = built
    meeting_id = json.loads(files["tally.json"])["meeting"]["id"]
    world.staff("scrutineer")
    client = app.test_client()
    login(client, "scrutineer1")
    refused = client.get(f"/admin/meetings/{meeting_id}/archive.zip")
    assert refused.status_code == 400 and "ballot init" in refused.get_data(as_text=True)
    key = signing.create_key(settings.instance_path)
    assert key.fingerprint in client.get(f"/admin/meetings/{meeting_id}").get_data(as_text=True)
    r = client.get(f"/admin/meetings/{meeting_id}/archive.zip")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        got = {n: z.read(n) for n in z.namelist()}
    assert set(got) == set(archive.FILES + archive.EXTRA)
    assert all(c.ok for c in archive.verify(got, key))


def test_results_workbook_has_a_sheet_per_item_and_the_anonymous_ballots(built):
    import io

    from openpyxl import load_workbook

    _, _, files = built
    wb = load_workbook(io.BytesIO(files["results.xlsx"]))
    assert wb.sheetnames == ["1.干部任免票决", "2.班子测评", "匿名选票"]
    first = [[c.value for c in row] for row in wb["1.干部任免票决"].iter_rows()]
    assert any(row[:6] == ["应到", "实到", "发出", "收回", "有效", "无效"] for row in first)
    assert any(row[0] == "李四" and row[2:5] == [6, 0, 0] for row in first)  # 李 before 张 (姓氏笔画)
    ballots = json.loads(files["ballots.json"])
    published = sum(len(e["ballots"]) for e in ballots["items"])
    assert wb["匿名选票"].max_row == 1 + published  # the small group's 2 ballots are not there either


def test_scrutineers_and_tellers_named_at_close_are_in_the_signed_report(app, world, tmp_path):
    from conftest import csrf_of, login

    m, item, codes = world.ready(codes=3)
    world.staff("chair")
    chair = app.test_client()
    login(chair, "chair1")
    url = f"/admin/items/{item.id}/close"
    page = chair.get(url).get_data(as_text=True)
    assert "监票人" in page and "计票人" in page
    bad = chair.post(url, data={"csrf_token": csrf_of(page), "confirm": "1", "scrutineers": "x" * 60})
    assert bad.status_code == 400 and "姓名格式无效" in bad.get_data(as_text=True)
    done = chair.post(
        url, data={"csrf_token": csrf_of(page), "confirm": "1", "scrutineers": "王建国、刘晓梅", "tellers": "陈静"}
    )
    assert done.status_code == 303
    signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    [entry] = json.loads(files["tally.json"])["items"]
    assert entry["witnesses"] == {"scrutineers": ["王建国", "刘晓梅"], "tellers": ["陈静"]}


def test_verify_page_checks_tally_json_and_its_signature_alone(app, world, built, settings):
    import io

    from conftest import csrf_of

    _, key, files = built
    page = app.test_client()
    form = page.get("/verify").get_data(as_text=True)

    def post(tally: bytes, signature: bytes, public_key: bytes | None = None) -> str:
        data = {
            "csrf_token": csrf_of(form),
            "tally": (io.BytesIO(tally), "tally.json"),
            "signature": (io.BytesIO(signature), "tally.json.minisig"),
        }
        if public_key is not None:
            data["public_key"] = (io.BytesIO(public_key), "minisign.pub")
        return page.post("/verify", data=data, content_type="multipart/form-data").get_data(as_text=True)

    good = post(files["tally.json"], files["tally.json.minisig"], files["minisign.pub"])
    assert "结论：全部通过" in good and key.fingerprint in good and 'id="signature-only"' in good
    assert "没有可用的公钥" in post(files["tally.json"], files["tally.json.minisig"])  # the server has no key yet
    signing.create_key(settings.instance_path)  # the server's own key is not the one that signed
    assert "不是这个公钥" in post(files["tally.json"], files["tally.json.minisig"])
    with world.db.read() as s:
        meeting = s.get(Meeting, json.loads(files["tally.json"])["meeting"]["id"])
        own = archive.build(s, meeting, signing.load_key(settings.instance_path))
    assert "结论：全部通过" in post(own["tally.json"], own["tally.json.minisig"])  # the server's keys by default
    changed = own["tally.json"].replace(b"7", b"8", 1)
    assert "结论：有项目未通过" in post(changed, own["tally.json.minisig"])
    nothing = page.post("/verify", data={"csrf_token": csrf_of(form)}, content_type="multipart/form-data")
    assert "请选择归档 zip 文件，或同时选择" in nothing.get_data(as_text=True)
