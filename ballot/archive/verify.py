"""Offline verification of a signed tally archive: what an auditor runs, and reads, alone.

It needs no server and no database: the files' digests, the Ed25519 signatures (signing), the
audit log's hash chain (chain) and a recount of every item from the anonymous ballot export
(counting). It imports nothing else of the project, so reading this file, counting/, signing.py
and chain.py is reading all the checker does. The format it checks is defined here too; build.py
writes it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import rfc8785

from ballot.archive import chain, signing
from ballot.counting.errors import Refused
from ballot.counting.export import recount

FORMAT = "ballot-tally/3"  # 2: audit.log written as hashed, items matched by id, trust anchored;
# 3: ballots.json carries no write-in text, only public write-in totals (a marker names no ballot)
OLD_FORMATS = {"ballot-tally/2": "其 ballots.json 中每张民主推荐选票带有另行推荐的原文"}
FILES = (
    "tally.json",
    "tally.json.minisig",
    "minisign.pub",
    "report.pdf",
    "report.pdf.minisig",
    "ballots.json",
    "receipts.json",
    "audit.log",
)
EXTRA = ("results.xlsx",)  # made from the signed files, for the clerk; not needed to verify


def canonical(value) -> bytes:
    return rfc8785.dumps(value)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MAX_UNPACKED = 512 * 1024 * 1024  # `ballot verify`; an archive of 10 items × 3,000 ballots unpacks to ~4 MB
SMALL_FILES = {"tally.json": 4 * 1024 * 1024, "tally.json.minisig": 4096, "report.pdf.minisig": 4096, "minisign.pub": 4096}
_CHUNK = 1024 * 1024


class ArchiveError(Refused, ValueError):
    """The file is not a readable archive; the message is Chinese."""


def _megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


class Files(Mapping):
    """The files of an archive folder or zip, read only when asked for. Sizes are checked before
    anything is unpacked (all files together at most `limit`, the small ones at most SMALL_FILES);
    each file is streamed once to check the zip and note its SHA-256, holding one chunk at a time,
    so a file that is not the signed one never has to be held or parsed."""

    def __init__(self, source: Path | bytes, limit: int = MAX_UNPACKED):
        self._folder = Path(source) if isinstance(source, (str, Path)) and Path(source).is_dir() else None
        self._zip = None
        self._cache: dict[str, bytes] = {}
        self._digests: dict[str, str] = {}
        self._costs: dict[str, int] = {}
        if self._folder is not None:
            self._sizes = {n: (self._folder / n).stat().st_size for n in FILES if (self._folder / n).is_file()}
        else:
            self._zip = self._guard(lambda: zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source))
            infos = {info.filename: info for info in self._zip.infolist() if info.filename in FILES}
            self._infos = infos
            self._sizes = {name: info.file_size for name, info in infos.items()}
        if sum(self._sizes.values()) > limit:
            raise ArchiveError(f"归档解压后超过 {_megabytes(limit)}，不是本系统生成的归档")
        for name, size in self._sizes.items():
            if size > SMALL_FILES.get(name, limit):
                raise ArchiveError(f"{name} 超过 {SMALL_FILES[name] // 1024} KB，不是本系统生成的归档")
        for name in self._sizes:  # a damaged zip is refused now, not halfway through the checks
            self.sha256(name)

    @staticmethod
    def _guard(action):
        try:
            return action()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, OSError) as exc:
            raise ArchiveError("不是有效的 zip 文件") from exc
        except (RuntimeError, NotImplementedError) as exc:  # encrypted, or an unknown compression
            raise ArchiveError("zip 文件加密或使用了不支持的压缩方式，不是本系统生成的归档") from exc

    def _open(self, name: str):
        if self._folder is not None:
            return open(self._folder / name, "rb")
        return self._zip.open(self._infos[name])

    def sha256(self, name: str) -> str:
        """The file's SHA-256, streamed (never more than one chunk in memory)."""
        if name not in self._digests:

            def stream() -> None:
                digest, left, cost = hashlib.sha256(), self._sizes[name], 0
                with self._open(name) as f:
                    while chunk := f.read(min(_CHUNK, left + 1)):
                        left -= len(chunk)
                        if left < 0:
                            raise ArchiveError(f"{name} 比归档目录所写的更大，不是本系统生成的归档")
                        digest.update(chunk)
                        cost += parse_cost(chunk)
                self._digests[name], self._costs[name] = digest.hexdigest(), cost

            self._guard(stream)
        return self._digests[name]

    def parse_cost(self, name: str) -> int:
        """parse_cost of the file, counted while streaming it: known before it is unpacked whole."""
        self.sha256(name)
        return self._costs[name]

    def __getitem__(self, name: str) -> bytes:
        if name not in self._sizes:
            raise KeyError(name)
        if name not in self._cache:

            def whole() -> bytes:
                with self._open(name) as f:
                    return f.read(self._sizes[name])

            self._cache[name] = self._guard(whole)
        return self._cache[name]

    def __contains__(self, name) -> bool:  # without unpacking (Mapping's would read the file)
        return name in self._sizes

    def __iter__(self):
        return iter(self._sizes)

    def __len__(self) -> int:
        return len(self._sizes)


def read(source: Path | bytes, limit: int = MAX_UNPACKED) -> Files:
    """The files of an archive folder or zip (a path, or the zip's bytes). A zip whose files would
    unpack to more than `limit` bytes is refused before anything is unpacked."""
    return Files(source, limit)


def _digest(files: Mapping[str, bytes], name: str) -> str:
    return files.sha256(name) if isinstance(files, Files) else sha256(files[name])


def parse_cost(data: bytes) -> int:
    """An upper estimate of the memory `json.loads(data)` takes (or splitting it into lines and
    parsing each): every object, array, member, element and line costs a Python object and a slot
    (≤ 96 bytes), every byte at most two more. A file of `{},{},…` costs ~26 bytes per byte parsed;
    this counts it before parsing, with a C-speed scan. The benchmark's ballots.json: 47 MB
    estimated, 32 MB measured."""
    tokens = sum(data.count(ch) for ch in (b"{", b"[", b",", b":", b"\n"))
    return 2 * len(data) + 96 * tokens


class _Budget:
    """The memory the parsing of one archive may take in all (None: no limit)."""

    def __init__(self, total: int | None):
        self.total = self.left = total

    def affordable(self, files: Mapping[str, bytes], name: str) -> bytes:
        """The file, if parsing it fits in what is left (for an archive read by Files, judged before
        the file is unpacked); ArchiveError (Chinese) if not."""
        if self.left is not None:
            cost = files.parse_cost(name) if isinstance(files, Files) else parse_cost(files[name])
            if cost > self.left:
                raise ArchiveError(
                    f"{name} 的结构过于庞大（解析约需 {_megabytes(cost)} 内存，超过本页上限 {_megabytes(self.total)}），"
                    "不是本系统生成的归档；确需核验时请用 ballot verify 离线核验"
                )
            self.left -= cost
        return files[name]

    def loads(self, files: Mapping[str, bytes], name: str):
        return json.loads(self.affordable(files, name))


@dataclass(frozen=True)
class Check:
    ok: bool
    line: str  # Chinese, one line: what was checked and the verdict


def _checker(checks: list[Check]):
    def check(ok: bool, what: str, why: str = "") -> bool:
        checks.append(Check(ok, f"{'通过' if ok else '失败'}：{what}{'' if ok else '：' + why}"))
        return ok

    return check


def verify_report(
    tally_bytes: bytes, signature: bytes, keys: list[signing.PublicKey], parse_budget: int | None = None
) -> list[Check]:
    """tally.json and its signature alone (no ballots, so no recount), against any of `keys`."""
    checks: list[Check] = []
    check = _checker(checks)
    if len(tally_bytes) > SMALL_FILES["tally.json"] or len(signature) > SMALL_FILES["tally.json.minisig"]:
        raise ArchiveError("tally.json 或其签名文件过大，不是本系统生成的文件")
    if not keys:
        check(False, "签名", "没有可用的公钥：请同时上传会前公布的 minisign.pub")
        return checks
    key, why = _signing_key(tally_bytes, signature, keys)
    if key is None:
        check(False, "tally.json 的签名", why)
        return checks
    check(True, f"tally.json 的签名（密钥 {key.id_hex}，指纹 {key.fingerprint}）")
    try:
        tally = _Budget(parse_budget).loads({"tally.json": tally_bytes}, "tally.json")
        unit = tally["meeting"].get("unit")  # archives made before units name none
        named = f"{unit} · {tally['meeting']['title']}" if unit else tally["meeting"]["title"]
        check(True, f"报告可读：{named}，{len(tally['items'])} 个议题")
    except ArchiveError:
        raise  # too large to parse here: refused as a whole
    except (ValueError, KeyError, TypeError):
        check(False, "报告可读", "JSON 格式无效")
    return checks


def _fingerprint(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch in "0123456789ABCDEF")


def verify(
    files: Mapping[str, bytes],
    trusted: list[signing.PublicKey] = (),
    fingerprints: list[str] = (),
    *,
    require_trusted: bool = False,
    parse_budget: int | None = None,
) -> list[Check]:
    """Every check, each passed or failed with its reason. The signing key must be one the checker
    already trusts: one of `trusted` (the minisign.pub published before the vote, or a server's own
    keys), or the archive's own minisign.pub when its fingerprint is one of `fingerprints` (noted
    from the slips or the projector). With neither, the archive's own key is used for the other
    checks but the key check fails: anyone can sign a forged archive with a key of their own.

    Nothing but tally.json and its signature is read until the signature verifies, and with
    `require_trusted` (the public page) nothing more unless the key is trusted; a file is parsed only
    when it is the one the signed tally.json names (its SHA-256, streamed), and, with a
    `parse_budget`, only when its parse would fit that memory (parse_cost; ArchiveError if not)."""
    checks: list[Check] = []
    check = _checker(checks)
    missing = [n for n in FILES if n not in files]
    if not check(not missing, "归档文件齐全", f"缺少 {'、'.join(missing)}"):
        return checks
    try:
        own = signing.PublicKey.parse(files["minisign.pub"].decode())
    except (signing.SigningError, UnicodeDecodeError) as exc:
        own = None
        if not trusted:
            check(False, "归档自带的公钥 minisign.pub", str(exc))
            return checks
    key, why = _signing_key(files["tally.json"], files["tally.json.minisig"], list(trusted) or [own])
    if key is None:
        check(False, "tally.json 的签名", why)
        return checks
    check(True, f"tally.json 的签名（密钥 {key.id_hex}，指纹 {key.fingerprint}）")
    if trusted:
        key_trusted = check(True, "签名密钥可信：是所给的公钥之一")
    elif fingerprints:
        key_trusted = check(
            _fingerprint(key.fingerprint) in {_fingerprint(f) for f in fingerprints},
            "签名密钥可信：指纹与所给指纹一致",
            f"签名密钥指纹 {key.fingerprint} 与所给指纹不符：归档可能是他人用自己的密钥伪造的",
        )
    else:
        key_trusted = check(
            False,
            "签名密钥可信",
            f"未给出会前公布的公钥或指纹，只能用归档自带的公钥（指纹 {key.fingerprint}）核验；"
            "请与票码条或大屏上公布的指纹核对后，给出该指纹（--fingerprint）或会前公布的公钥（--public-key）重新核验",
        )
    if require_trusted and not key_trusted:
        check(False, "其余内容", "签名密钥不可信，未读取归档的其余文件")
        return checks
    pdf_key, why = _signing_key(files["report.pdf"], files["report.pdf.minisig"], [key])
    check(pdf_key is not None, "report.pdf 的签名", why)
    try:
        budget = _Budget(parse_budget)
        _check_contents(check, files, budget.loads(files, "tally.json"), key, budget)
    except ArchiveError:
        raise  # a file too large to parse here: refused as a whole, in its own words
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
        check(False, "报告与选票导出的结构", "tally.json 或 ballots.json 不是本系统的格式，或缺少必需的内容")
    return checks


def _signing_key(data: bytes, signature: bytes, keys: list[signing.PublicKey]) -> tuple[signing.PublicKey | None, str]:
    """The key among `keys` that made `signature` of `data`, else None and why (the verifier's own
    words when there is one key: wrong key, or the file changed)."""
    errors = []
    for key in keys:
        try:
            signing.verify(data, signature.decode(), key)
            return key, ""
        except (signing.SigningError, UnicodeDecodeError) as exc:
            errors.append(str(exc) if isinstance(exc, signing.SigningError) else "签名文件格式无效")
    if len(errors) == 1:
        return None, errors[0]
    return None, "不是可信公钥（所给的公钥，或本服务器的密钥）中任何一个签署的，或文件被改动过"


def _same_result(export: dict, reported: dict) -> bool:
    """A recount of the export equals the reported result; for a group too small to publish
    ballot by ballot (only its totals are in the report) the other groups' figures must agree."""
    counted = recount(export)
    if not export.get("withheld_groups"):
        return counted == reported
    withheld = {int(g) for g in export["withheld_groups"]}
    if (
        counted["counts"]["cast"] + sum(int(n) for n in export["withheld_groups"].values())
        != reported["counts"]["cast"]
    ):
        return False  # the withheld groups' ballots and the exported ones add up to 收回
    for mine, theirs in zip(counted.get("subjects", []), reported.get("subjects", []), strict=True):
        shown = [(a, b) for a, b in zip(mine["groups"], theirs["groups"], strict=True) if b["group_id"] not in withheld]
        if any(a != b for a, b in shown):
            return False
    return True


def _check_contents(check, files: Mapping[str, bytes], tally: dict, key: signing.PublicKey, budget: _Budget) -> None:
    """The checks that read the signed report: its key, the digests, the audit chain, the receipts
    and a recount of every item from the ballot export."""
    if not check(
        tally.get("format") == FORMAT,
        f"归档格式 {FORMAT}",
        f"归档格式为 {tally.get('format')}"
        + (f"（{OLD_FORMATS[tally['format']]}）" if tally.get("format") in OLD_FORMATS else "")
        + f"，本版本只核验 {FORMAT}：请用生成它的 ballot 版本核验",
    ):
        return
    check(
        tally["key"]["id"] == key.id_hex and _fingerprint(tally["key"]["fingerprint"]) == _fingerprint(key.fingerprint),
        "报告中记载的签名密钥与签署它的密钥一致",
        f"报告记载密钥 {tally['key']['id']}，实际签署的是 {key.id_hex}",
    )
    intact = {
        name: check(
            _digest(files, name) == tally["digests"][name],
            f"{name} 与签名报告中的摘要一致",
            "文件内容与报告记录的 SHA-256 不符，文件被改动过",
        )
        for name in ("ballots.json", "receipts.json", "audit.log")
    }
    # a file that is not the signed one is not read further (it may be crafted to choke a parser)
    ballots = budget.loads(files, "ballots.json") if intact["ballots.json"] else {"items": []}
    if intact["audit.log"]:
        log = budget.affordable(files, "audit.log")
        # split on "\n" only: a title may hold U+2028 and the like, which splitlines() would also cut at
        lines = [json.loads(line) for line in log.decode().split("\n") if line.strip()]
        ok, why = chain.verify_export(lines, tally["audit_head"], tally.get("audit_entries"))
    else:
        ok, why = False, "audit.log 不是签名报告记载的文件，未读取"
    check(ok, f"审计日志哈希链：{why}" if ok else "审计日志哈希链", why)
    receipts = (
        {int(r["item"]): r["receipts"] for r in budget.loads(files, "receipts.json")["items"]}
        if intact["receipts.json"]
        else {}
    )
    exports = {int(e["item"]): e for e in ballots["items"] if "item" in e}
    for item in tally["items"]:
        title = item["title"]
        counts = item["result"]["counts"]
        on_phones = next((c["cast"] for c in counts.get("channels", []) if c["channel"] == "phone"), counts["cast"])
        mine = receipts.get(int(item["id"]), [])
        check(
            len(mine) == on_phones and len(set(mine)) == len(mine),
            f"议题“{title}”的回执数与手机收回票数一致（{on_phones}）",
            f"回执 {len(mine)} 个（不重复 {len(set(mine))} 个），手机收回 {on_phones} 张",
        )
        export = exports.get(int(item["id"]))
        if export is None:
            why = (
                "选票导出中没有该议题" if intact["ballots.json"] else "ballots.json 不是签名报告记载的文件，未重新计票"
            )
            check(False, f"议题“{title}”重新计票", why)
            continue
        try:
            same, why = _same_result(export, item["result"]), "按导出的选票重新计票，结果与报告不一致"
        except Exception as exc:  # a tampered export may not even parse as ballots
            same, why = False, f"选票导出无法计票（{type(exc).__name__}）"
        check(same, f"议题“{title}”按选票导出重新计票，与报告一致", why)
