"""Run the real thing: `ballot serve` (gunicorn + ballot's buffering worker) on a loopback port,
output to a file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ENTRYPOINT = Path(__file__).resolve().parents[2] / "scripts" / "entrypoint.sh"


class ServerURL(str):
    """The base URL, carrying the server's process id (for CPU accounting in benchmarks)."""

    pid: int


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc_pid, fields in proc_stats():
        if proc_pid == pid or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def proc_stats():
    """(pid, the fields of /proc/<pid>/stat after the command name) of every live process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue


@contextmanager
def running_server(
    settings,
    log_path: Path,
    workers: int = 2,
    threads: int = 16,
    entrypoint: bool = False,
    extra_env: dict | None = None,
):
    """`ballot serve` on a free loopback port; or, with entrypoint=True, the container's entry script."""
    (settings.instance_path / "secret.key").write_bytes(settings.master_secret)
    port = free_port()
    env = dict(os.environ, BALLOT_DATABASE_URL=settings.database_url, **(extra_env or {}))
    env.pop("BALLOT_SECRET_KEY", None)
    if entrypoint:
        command = [str(ENTRYPOINT)]
        env.update(
            BALLOT_INSTANCE=str(settings.instance_path),
            BALLOT_HOST="127.0.0.1",
            BALLOT_PORT=str(port),
            BALLOT_WORKERS=str(workers),
            BALLOT_THREADS=str(threads),
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        )
    else:
        command = [
            sys.executable,
            "-m",
            "ballot.cli",
            "serve",
            "--instance",
            str(settings.instance_path),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        base = ServerURL(f"http://127.0.0.1:{port}")
        base.pid = proc.pid
        try:
            # two servers booting on a loaded 2-core machine
            wait_until_serving(base, proc, 60, lambda: f"server did not start: {log_path.read_text()}")
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until_serving(base: str, proc: subprocess.Popen, seconds: float, failure, verify=True) -> None:
    """Until GET / answers 200; `failure()` says why when the process ends or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(base + "/", timeout=1, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(failure())
        time.sleep(0.1)
