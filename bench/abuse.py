"""An adversary in the hall, against `ballot serve` on loopback (bounded in count and time).

    .venv/bin/python bench/abuse.py [--quick]

1. slow clients: 1,000 connections that send their request a byte at a time and never finish,
   while voters do the whole flow: the voters' per-request p50/p99 (a request that fails counts
   at the time it failed) and errors.
2. guessed codes: 10,000 from one client, then 10,000 from 50 addresses (the server trusts one
   proxy, BALLOT_TRUSTED_PROXIES=1, and each request names its address in X-Forwarded-For), over
   the slip URL, the start page's form and the API: accepted (must be 0), refused after a check,
   refused unread (429), time to lock-out; meanwhile voters from other addresses type their right
   codes and must all get in.
3. fuzz: schemathesis cases (valid and invalid) against /api/v1, and a random fuzz of the voter
   form posts (field names, values, lengths, encodings, content types): 5xx answers (must be 0),
   and every stored ballot checked again with its kind's check (invalid must be 0), every item
   closed and its export recounted.
4. the /verify bomb: a signed archive (its own key, uploaded as the trusted key) whose 25 kB
   ballots.json inflates to 25 MB of `{},`: the worker's peak RSS growth (VmHWM) in MB.

The last line: `abuse: slow-p99-ms=<n> guesses-accepted=<n> fuzz-5xx=<n> bomb-mb=<n>`.
--quick runs the same with fewer requests and finishes in under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import re
import secrets
import shutil
import statistics
import string
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from crashkit import Server  # noqa: E402
from rawhttp import Client, Response  # noqa: E402
from slowclients import run_slow_clients  # noqa: E402  (bench/: the slow-client attack)

from ballot.config import Settings  # noqa: E402
from ballot.meetings import apitokens, meetingfile  # noqa: E402
from ballot.meetings.sittings import open_item, set_present  # noqa: E402
from ballot.meetings.users import create_user  # noqa: E402
from ballot.storage import audit  # noqa: E402
from ballot.storage.db import Database  # noqa: E402
from ballot.storage.migrate import upgrade  # noqa: E402
from ballot.voting import credentials  # noqa: E402

ACTOR = audit.Actor("abuse", "admin")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WORKERS, THREADS = int(os.environ.get("BENCH_WORKERS", 2)), int(os.environ.get("BENCH_THREADS", 4))
REQUEST_TIMEOUT = 10.0  # a voter's request that takes longer is a failure
VOTE = {"n0": "yes", "n1": "no", "n2": "abstain"}


# ---------------------------------------------------------------- the meetings


HALL = """
[meeting]
title = "对抗测试大会"
[[groups]]
name = "全体"
expected = {n}
[[items]]
title = "逐人表态"
rule = {{ preset = "custom", pass_op = ">", pass_fraction = "1/2", denominator = "cast", basis = "测试" }}
nominees = ["甲", "乙", "丙"]
"""

EVERY_KIND = """
[meeting]
title = "表单模糊测试"
[[groups]]
name = "全体"
expected = {n}
[[items]]
title = "逐人表态"
rule = "appointment"
nominees = ["张伟", "王芳", "李强"]
[[items]]
title = "差额票决"
kind = "contest"
rule = "appointment"
[[items.posts]]
post = "副县长"
seats = 1
candidates = ["张伟", "王芳", "李强"]
[[items.posts]]
post = "局长"
seats = 2
candidates = ["赵敏", "钱进", "孙丽"]
[[items]]
title = "推荐"
kind = "recommend"
seats = 2
ratio = "1.5"
candidates = ["张伟", "王芳", "李强", "欧阳明"]
write_ins = true
[[items]]
title = "测评"
kind = "evaluate"
quotas = [{{ grade = "优秀", max = 1 }}]
subjects = [{{ name = "某局领导班子", category = "team" }}, "张伟", "王芳"]
[[items]]
title = "评分"
kind = "score"
candidates = ["张伟", "王芳"]
sub_items = [{{ name = "演讲", max = 60 }}, {{ name = "答辩", max = 40 }}]
"""


def load_meeting(db: Database, settings: Settings, toml: str, codes: int) -> tuple[list[int], list[str]]:
    with db.write() as s:
        m = meetingfile.load(s, ACTOR, toml.format(n=codes))
        group, item_ids = m.groups[0], [i.id for i in m.items]
        issued = []
        for start in range(0, codes, credentials.MAX_BATCH):
            count = min(credentials.MAX_BATCH, codes - start)
            issued += credentials.issue_codes(s, settings.derived_key("credential"), group, count, ACTOR)
        set_present(s, ACTOR, group, codes)
    for item_id in item_ids:
        with db.write() as s:
            open_item(s, ACTOR, item_id)
    return item_ids, issued


# ---------------------------------------------------------------- a lean client with headers


class HeaderClient(Client):
    """bench/rawhttp's client, plus extra headers and raw bodies (X-Forwarded-For, JSON)."""

    async def send(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> Response:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        if self.writer is None:
            await self._connect()
        try:
            self.writer.write(payload)
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            await self._connect()
            self.writer.write(payload)
            head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        got: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                name, value = name.strip().lower(), value.strip()
                if name == "set-cookie":
                    key, _, val = value.split(";", 1)[0].partition("=")
                    self.cookies[key] = val
                got[name] = value
        data = await self.reader.readexactly(int(got.get("content-length", "0")))
        if got.get("connection", "").lower() == "close":
            await self.close()
        return Response(int(status_line.split()[1]), got, data)

    async def form(self, path: str, fields: dict, headers: dict | None = None) -> Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return await self.send("POST", path, urlencode(fields).encode(), headers)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    if len(latencies) < 2:
        return (latencies[0] * 1000, latencies[0] * 1000) if latencies else (0.0, 0.0)
    q = statistics.quantiles(latencies, n=100)
    return q[49] * 1000, q[98] * 1000


# ---------------------------------------------------------------- 1. slow clients


def slow_clients(base: str, connections: int, seconds: float) -> dict:
    return run_slow_clients(base, connections, seconds)


class Timed:
    """Per-request latencies of voters; a failed request counts at the time it failed."""

    def __init__(self):
        self.latencies: list[float] = []
        self.errors = Counter()

    async def request(self, c: HeaderClient, method, path, expect, form=None, headers=None) -> Response:
        start = time.perf_counter()
        try:
            if form is not None:
                call = c.form(path, form, headers)
            else:
                call = c.send(method, path, headers=headers)
            response = await asyncio.wait_for(call, REQUEST_TIMEOUT)
        except asyncio.TimeoutError:
            self.latencies.append(time.perf_counter() - start)
            self.errors["timeout"] += 1
            raise
        except (OSError, asyncio.IncompleteReadError):
            self.latencies.append(time.perf_counter() - start)
            self.errors["connection"] += 1
            raise
        self.latencies.append(time.perf_counter() - start)
        if response.status != expect:
            self.errors[f"HTTP {response.status}"] += 1
            raise RuntimeError(f"{method} {path}: {response.status}")
        return response


async def voter_flow(base: str, code: str, item_id: int, rec: Timed, headers=None, typed=False) -> bool:
    """The whole flow (slip URL, or typing the code on the start page); True when a receipt shows."""
    c = HeaderClient(base)
    try:
        if typed:
            start = await rec.request(c, "GET", "/", 200, headers=headers)
            token = CSRF.search(start.text).group(1)
            await rec.request(c, "POST", "/enter", 303, {"code": code.lower(), "csrf_token": token}, headers)
        else:
            await rec.request(c, "GET", f"/V/{code}", 303, headers=headers)
        form = await rec.request(c, "GET", f"/ballot/{item_id}", 200, headers=headers)
        token = CSRF.search(form.text).group(1)
        await rec.request(c, "POST", f"/ballot/{item_id}/review", 303, {**VOTE, "csrf_token": token}, headers)
        review = await rec.request(c, "GET", f"/ballot/{item_id}/review", 200, headers=headers)
        token = CSRF.search(review.text).group(1)
        await rec.request(c, "POST", f"/ballot/{item_id}/cast", 303, {"csrf_token": token}, headers)
        receipt = await rec.request(c, "GET", f"/ballot/{item_id}/receipt", 200, headers=headers)
        return 'id="receipt"' in receipt.text
    except (RuntimeError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, AttributeError):
        return False
    finally:
        await c.close()


async def voters_during(base: str, codes: list[str], item_id: int, start_after: float, over: float) -> tuple:
    await asyncio.sleep(start_after)
    rec, tasks = Timed(), []
    for i, code in enumerate(codes):
        tasks.append(asyncio.create_task(voter_flow(base, code, item_id, rec)))
        await asyncio.sleep(over / len(codes))
    done = await asyncio.gather(*tasks)
    return rec, sum(done)


def section_slow(base: str, codes: list[str], item_id: int, connections: int, seconds: float) -> int:
    """The attack runs in a thread of its own; voters vote meanwhile from this one."""
    result = {}
    attack = threading.Thread(target=lambda: result.update(slow_clients(base, connections, seconds)), daemon=True)
    attack.start()
    voting = max(seconds - 6 - REQUEST_TIMEOUT * 2, 4)
    rec, voted = asyncio.run(voters_during(base, codes, item_id, 4, voting))
    attack.join(seconds + 60)
    p50, p99 = percentiles(rec.latencies)
    print(
        f"1. slow clients: {connections} connections for {seconds:.0f} s: probe "
        f"p50 {result.get('p50_ms', 0):.0f} ms, p99 {result.get('p99_ms', 0):.0f} ms, "
        f"errors {result.get('errors')} of {result.get('requests')}"
    )
    errors = ", ".join(f"{k} {n}" for k, n in sorted(rec.errors.items())) or "0"
    print(
        f"   voters meanwhile: {voted} of {len(codes)} got a receipt; {len(rec.latencies)} requests, "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, errors {errors}"
    )
    return round(p99)


# ---------------------------------------------------------------- 2. guessed codes


def guessed_code() -> str:
    raw = "".join(secrets.choice(CROCKFORD) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


async def guessers(base: str, total: int, addresses: list[str], item_id: int, concurrency: int = 16) -> dict:
    """`total` guesses spread over `addresses`, over the slip URL, the start page's form and the API."""
    results = []  # (seconds since start, address, status, route)
    counter = iter(range(total))
    start = time.perf_counter()

    async def worker(w: int):
        c = HeaderClient(base)
        token = None
        try:
            for n in counter:
                address = addresses[n % len(addresses)]
                xff = {"X-Forwarded-For": address}
                route = ("slip", "form", "api")[n % 3]
                code = guessed_code()
                try:
                    if route == "slip":
                        r = await c.send("GET", f"/V/{code}", headers=xff)
                    elif route == "form":
                        if token is None:
                            token = CSRF.search((await c.send("GET", "/", headers=xff)).text).group(1)
                        r = await c.form("/enter", {"code": code, "csrf_token": token}, xff)
                    else:
                        body = json.dumps({"code": code, "item_id": item_id, "choices": VOTE}).encode()
                        r = await c.send("POST", "/api/v1/ballots", body, {**xff, "Content-Type": "application/json"})
                    status = r.status
                except (OSError, asyncio.IncompleteReadError):
                    status = 0
                    await c.close()
                results.append((time.perf_counter() - start, address, status, route))
        finally:
            await c.close()

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    refused_codes = {"slip": (400,), "form": (400,), "api": (403,)}
    accepted = [r for r in results if r[2] not in (0, 429, *refused_codes[r[3]])]
    checked = [r for r in results if r[2] in refused_codes[r[3]]]
    limited = [r for r in results if r[2] == 429]
    first_limit = {}
    for t, address, status, _ in results:
        if status == 429:
            first_limit.setdefault(address, t)
    return {
        "guesses": len(results),
        "accepted": len(accepted),
        "accepted_statuses": Counter(r[2] for r in accepted),
        "refused": len(checked),
        "limited": len(limited),
        "first_lockout": min(first_limit.values()) if first_limit else None,
        "all_locked": max(first_limit.values()) if len(first_limit) == len(addresses) else None,
        "last_checked": max((r[0] for r in checked), default=0.0),
        "elapsed": elapsed,
        "rate": len(results) / elapsed,
    }


async def honest_meanwhile(base: str, codes: list[str], item_id: int, stop: asyncio.Event) -> tuple[int, int, Timed]:
    """Voters, each from an address of their own, typing their right code on the start page,
    one every 0.1 s while the guessing lasts (and at least a few)."""
    rec, tasks = Timed(), []
    for i, code in enumerate(codes):
        if stop.is_set() and i >= 5:
            break
        headers = {"X-Forwarded-For": f"10.{77 + i // 65000}.{i // 250 % 250}.{i % 250 + 1}"}
        tasks.append(asyncio.create_task(voter_flow(base, code, item_id, rec, headers, typed=True)))
        await asyncio.sleep(0.1)
    got_in = await asyncio.gather(*tasks)
    return sum(got_in), len(tasks), rec


async def guessing_phase(base, total, addresses, item_id, honest_codes):
    stop = asyncio.Event()
    honest = asyncio.create_task(honest_meanwhile(base, honest_codes, item_id, stop))
    stats = await guessers(base, total, addresses, item_id)
    stop.set()
    stats["honest_in"], stats["honest"], rec = await honest
    stats["honest_errors"] = dict(rec.errors)
    return stats


def section_guesses(base: str, total: int, item_id: int, honest_codes: list[str]) -> int:
    accepted = 0
    half = len(honest_codes) // 2
    for label, addresses, codes in (
        ("one client", ["198.51.100.7"], honest_codes[:half]),
        ("50 addresses", [f"203.0.113.{i}" for i in range(1, 51)], honest_codes[half:]),
    ):
        s = asyncio.run(guessing_phase(base, total, addresses, item_id, codes))
        accepted += s["accepted"]

        def at(t):
            return "never" if t is None else f"{t:.1f} s"

        print(
            f"2. {total} guessed codes from {label}: accepted {s['accepted']}"
            f"{' ' + str(dict(s['accepted_statuses'])) if s['accepted'] else ''}, checked and refused {s['refused']}, "
            f"refused unread (429) {s['limited']}; first lock-out {at(s['first_lockout'])}, "
            f"every address locked {at(s['all_locked'])}, last guess checked at {s['last_checked']:.1f} s "
            f"of {s['elapsed']:.1f} s ({s['rate']:.0f} guesses/s)"
        )
        print(
            f"   honest voters typing right codes meanwhile: {s['honest_in']} of {s['honest']} voted"
            f"{' (errors ' + str(s['honest_errors']) + ')' if s['honest_errors'] else ''}"
        )
    return accepted


# ---------------------------------------------------------------- 3. fuzz


def schemathesis_cases(base: str, token: str, target: int, budget: float) -> tuple[int, Counter, list]:
    """Generated requests (valid and invalid) against every operation of the live /api/v1 until
    `target` were sent or `budget` seconds passed. Returns (sent, statuses, 5xx examples).
    Creating meetings gets a smaller share: generating its nested body costs ~15× the others."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(base + "/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    weights = {op.label: 0.1 if op.label == "POST /api/v1/meetings" else 1.0 for op in operations}
    weights["GET /api/v1/openapi.json"] = 0.01
    unit = target / (2 * sum(weights.values()))
    headers = {"Authorization": f"Bearer {token}"}
    statuses, failures, sent = Counter(), [], 0
    deadline = time.monotonic() + budget
    session = requests.Session()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            quota = max(1, round(unit * weights[operation.label]))
            done = 0
            while done < quota and time.monotonic() < deadline:  # hypothesis may stop early: go again

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=quota - done,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    database=None,
                    phases=[Phase.generate],
                )
                def run(case):
                    nonlocal sent, done
                    if done >= quota or time.monotonic() > deadline:
                        return
                    sent, done = sent + 1, done + 1
                    try:
                        response = case.call(session=session, headers=headers, timeout=30)
                    except Exception as exc:  # noqa: BLE001 - a transport failure is a finding too
                        statuses[type(exc).__name__] += 1
                        return
                    statuses[response.status_code] += 1
                    if response.status_code >= 500 and len(failures) < 5:
                        failures.append(f"{operation.label}: {response.status_code} {response.text[:120]!r}")

                before = done
                run()
                if done == before:
                    break  # nothing new to generate
    session.close()
    return sent, statuses, failures


FIELD_NAMES = [
    "n0", "n1", "n2", "n3", "n9", "n-1", "n00", "n1e3", "p0", "p1", "p2", "p9", "c0", "c1", "c2", "c3", "c99",
    "w0", "w1", "w2", "w9", "s0", "s1", "s2", "s3", "s0_0", "s0_1", "s1_0", "s1_1", "s0_2", "s9_9", "s0_",
    "code", "csrf_token", "", "名字", "n0[]", "__proto__", "x" * 300,
]  # fmt: skip
VALUES = [
    "yes", "no", "abstain", "0", "1", "2", "3", "4", "-1", "x", "", "  ", "1.5", "60", "40", "61", "100", "101",
    "1e9", "99999999999999999999999", "NaN", "inf", "-0", "０", "１", "同意", "\x00", "\u202e", "\ufeff1",
    "a" * 5000, "<script>alert(1)</script>", "' OR 1=1 --", "%s%n", "😀", "YES", "abstain ", "张伟", "王芳",
    "赵敏", "\r\n", "1,2", "[1]", "{}",
]  # fmt: skip


def random_text(rng: random.Random) -> str:
    length = rng.choice([0, 1, 2, 5, 20, 200, 3000])
    alphabet = rng.choice([string.printable, "甲乙丙丁张王李赵·", "\x00\x01\x1f\x7f\u2028\u200b\ud7ff", "0123456789"])
    return "".join(rng.choice(alphabet) for _ in range(length))


def fuzz_fields(rng: random.Random) -> list[tuple[str, str]]:
    pairs = []
    for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 20, 450])):
        name = rng.choice(FIELD_NAMES) if rng.random() < 0.85 else random_text(rng)
        value = rng.choice(VALUES) if rng.random() < 0.8 else random_text(rng)
        pairs.append((name, value))
    return pairs


def fuzz_body(rng: random.Random, pairs: list[tuple[str, str]], token: str | None) -> tuple[bytes, dict]:
    """A form in one of many encodings (some valid, most odd); the encoding is named in the
    X-Fuzz header (for the report, ignored by the server)."""
    if token is not None:
        pairs = pairs + [("csrf_token", token)]
        rng.shuffle(pairs)
    how = rng.choice(["utf8", "utf8", "utf8", "gbk", "latin1", "raw", "multipart", "json", "plain", "none", "huge"])
    body, headers = _encoded(rng, how, pairs, token)
    return body, {**headers, "X-Fuzz": how}


def _encoded(rng: random.Random, how: str, pairs: list[tuple[str, str]], token: str | None) -> tuple[bytes, dict]:
    form = "application/x-www-form-urlencoded"
    if how == "utf8":
        return urlencode(pairs, errors="surrogatepass").encode(), {"Content-Type": form}
    if how == "gbk":
        body = "&".join(f"{quote(k, encoding='gbk', errors='replace')}={quote(v, encoding='gbk', errors='replace')}" for k, v in pairs)
        return body.encode(), {"Content-Type": form + "; charset=gbk"}
    if how == "latin1":
        body = "&".join(f"{k}={v}" for k, v in pairs).encode("latin-1", errors="replace")
        return body, {"Content-Type": form + "; charset=latin-1"}
    if how == "raw":
        body = bytes(rng.randrange(256) for _ in range(rng.choice([1, 10, 100, 2000])))
        if token is not None:
            body += b"&csrf_token=" + token.encode()
        return body, {"Content-Type": form}
    if how == "multipart":
        boundary = "----b" + secrets.token_hex(8)
        chunks = []
        nameless = rng.random() < 0.3  # a part without a name
        for k, v in pairs + ([("", "1")] if nameless else []):
            disposition = f'form-data; name="{k}"' if (k or not nameless) else "form-data"
            if rng.random() < 0.1:
                disposition += '; filename="a.txt"'
            chunks.append(
                f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
                + v.encode("utf-8", errors="surrogatepass")
                + b"\r\n"
            )
        body = b"".join(chunks) + (f"--{boundary}--\r\n".encode() if rng.random() < 0.9 else b"")
        return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if how == "json":
        return json.dumps(dict(pairs), ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass"), {
            "Content-Type": "application/json"
        }
    if how == "plain":
        return "\n".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass"), {"Content-Type": "text/plain"}
    if how == "none":
        return urlencode(pairs, errors="surrogatepass").encode(), {}
    return b"n0=" + b"y" * (70 * 1024), {"Content-Type": form}  # over the 64 KB form limit


def form_fuzz(base: str, codes: list[str], item_ids: list[int], posts: int, threads: int = 4) -> tuple[int, Counter, list]:
    """Voter sessions (a right code each, an address of their own) posting random forms to the
    voter endpoints, and confirming whatever the review accepted."""
    statuses, failures, sent = Counter(), [], 0
    lock = threading.Lock()
    code_iter = iter(enumerate(codes))

    def post(http: httpx.Client, path: str, body: bytes, headers: dict) -> int:
        nonlocal sent
        try:
            try:
                response = http.post(path, content=body, headers=headers)
            except httpx.RemoteProtocolError:  # a kept-alive connection the server had closed: once more
                response = http.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            status, text = f"{type(exc).__name__} ({headers['X-Fuzz']} body)", ""
        else:
            status, text = response.status_code, response.text
        with lock:
            sent += 1
            statuses[status] += 1
            if isinstance(status, int) and status >= 500 and len(failures) < 5:
                failures.append(f"POST {path} ({headers['X-Fuzz']} body): {status} {text[:80]!r}")
        return status if isinstance(status, int) else 0

    def session_run(n: int, code: str, rng: random.Random):
        xff = {"X-Forwarded-For": f"172.20.{n // 250 % 250}.{n % 250 + 1}"}
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30, verify=False, headers=xff) as http:
            try:
                if http.get(f"/V/{code}").status_code != 303:
                    return
                token = CSRF.search(http.get(f"/ballot/{item_ids[0]}").text).group(1)
            except (httpx.HTTPError, AttributeError):
                return
            for _ in range(10):
                item_id = rng.choice(item_ids) if rng.random() < 0.9 else rng.choice([0, 999999, 2**31, 2**63])
                where = rng.choices(["review", "cast", "enter", "leave", "kiosk/done"], [60, 15, 15, 5, 5])[0]
                with_token = token if rng.random() < 0.9 else None
                pairs = fuzz_fields(rng)
                if where == "enter" and rng.random() < 0.5:
                    pairs.append(("code", rng.choice([code, code.lower(), f"/V/{code}", random_text(rng)])))
                body, headers = fuzz_body(rng, pairs, with_token)
                path = f"/ballot/{item_id}/{where}" if where in ("review", "cast") else f"/{where}"
                status = post(http, path, body, headers)
                if where == "review" and status == 303 and rng.random() < 0.7:
                    body, headers = fuzz_body(rng, [], token)
                    post(http, f"/ballot/{item_id}/cast", body, headers)
                if where in ("leave", "kiosk/done", "enter") and status in (303, 400):
                    return  # the session is gone; the next one starts with a new code

    def worker(w: int):
        rng = random.Random(w)
        while sent < posts:
            try:
                n, code = next(code_iter)
            except StopIteration:
                return
            session_run(n, code, rng)

    pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sent, statuses, failures


def check_stored(settings: Settings, item_ids: list[int]) -> tuple[int, int, int, int]:
    """Every stored ballot re-checked by its kind; then every item closed and its export recounted.
    Returns (ballots, invalid, recounts that differ or fail, items)."""
    from sqlalchemy import select

    from ballot.archive.verify import _same_result as same_result
    from ballot.counting.kinds import CastError, get_kind
    from ballot.meetings.results import export_item, item_result
    from ballot.meetings.sittings import close_item
    from ballot.storage.models import Ballot, Item
    from ballot.voting.sealing import compact_pending

    db = Database(settings.database_url)
    ballots = invalid = differ = 0
    try:
        with db.read() as s:
            for item_id in item_ids:
                item = s.get(Item, item_id)
                kind, config = get_kind(item.kind), item.config
                for choices_json, valid in s.execute(
                    select(Ballot.choices_json, Ballot.valid).where(Ballot.item_id == item_id)
                ).all():
                    ballots += 1
                    try:
                        choices = json.loads(choices_json)
                        if not valid or kind.check_choices(config, choices) != choices:
                            invalid += 1
                    except (CastError, ValueError, TypeError, KeyError):
                        invalid += 1
        for item_id in item_ids:
            with db.write() as s:
                if s.get(Item, item_id).status == "open":
                    close_item(s, ACTOR, item_id)
        compact_pending(db)
        with db.read() as s:
            for item_id in item_ids:
                item = s.get(Item, item_id)
                try:
                    export = json.loads(json.dumps(export_item(s, item)))
                    # the verifier's comparison: a group too small to publish appears only as totals
                    if not same_result(export, json.loads(json.dumps(item_result(s, item)))):
                        differ += 1
                except Exception:  # noqa: BLE001 - a recount that fails is a finding
                    differ += 1
    finally:
        db.dispose()
    return ballots, invalid, differ, len(item_ids)


def section_fuzz(base, settings, token, cases, posts, budget, fuzz_codes, fuzz_items) -> tuple[int, int]:
    # the form fuzz first: schemathesis, with a clerk's token, may close any item
    start = time.monotonic()
    sent, statuses, failures = form_fuzz(base, fuzz_codes, fuzz_items, posts)
    form_5xx = sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500)
    shown = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    print(f"3. form fuzz: {sent} voter posts in {time.monotonic() - start:.0f} s: 5xx {form_5xx} ({shown})")
    for failure in failures:
        print(f"   {failure}")
    ballots, invalid, differ, items = check_stored(settings, fuzz_items)
    print(
        f"   stored ballots re-checked by their kind: {ballots}, invalid {invalid}; "
        f"{items} items closed, recount differs or fails for {differ}"
    )
    start = time.monotonic()
    sent, statuses, failures = schemathesis_cases(base, token, cases, budget)
    api_5xx = sum(n for s, n in statuses.items() if not isinstance(s, int) or s >= 500)
    shown = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    print(f"   schemathesis: {sent} cases against /api/v1 in {time.monotonic() - start:.0f} s: 5xx {api_5xx} ({shown})")
    for failure in failures:
        print(f"   {failure}")
    return api_5xx + form_5xx, invalid + differ


# ---------------------------------------------------------------- 4. the /verify bomb


def bomb_archive(megabytes: int = 25) -> tuple[bytes, bytes]:
    """(zip, minisign.pub): a well-formed archive signed with a key of its own, whose ballots.json
    inflates to `megabytes` MB of `{},` (each a dict once parsed); a plausible tally.json names its
    digest, so the verifier reads it."""
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ballot.archive import signing
    from ballot.archive import verify as verifier

    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = signing.SigningKey(signing.PublicKey(secrets.token_bytes(8), raw), private)
    count = megabytes * 1024 * 1024 // 3
    ballots = b'{"format":"ballot-archive/1","items":[' + b"{}," * count + b'{}],"meeting":1}'
    receipts = verifier.canonical({"items": [], "meeting": 1})
    log = b""
    tally = verifier.canonical(
        {
            "format": verifier.FORMAT,
            "software": {"name": "ballot", "version": "1"},
            "key": {"id": key.public.id_hex, "fingerprint": key.public.fingerprint},
            "meeting": {"id": 1, "title": "会议", "date": "2026-12-01", "location": "", "name_order": "姓氏笔画"},
            "items": [],
            "reconciliation": [],
            "digests": {name: hashlib.sha256(data).hexdigest() for name, data in
                        (("ballots.json", ballots), ("receipts.json", receipts), ("audit.log", log))},
            "audit_head": None,
            "audit_entries": 0,
            "withdrawn": [],
            "signed_at": "2026-12-01T00:00:00Z",
        }
    )  # fmt: skip
    pdf = b"%PDF-1.7\n%%EOF\n"
    files = {
        "tally.json": tally,
        "tally.json.minisig": key.sign(tally, "ballot tally report, meeting 1").encode(),
        "minisign.pub": key.public.minisign().encode(),
        "report.pdf": pdf,
        "report.pdf.minisig": key.sign(pdf, "ballot tally report PDF, meeting 1").encode(),
        "ballots.json": ballots,
        "receipts.json": receipts,
        "audit.log": log,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue(), key.public.minisign().encode()


def memory_kb(pid: int) -> dict:
    fields = {}
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0])
    except OSError:
        pass
    return fields


def section_bomb(settings: Settings, tmp: Path) -> int:
    """One worker alone, so its peak RSS is the bomb's."""
    zipped, public = bomb_archive()
    server = Server(settings, tmp / "bomb.log", workers=1, threads=THREADS)
    server.start()
    try:
        with httpx.Client(base_url=server.base, timeout=120, verify=False) as http:
            token = CSRF.search(http.get("/verify").text).group(1)  # warms the page too
            workers = server.worker_pids()
            before = {pid: memory_kb(pid) for pid in workers}
            start = time.perf_counter()
            try:
                response = http.post(
                    "/verify",
                    data={"csrf_token": token},
                    files={"archive": ("archive.zip", zipped, "application/zip"), "public_key": ("minisign.pub", public)},
                )
                outcome = f"HTTP {response.status_code}"
                if response.status_code == 200:
                    verdict = re.search(r"结论：[^<]+", response.text) or re.search(r'class="error"[^>]*>([^<]+)', response.text)
                    outcome += f" ({verdict.group(0) if verdict else 'no verdict'})"
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            seconds = time.perf_counter() - start
            after = {pid: memory_kb(pid) for pid in workers}
        growth = [
            (after[p]["VmHWM"] - before[p]["VmHWM"]) / 1024 for p in workers if "VmHWM" in after[p] and before[p]
        ]
        gone = [p for p in workers if not after[p]]
        peak = max((after[p]["VmHWM"] / 1024 for p in workers if after[p]), default=0)
    finally:
        server.stop()
    mb = round(max(growth, default=0))
    print(
        f"4. /verify bomb: {len(zipped) / 1024:.0f} kB zip, ballots.json 25 MB of {{}}: {outcome} in {seconds:.1f} s; "
        f"worker peak RSS +{mb} MB (VmHWM {peak:.0f} MB)"
        + (f"; worker(s) {gone} died" if gone else "")
    )
    return mb


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests, under two minutes")
    args = ap.parse_args()
    q = args.quick
    slow_connections, slow_seconds, slow_voters = 1000, (20 if q else 60), (30 if q else 300)
    guesses, honest = (1000 if q else 10_000), (40 if q else 300)
    cases, posts, fuzz_budget = (300 if q else 10_000), (400 if q else 5000), (20 if q else 1200)
    started = time.monotonic()

    tmp = Path(tempfile.mkdtemp(prefix="ballot-abuse-"))
    instance = tmp / "instance"
    instance.mkdir()
    url = f"sqlite:///{tmp / 'ballot.db'}"
    settings = Settings(instance_path=instance, database_url=url, master_secret=b"abuse-secret-" + b"x" * 20)
    upgrade(url)
    db = Database(url)
    hall_items, hall_codes = load_meeting(db, settings, HALL, slow_voters + honest)
    fuzz_items, fuzz_codes = load_meeting(db, settings, EVERY_KIND, posts // 4 + 50)
    with db.write() as s:
        admin = create_user(s, "abuse-admin", secrets.token_urlsafe(16), "admin")
        token = apitokens.create_token(s, admin, "abuse", ACTOR)
    db.dispose()
    print(
        f"ballot on SQLite, `ballot serve` {WORKERS} workers x {THREADS} threads, BALLOT_TRUSTED_PROXIES=1, "
        f"loopback, load generator on the same machine{' (--quick)' if q else ''}"
    )
    server = Server(settings, tmp / "server.log", WORKERS, THREADS, extra_env={"BALLOT_TRUSTED_PROXIES": "1"})
    try:
        server.start()
        slow_p99 = section_slow(server.base, hall_codes[:slow_voters], hall_items[0], slow_connections, slow_seconds)
        server.wait_ready(60)
        accepted = section_guesses(server.base, guesses, hall_items[0], hall_codes[slow_voters:])
        fuzz_5xx, _invalid = section_fuzz(server.base, settings, token, cases, posts, fuzz_budget, fuzz_codes, fuzz_items)
    finally:
        server.stop()
    bomb_mb = section_bomb(settings, tmp)
    kept = f"; server log {tmp / 'server.log'}" if os.environ.get("BENCH_KEEP") else ""
    print(f"   ({time.monotonic() - started:.0f} s in all{kept})")
    print(f"abuse: slow-p99-ms={slow_p99} guesses-accepted={accepted} fuzz-5xx={fuzz_5xx} bomb-mb={bomb_mb}")
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
