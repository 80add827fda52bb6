"""The signed tally archive: minisign-compatible signature, digests, recount, and tampering."""

import io
import json
import shutil
import subprocess
import zipfile

import pytest
from click.testing import CliRunner
from voting import vote

from ballot.archive import build as archive
from ballot.archive import signing
from ballot.archive import verify as verifier
from ballot.cli import main
from ballot.storage.models import Meeting

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
    checks = verifier.verify(verifier.read(folder), [key])
    assert all(c.ok for c in checks), [c.line for c in checks]
    lines = [c.line for c in checks]
    assert any("干部任免票决" in line and "重新计票" in line for line in lines)
    tally = json.loads(files["tally.json"])
    assert tally["key"]["fingerprint"] == key.fingerprint and tally["audit_head"]
    assert files["tally.json"] == verifier.canonical(tally)  # RFC 8785 canonical form
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
    return [c.line for c in verifier.verify(files, [key]) if not c.ok]


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
    noted = key.fingerprint.replace(" ", "").lower()  # as a scrutineer may type what the slip shows
    assert run.invoke(main, ["verify", str(zipped), "--fingerprint", noted]).exit_code == 0
    # with nothing to trust, the archive's own key proves nothing: every other check runs, the key check fails
    alone = run.invoke(main, ["verify", str(zipped)])
    assert alone.exit_code == 1 and "失败：签名密钥可信：未给出会前公布的公钥或指纹" in alone.output
    assert alone.output.count("失败：") == 1 and "重新计票，与报告一致" in alone.output
    (folder / "ballots.json").write_bytes(files["ballots.json"].replace(b'"yes"', b'"no"', 1))
    bad = run.invoke(main, ["verify", str(folder), "--fingerprint", noted])
    assert bad.exit_code == 1 and "失败" in bad.output and "结论：" in bad.output
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not a zip")
    broken = run.invoke(main, ["verify", str(junk)])
    assert broken.exit_code == 1 and "不是有效的 zip 文件" in broken.output and "Traceback" not in broken.output


def forged(files: dict, stranger: signing.SigningKey, **changes) -> dict:
    """The archive re-signed by someone else's key after `changes` (a forger's whole job)."""
    tally = json.loads(files["tally.json"])
    tally.update(changes)
    tally_bytes = verifier.canonical(tally)
    return {
        **files,
        "tally.json": tally_bytes,
        "tally.json.minisig": stranger.sign(tally_bytes, "x").encode(),
        "minisign.pub": stranger.public.minisign().encode(),
        "report.pdf.minisig": stranger.sign(files["report.pdf"], "x").encode(),
    }


def test_an_archive_re_signed_with_another_key_never_passes(built, tmp_path):
    folder, key, files = built
    signing.create_key(tmp_path / "forger")
    stranger = signing.load_key(tmp_path / "forger")
    fake = forged(files, stranger)
    assert any("不是这个公钥" in f for f in failures(fake, key))  # the key the scrutineers noted
    by_print = [c.line for c in verifier.verify(fake, [], [key.fingerprint]) if not c.ok]
    assert any("与所给指纹不符" in f for f in by_print)
    # even a forger who also rewrites the key named in the report fails against the noted key
    fake = forged(files, stranger, key={"id": stranger.public.id_hex, "fingerprint": stranger.public.fingerprint})
    assert any("与所给指纹不符" in f for f in (c.line for c in verifier.verify(fake, [], [key.fingerprint])))
    # a report naming one key but signed by another (trusted) one
    mixed = forged(files, signing.load_key(tmp_path / "inst"), key={"id": "0000000000000000", "fingerprint": "0"})
    assert any("报告中记载的签名密钥与签署它的密钥一致" in f for f in failures(mixed, key))


def test_a_malformed_or_oversized_archive_fails_cleanly(built, tmp_path):
    folder, key, files = built
    signer = signing.load_key(tmp_path / "inst")

    def resigned(tally: dict) -> dict:
        data = verifier.canonical(tally)
        return {**files, "tally.json": data, "tally.json.minisig": signer.sign(data, "x").encode()}

    tally = json.loads(files["tally.json"])
    for broken in (
        {**files, "ballots.json": b"[]"},
        resigned({k: v for k, v in tally.items() if k != "digests"}),
        resigned({**tally, "items": [{"id": 1}]}),
        resigned([1, 2]),
    ):
        lines = failures(broken, key)
        assert lines and all(line.startswith("失败：") for line in lines)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ballots.json", b"0" * (3 * 1024 * 1024))
    with pytest.raises(verifier.ArchiveError, match="解压后超过 2 MB"):
        verifier.read(bomb.getvalue(), limit=2 * 1024 * 1024)


def test_the_audit_log_is_checked_entry_by_entry_against_the_signed_head(built):
    folder, key, files = built
    assert any(c.ok and "审计日志哈希链：共" in c.line for c in verifier.verify(files, [key]))
    lines = files["audit.log"].decode().splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries[0]["meeting_id"] and entries[-1]["hash"] == json.loads(files["tally.json"])["audit_head"]

    def resigned_log(new_lines: list[str]) -> dict:
        """A changed log whose digest is also fixed in a re-signed report: only the chain can tell."""
        log = "".join(line + "\n" for line in new_lines).encode()
        tally = json.loads(files["tally.json"])
        tally["digests"]["audit.log"] = verifier.sha256(log)
        data = verifier.canonical(tally)
        signer = signing.load_key(folder.parent / "inst")
        return {**files, "audit.log": log, "tally.json": data, "tally.json.minisig": signer.sign(data, "x").encode()}

    edited = dict(entries[1], actor="someone-else")
    assert any("内容被改动" in f for f in failures(resigned_log([lines[0], json.dumps(edited), *lines[2:]]), key))
    assert any("有记录被删除或添加" in f for f in failures(resigned_log([lines[0], *lines[2:]]), key))
    assert any("最后一条记录的哈希" in f for f in failures(resigned_log(lines[:-1]), key))


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


def test_verify_page_and_the_clerks_zip_download(app, world, built, tmp_path, settings):
    from conftest import csrf_of

    folder, key, files = built
    page = app.test_client()
    form = page.get("/verify").get_data(as_text=True)
    assert 'name="fingerprint"' in form

    def post(archive_files: dict, **fields) -> str:
        data = {"csrf_token": csrf_of(form), "archive": (io.BytesIO(archive.zipped(archive_files)), "archive.zip")}
        return page.post("/verify", data={**data, **fields}, content_type="multipart/form-data").get_data(as_text=True)

    # signed elsewhere: trusted only by the fingerprint the scrutineers noted
    assert "结论：全部通过" in post(files, fingerprint=key.fingerprint)
    alone = post(files)
    assert "结论：有项目未通过" in alone and "未给出会前公布的公钥或指纹" in alone
    tampered = {**files, "ballots.json": files["ballots.json"].replace(b'"yes"', b'"no"', 1)}
    bad = post(tampered, fingerprint=key.fingerprint)
    assert "结论：有项目未通过" in bad and "SHA-256 不符" in bad
    signing.create_key(tmp_path / "forger")
    fake = forged(files, signing.load_key(tmp_path / "forger"))
    assert "与所给指纹不符" in post(fake, fingerprint=key.fingerprint)
    # signed by this server: its own keys are trusted by default, a forger's are not
    signing.create_key(settings.instance_path)
    with world.db.read() as s:
        own = archive.build(
            s,
            s.get(Meeting, json.loads(files["tally.json"])["meeting"]["id"]),
            signing.load_key(settings.instance_path),
        )
    assert "结论：全部通过" in post(own)
    refused = post(forged(own, signing.load_key(tmp_path / "forger")))
    assert "结论：有项目未通过" in refused and "不是这个公钥" in refused
    junk = page.post(
        "/verify",
        data={"csrf_token": csrf_of(form), "archive": (io.BytesIO(b"not a zip"), "x.zip")},
        content_type="multipart/form-data",
    )
    assert junk.status_code == 200 and "不是有效的 zip 文件" in junk.get_data(as_text=True)
    broken = post({**own, "ballots.json": b"[]"})
    assert "结论：有项目未通过" in broken  # a malformed export is a failed check, never a 500


def test_chair_downloads_the_archive_as_one_zip(app, world, built, settings):
    import io
    import zipfile

    from conftest import login

    folder, _, files = built
    meeting_id = json.loads(files["tally.json"])["meeting"]["id"]
    world.staff("chair")
    client = app.test_client()
    login(client, "chair1")
    refused = client.get(f"/admin/meetings/{meeting_id}/archive.zip")
    assert refused.status_code == 400 and "ballot init" in refused.get_data(as_text=True)
    key = signing.create_key(settings.instance_path)
    assert key.fingerprint in client.get(f"/admin/meetings/{meeting_id}").get_data(as_text=True)
    r = client.get(f"/admin/meetings/{meeting_id}/archive.zip")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        got = {n: z.read(n) for n in z.namelist()}
    assert set(got) == set(verifier.FILES + verifier.EXTRA)
    assert all(c.ok for c in verifier.verify(got, [key]))


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


def test_items_of_the_same_title_and_a_withdrawn_item(app, world, tmp_path):
    from conftest import ACTOR

    from ballot.documents import report
    from ballot.meetings.setup import withdraw_item
    from ballot.storage.models import Item

    m = world.meeting(
        """
[meeting]
title = "同名议题"
[[groups]]
name = "常委"
expected = 3
[[items]]
title = "任免票决"
nominees = ["张三"]
[[items]]
title = "任免票决"
nominees = ["张三"]
[[items]]
title = "有误的议题"
nominees = ["李四"]
"""
    )
    gid = m.groups[0].id
    world.present(gid, 3)
    codes = iter(world.codes(gid, 3))
    for item, answers in zip(m.items[:2], (["yes", "yes"], ["no"]), strict=True):
        world.open(item.id)
        for answer in answers:
            phone = app.test_client()
            phone.get(f"/v/{next(codes)}")
            vote(phone, item.id, {"n0": answer})
        world.close(item.id)
    with world.db.write() as s:
        correction = withdraw_item(s, ACTOR, s.get(Item, m.items[2].id), "人选姓名有误", True)
        correction_id = correction.id
    public = signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    checks = verifier.verify(files, [public])
    assert all(c.ok for c in checks), [c.line for c in checks]  # each 任免票决 recounted as itself
    assert sum("“任免票决”按选票导出重新计票，与报告一致" in c.line for c in checks) == 2
    tally = json.loads(files["tally.json"])
    assert tally["withdrawn"] == [
        {"id": m.items[2].id, "title": "有误的议题", "reason": "人选姓名有误", "replaced_by": correction_id}
    ]
    assert tally["signed_at"].endswith("Z")
    html = report.html(tally, files["tally.json"])
    assert "撤回的议题" in html and "人选姓名有误" in html and f"#{correction_id}" in html


def test_a_title_with_a_line_separator_and_a_damaged_zip(app, world, tmp_path):
    m = world.meeting(
        """
[meeting]
title = "线\u2028分隔\u0085会议"
[[groups]]
name = "常委"
expected = 1
[[items]]
title = "段\u2029落"
nominees = ["张三"]
"""
    )
    world.present(m.groups[0].id, 1)
    world.open(m.items[0].id)
    world.close(m.items[0].id)
    public = signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    checks = verifier.verify(files, [public])
    assert all(c.ok for c in checks), [c.line for c in checks]  # the audit log is split on "\n" only
    data = bytearray(archive.zipped(files))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("ballots.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start : start + 8] = b"\xff" * 8  # corrupt the deflate stream itself
    with pytest.raises(verifier.ArchiveError, match="不是有效的 zip 文件"):
        verifier.read(bytes(data))
