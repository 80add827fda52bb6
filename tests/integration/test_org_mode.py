"""Organization mode: app servers started by the container's entry script, sharing one
PostgreSQL; and the online backup of a running SQLite instance."""

import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from httpvoter import Phone
from server import ENTRYPOINT, free_port, running_server, wait_until_serving
from test_slow_clients import BOUND, CODE, MALFORMED, TimedPhone, _send, holding_slow_connections
from voting import stored_ballots

from ballot.storage.backup import BackupError, backup_sqlite

pytestmark = pytest.mark.server


def test_two_app_servers_share_one_postgresql(world, settings, backend, tmp_path):
    if backend != "postgresql":
        pytest.skip("several app servers need PostgreSQL")
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 10)
    world.present(gid, 11)
    world.open(item.id)
    with (
        running_server(settings, tmp_path / "a.log", workers=1, entrypoint=True) as a,
        running_server(
            settings, tmp_path / "b.log", workers=1, entrypoint=True, extra_env={"BALLOT_MIGRATE": "0"}
        ) as b,
    ):
        receipts = []
        for i, code in enumerate(codes[:8]):
            phone = Phone(a if i % 2 else b)
            assert phone.enter(code) == 303
            receipts.append(phone.vote(item.id, {"n0": "yes"}))
            phone.close()
        # A code used through one server is spent on the other.
        phone_a, phone_b = Phone(a), Phone(b)
        for phone in (phone_a, phone_b):
            assert phone.enter(codes[8]) == 303
            phone.review(item.id, {"n0": "no"})
        assert phone_a.cast(item.id).status_code == 303
        refused = phone_b.cast(item.id)
        assert refused.status_code == 409 and "本票码已投过本议题" in refused.text
        # A session made on one server is honoured by the other (same instance secret).
        phone_b.http.base_url = a
        assert "本票码已投票" in phone_b.http.get("/ballot").text
        phone_a.close()
        phone_b.close()
    with world.db.read() as s:
        assert len(stored_ballots(s)) == 9
    assert "Booting worker" in (tmp_path / "a.log").read_text()


def test_entrypoint_refuses_to_start_without_a_secret(tmp_path):
    env = dict(os.environ, BALLOT_DATABASE_URL="sqlite:///x.db", BALLOT_INSTANCE=str(tmp_path))
    env.pop("BALLOT_SECRET_KEY", None)
    result = subprocess.run([str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "no instance secret" in result.stderr


def test_online_backup_while_voting(world, settings, backend, tmp_path):
    if backend != "sqlite":
        with pytest.raises(BackupError, match="pg_dump"):
            backup_sqlite(settings.database_url, tmp_path / "b.db")
        return
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 11)
    world.present(gid, 11)
    world.open(item.id)
    with running_server(settings, tmp_path / "server.log") as base:
        done = []

        def voters():
            for code in codes:
                phone = Phone(base)
                phone.enter(code)
                done.append(phone.vote(item.id, {"n0": "yes"}))
                phone.close()

        thread = threading.Thread(target=voters)
        thread.start()
        copies = []
        while thread.is_alive() or not copies:
            target = tmp_path / f"backup-{len(copies)}.db"
            backup_sqlite(settings.database_url, target)
            copies.append(target)
        thread.join()
        final = tmp_path / "final.db"
        backup_sqlite(settings.database_url, final)
    counts = []
    for copy in copies + [final]:
        conn = sqlite3.connect(copy)
        conn.execute("ATTACH DATABASE ? AS live", (f"{copy}-live",))  # open items' ballots (sealing.py)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts.append(conn.execute("SELECT (SELECT count(*) FROM ballots) + (SELECT count(*) FROM live.ballots)").fetchone()[0])
        conn.close()
        assert oct(Path(copy).stat().st_mode)[-3:] == "600" and oct(Path(f"{copy}-live").stat().st_mode)[-3:] == "600"
    assert counts == sorted(counts) and counts[-1] == len(done) == 11  # every snapshot consistent
    with pytest.raises(BackupError, match="已存在"):
        backup_sqlite(settings.database_url, final)


def test_a_screen_on_one_server_shows_a_ballot_cast_through_another_within_a_second(world, settings, backend, tmp_path):
    """Across app servers sharing PostgreSQL (LISTEN/NOTIFY wakes the watcher), through SSE."""
    import json
    import re

    import httpx
    from conftest import ACTOR

    from ballot.live import screen
    from ballot.storage.models import Meeting

    if backend != "postgresql":
        pytest.skip("several app servers need PostgreSQL")
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 3)
    world.present(gid, 11)
    world.open(item.id)
    with world.db.write() as s:
        key = screen.new_key(s, ACTOR, s.get(Meeting, m.id), settings.derived_key("screen"))
    seen: list[tuple[float, int]] = []
    with (
        running_server(settings, tmp_path / "a.log", workers=1, entrypoint=True) as a,
        running_server(
            settings, tmp_path / "b.log", workers=1, entrypoint=True, extra_env={"BALLOT_MIGRATE": "0"}
        ) as b,
    ):

        def watch():
            with httpx.stream("GET", f"{a}/screen/{key}/events", timeout=30) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        count = re.search(r'id="cast">(\d+)<', json.loads(line[6:])["html"])
                        seen.append((time.monotonic(), int(count.group(1))))
                        if count.group(1) == "3":
                            return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen and seen[0][1] == 0  # the current state at once on connect
        delays = []
        with httpx.Client(base_url=b) as api:
            for n, code in enumerate(codes, start=1):
                started = time.monotonic()
                r = api.post("/api/v1/ballots", json={"code": code, "item_id": item.id, "choices": {"n0": "yes"}})
                assert r.status_code == 201
                while not any(c >= n for _, c in seen) and time.monotonic() < started + 5:
                    time.sleep(0.01)
                delays.append(next(t for t, c in seen if c >= n) - started)
        watcher.join(timeout=5)
    assert max(delays) < 1.0, delays


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SITE, TLS_SITE, PROXY = DEPLOY / "nginx.conf", DEPLOY / "nginx-tls.conf", DEPLOY / "ballot-proxy.conf"
FAILURES = 3  # failed codes a client may try (BALLOT_CODE_FAILURES_PER_CLIENT) in the proxy test


def _rewritten(text: str, replacements: dict) -> str:
    """The documented file with test paths and ports; every line we rewrite must still be there."""
    for old, new in replacements.items():
        assert old in text, f"deploy file no longer has {old!r}"
        text = text.replace(old, new)
    return text


def self_signed_certificate(folder: Path) -> Path:
    """A throwaway certificate for 127.0.0.1 and localhost (fullchain.pem, privkey.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(exist_ok=True)
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "fullchain.pem"


@contextmanager
def nginx_in_front(app_base: str, tmp_path: Path, site: Path = SITE, proxy_changes: dict | None = None):
    """nginx with the documented deploy files as written, but on free loopback ports in front of
    app_base, with its files under tmp_path. Yields {"http": base} and, for the TLS site,
    "https" and "certificate" too."""
    ports = {"http": free_port(), "https": free_port()}
    error_log = {"/var/log/nginx/ballot-error.log": str(tmp_path / "nginx-site-error.log")}
    (tmp_path / "proxy.conf").write_text(_rewritten(PROXY.read_text(), {**error_log, **(proxy_changes or {})}))
    text = site.read_text()
    upstream = re.search(r"upstream ballot_app \{\n(.*?)    keepalive", text, re.S).group(1)
    changes = {
        upstream: f"    server {app_base.removeprefix('http://')};\n",
        "listen 80;": f"listen 127.0.0.1:{ports['http']};",
        "include /etc/nginx/ballot/proxy.conf;": f"include {tmp_path / 'proxy.conf'};",
    }
    served = {"http": f"http://127.0.0.1:{ports['http']}"}
    if site == TLS_SITE:
        served["certificate"] = self_signed_certificate(tmp_path / "tls")
        served["https"] = f"https://127.0.0.1:{ports['https']}"
        changes.update(error_log)
        changes["listen 443 ssl;"] = f"listen 127.0.0.1:{ports['https']} ssl;"
        changes["/etc/nginx/tls/"] = f"{tmp_path / 'tls'}/"
    (tmp_path / "site.conf").write_text(_rewritten(text, changes))
    temp = "\n".join(f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {tmp_path / "nginx.pid"};
error_log {tmp_path / "nginx-error.log"} alert;
events {{ worker_connections 4096; }}
http {{
  {temp}
  include {tmp_path / "site.conf"};
}}
"""
    )
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], stderr=subprocess.PIPE)
    try:
        wait_until_serving(
            served.get("https", served["http"]),
            proc,
            20,
            lambda: f"nginx did not start: {proc.stderr.read().decode() if proc.poll() is not None else ''}",
            verify=False,
        )
        yield served
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_nginx_with_the_documented_config_holds_slow_clients_and_forwards_the_client_address(
    world, settings, backend, tmp_path
):
    if backend != "sqlite":
        pytest.skip("the proxy's behaviour does not depend on the database")
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (scripts/setup.sh test installs nginx-light)")
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 4)
    world.present(gid, 11)
    world.open(item.id)
    times: list[float] = []
    with (
        running_server(
            settings,
            tmp_path / "app.log",
            workers=1,
            extra_env={"BALLOT_TRUSTED_PROXIES": "1", "BALLOT_CODE_FAILURES_PER_CLIENT": str(FAILURES)},
        ) as app,
        nginx_in_front(app, tmp_path) as served,
    ):
        base = served["http"]
        with holding_slow_connections(base, 300, trickle_seconds=1.0) as crowd:
            assert crowd.opened == 300
            for code in codes:
                phone = TimedPhone(base, times)
                assert phone.enter(code) == 303
                phone.vote(item.id, {"n0": "yes"})
                phone.close()
        assert len(times) == 6 * len(codes) and max(times) < BOUND, sorted(times)[-5:]
        # nginx replaces X-Forwarded-For: a client cannot pose as many to dodge the failed-code limit…
        statuses = [
            httpx.get(f"{base}/v/ZZZZ-ZZZZ-ZZZZ", headers={"X-Forwarded-For": f"10.9.8.{i}"}, timeout=10).status_code
            for i in range(FAILURES + 1)
        ]
        assert statuses == [400] * FAILURES + [429], statuses
        # …and another device (here another loopback address) is not blocked by that one's failures.
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
        assert other.get(f"{base}/v/ZZZZ-ZZZZ-ZZZZ").status_code == 400
        other.close()
        # A body larger than the app accepts is refused by nginx before any app server reads it.
        big = httpx.post(f"{base}/api/v1/ballots", content=b"x" * (65 * 1024), timeout=10)
        assert big.status_code == 413
        # Malformed requests whose path holds a code: nothing in nginx's logs or the app's.
        port = int(base.rsplit(":", 1)[1])
        for request in MALFORMED:
            _send(port, request.encode("latin-1"))
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    for trace in (CODE, "ZZZZ", "/v/"):
        assert trace not in logs



def test_nginx_with_the_tls_config_redirects_forwards_and_cuts_off_slow_and_oversized_requests(
    world, settings, backend, tmp_path
):
    import socket
    import ssl

    if backend != "sqlite":
        pytest.skip("the proxy's behaviour does not depend on the database")
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (scripts/setup.sh test installs nginx-light)")
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    (code,) = world.codes(gid, 1)
    world.present(gid, 11)
    world.open(item.id)
    env = {"BALLOT_TRUSTED_PROXIES": "1", "BALLOT_CODE_FAILURES_PER_CLIENT": str(FAILURES)}
    with (
        running_server(settings, tmp_path / "app.log", workers=1, extra_env=env) as app,
        # the header deadline shortened so the test need not wait the documented 10 s for it
        nginx_in_front(app, tmp_path, TLS_SITE, {"client_header_timeout 10s;": "client_header_timeout 1s;"}) as served,
    ):
        https, certificate = served["https"], served["certificate"]
        context = ssl.create_default_context(cafile=str(certificate))
        trusted = httpx.Client(base_url=https, verify=context, timeout=10)
        # HTTPS works, and the app knows it was HTTPS (X-Forwarded-Proto, one trusted hop): Secure cookies
        login = trusted.get("/admin/login")
        assert login.status_code == 200 and "Secure" in login.headers["set-cookie"]
        assert trusted.get("/").headers["strict-transport-security"] == "max-age=31536000"
        phone = Phone(https)
        assert phone.enter(code) == 303
        phone.vote(item.id, {"n0": "yes"})
        phone.close()
        # plain HTTP only redirects to HTTPS, keeping the path
        redirect = httpx.get(f"{served['http']}/v/ZZZZ-ZZZZ-ZZZZ", timeout=10)
        assert redirect.status_code == 301 and redirect.headers["location"] == "https://127.0.0.1/v/ZZZZ-ZZZZ-ZZZZ"
        # X-Forwarded-For is the client's address, whatever the client claims: spoofing many
        # addresses does not dodge the failed-code limit, another device is not blocked by it
        statuses = [
            trusted.get("/v/ZZZZ-ZZZZ-ZZZZ", headers={"X-Forwarded-For": f"10.9.8.{i}"}).status_code
            for i in range(FAILURES + 1)
        ]
        assert statuses == [400] * FAILURES + [429], statuses
        other = httpx.Client(
            transport=httpx.HTTPTransport(local_address="127.0.0.2", verify=context), timeout=10
        )
        assert other.get(f"{https}/v/ZZZZ-ZZZZ-ZZZZ").status_code == 400
        other.close()
        # a body larger than the app accepts is refused by nginx itself
        big = trusted.post("/api/v1/ballots", content=b"x" * (65 * 1024))
        assert big.status_code == 413 and "nginx" in big.text
        # a client that trickles its headers is cut off at the header deadline
        port = int(https.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
                started = time.monotonic()
                answer = b""
                try:
                    for _ in range(20):
                        tls.sendall(b"X-Slow: 1\r\n")
                        time.sleep(0.25)
                    answer = tls.recv(1024)
                except (OSError, ssl.SSLError):
                    pass
                assert time.monotonic() - started < 4 and not answer.startswith(b"HTTP/1.1 200")
        trusted.close()
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    assert "ZZZZ" not in logs and "/v/" not in logs
