"""The public /verify page bounds what an upload can cost: a 26 KB zip whose ballots.json unpacks to
25 MB of `{},` once cost a worker 626 MB. Now nothing past tally.json is read unless its signature
verifies against a trusted key, a file is parsed only if it is the signed one, and a parse that
would take more memory than the page allows is refused with a clear message, before it starts."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile

import pytest
from conftest import ROOT, csrf_of
from test_archive import built  # noqa: F401  (fixture: a genuine signed archive)

from ballot.archive import build as archive
from ballot.archive import signing
from ballot.archive import verify as verifier
from ballot.web import verifypage

BOMB_BYTES = 25 * 1024 * 1024


def signed_archive(key: signing.SigningKey, ballots: bytes, meeting: str = "炸弹") -> dict[str, bytes]:
    """Every file of an archive around `ballots`, signed by `key` (as anyone can sign with theirs)."""
    receipts, log, pdf = b'{"items":[],"meeting":1}', b"", b"%PDF-1.7 not a report"
    tally = {
        "format": verifier.FORMAT,
        "key": {"id": key.public.id_hex, "fingerprint": key.public.fingerprint},
        "meeting": {"id": 1, "title": meeting},
        "items": [],
        "digests": {
            n: verifier.sha256(d)
            for n, d in (("ballots.json", ballots), ("receipts.json", receipts), ("audit.log", log))
        },
        "audit_head": None,
        "audit_entries": 0,
    }
    tally_bytes = verifier.canonical(tally)
    return {
        "tally.json": tally_bytes,
        "tally.json.minisig": key.sign(tally_bytes, "t").encode(),
        "minisign.pub": key.public.minisign().encode(),
        "report.pdf": pdf,
        "report.pdf.minisig": key.sign(pdf, "r").encode(),
        "ballots.json": ballots,
        "receipts.json": receipts,
        "audit.log": log,
    }


def bomb_ballots() -> bytes:
    return b'{"format":"ballot-archive/1","items":[' + b"{}," * (BOMB_BYTES // 3) + b'{}],"meeting":1}'


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bomb")
    signing.create_key(folder / "attacker")
    key = signing.load_key(folder / "attacker")
    data = zipped(signed_archive(key, bomb_ballots()))
    assert len(data) < 64 * 1024  # a small upload …
    (folder / "bomb.zip").write_bytes(data)
    (folder / "attacker.pub").write_text(key.public.minisign())
    return folder


def post(app, **files):
    client = app.test_client()
    form = {"csrf_token": csrf_of(client.get("/verify").get_data(as_text=True))}
    for field, (name, data) in files.items():
        form[field] = (io.BytesIO(data), name)
    return client.post("/verify", data=form, content_type="multipart/form-data").get_data(as_text=True)


class Reads:
    """Which archive files are unpacked in full, and what json.loads parses."""

    def __init__(self, monkeypatch):
        self.files, self.parsed = [], []
        get = verifier.Files.__getitem__
        loads = json.loads

        def getitem(files, name):
            self.files.append(name)
            return get(files, name)

        def parse(data, *a, **kw):
            self.parsed.append(len(data))
            return loads(data, *a, **kw)

        monkeypatch.setattr(verifier.Files, "__getitem__", getitem)
        monkeypatch.setattr(archive.json, "loads", parse)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_untrusted_signature_stops_before_the_ballots_are_read(app, bomb, monkeypatch, backend, settings):
    reads = Reads(monkeypatch)
    data = (bomb / "bomb.zip").read_bytes()
    # a server without keys and no key given: the archive's own key is not trusted
    page = post(app, archive=("bomb.zip", data))
    assert "签名密钥不可信，未读取归档的其余文件" in page and "ballots.json" not in reads.files
    # the server's own keys (the default): the attacker's signature does not verify
    signing.create_key(settings.instance_path)
    page = post(app, archive=("bomb.zip", data))
    assert "失败：tally.json 的签名" in page and "ballots.json" not in reads.files
    # a fingerprint that is not the attacker's: the signature verifies with the archive's own key,
    # which is not trusted, so nothing else is read
    client_fp = "1A2B 3C4D 5E6F 7A8B 9C0D 1E2F 3A4B 5C6D"
    client = app.test_client()
    form = {"csrf_token": csrf_of(client.get("/verify").get_data(as_text=True)), "fingerprint": client_fp}
    form["archive"] = (io.BytesIO(data), "bomb.zip")
    page = client.post("/verify", data=form, content_type="multipart/form-data").get_data(as_text=True)
    assert "与所给指纹不符" in page and "签名密钥不可信，未读取归档的其余文件" in page
    assert "ballots.json" not in reads.files and max(reads.parsed, default=0) < 4096


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_bomb_signed_by_the_uploaders_own_key_is_refused_before_parsing(app, bomb, monkeypatch, backend):
    reads = Reads(monkeypatch)
    page = post(
        app,
        archive=("bomb.zip", (bomb / "bomb.zip").read_bytes()),
        public_key=("attacker.pub", (bomb / "attacker.pub").read_bytes()),
    )
    assert "ballots.json 的结构过于庞大" in page and "ballot verify" in page
    assert max(reads.parsed) < 4096  # tally.json only; ballots.json never reached json.loads …
    assert "ballots.json" not in reads.files  # … nor was it unpacked whole: its cost was counted as it streamed


MEASURE = textwrap.dedent(
    """
    import io, json, re, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1] + "/tests/support")
    from ballot.config import Settings
    from ballot.storage.db import Database
    from ballot.storage.migrate import upgrade
    from ballot.web import create_app

    folder = Path(sys.argv[2])
    url = f"sqlite:///{folder / 'measure.db'}"
    upgrade(url)
    (folder / "instance").mkdir(exist_ok=True)
    settings = Settings(instance_path=folder / "instance", database_url=url, master_secret=b"m" * 32, testing=True)
    client = create_app(settings, Database(url)).test_client()

    def post(**files):
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/verify").get_data(as_text=True))
        form = {"csrf_token": token.group(1)}
        form.update({k: (io.BytesIO(v), k) for k, v in files.items()})
        return client.post("/verify", data=form, content_type="multipart/form-data").get_data(as_text=True)

    def peak_kib():
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))

    post(archive=b"not a zip")  # every code path of the page loaded
    bomb, pub = (folder / "bomb.zip").read_bytes(), (folder / "attacker.pub").read_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from the current RSS
    before = peak_kib()
    page = post(archive=bomb, public_key=pub)
    after = peak_kib()
    print(json.dumps({"delta_mb": (after - before) / 1024, "refused": "结构过于庞大" in page}))
    """
)


def test_checking_the_bomb_costs_a_worker_less_than_64_mb(bomb):
    """Peak RSS (VmHWM, reset just before) of a fresh process around one POST of the bomb."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(ROOT), str(bomb)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    figure = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"bomb: peak RSS +{figure['delta_mb']:.1f} MB")
    assert figure["refused"] and figure["delta_mb"] < 64


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_genuine_archive_still_verifies_on_the_page(app, built, backend):  # noqa: F811
    folder, key, files = built
    page = post(app, archive=("archive.zip", archive.zipped(files)), public_key=("k.pub", key.minisign().encode()))
    assert "结论：全部通过" in page and "失败" not in page
    tally_only = post(
        app, tally=("tally.json", files["tally.json"]), signature=("s", files["tally.json.minisig"]),
        public_key=("k.pub", key.minisign().encode()),
    )  # fmt: skip
    assert "结论：全部通过" in tally_only


def test_the_two_caps_and_the_parse_budget():
    """The page: 32 MB unpacked and 128 MB of parsing; `ballot verify`: 512 MB unpacked, no budget."""
    assert verifypage.MAX_UNPACKED == 32 * 1024 * 1024 < verifier.MAX_UNPACKED == 512 * 1024 * 1024
    assert verifier.parse_cost(b"{}," * 1000) > 60_000  # ~26 bytes of memory per byte of `{},`
    oversized = zipped({"ballots.json": b"0" * (verifypage.MAX_UNPACKED + 1)})
    with pytest.raises(verifier.ArchiveError, match="解压后超过 32 MB"):
        verifier.read(oversized, limit=verifypage.MAX_UNPACKED)
    tally = b'{"a":[' + b"{}," * (2 * 1024 * 1024) + b"{}]}"
    with pytest.raises(verifier.ArchiveError, match="tally.json"):
        verifier.read(zipped({"tally.json": tally}), limit=verifypage.MAX_UNPACKED)  # over its 4 MB cap


def test_a_forged_ballots_json_is_never_parsed(monkeypatch, tmp_path):
    """The key is trusted but ballots.json is not the file the signed tally names: it is streamed
    for its digest and never unpacked whole or parsed."""
    signing.create_key(tmp_path)
    key = signing.load_key(tmp_path)
    files = signed_archive(key, b'{"items":[],"format":"ballot-archive/1","meeting":1}')
    files["ballots.json"] = bomb_ballots()
    reads = Reads(monkeypatch)
    checks = verifier.verify(verifier.read(zipped(files), limit=verifypage.MAX_UNPACKED), [key.public],
                            require_trusted=True, parse_budget=verifypage.PARSE_BUDGET)  # fmt: skip
    failed = [c.line for c in checks if not c.ok]
    assert any("ballots.json 与签名报告中的摘要一致" in line for line in failed)
    assert "ballots.json" not in reads.files and max(reads.parsed) < 4096
