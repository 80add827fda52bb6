"""The address phones use: printed in every slip's QR, so it must work from the room's Wi-Fi.

Order: BALLOT_PUBLIC_URL (`ballot serve --public-url`; a fixed hostname is best, since slips
are printed days ahead and a laptop's DHCP address changes), else what `serve` detected from
the machine's own interfaces at start-up, else the address the clerk's browser used.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from .config import Settings


def lan_addresses() -> list[str]:
    """IPv4 addresses of this machine other than loopback (no packets are sent)."""
    found = []
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        infos = []
    for info in infos:
        addr = info[4][0]
        if not ipaddress.ip_address(addr).is_loopback and addr not in found:
            found.append(addr)
    return found


def detected_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "", "::"):
        lan = lan_addresses()
        host = lan[0] if lan else "127.0.0.1"
    return f"http://{host}:{port}"


def voting_base_url(settings: Settings, fallback: str) -> tuple[str, list[str]]:
    """(base URL, warnings for the clerk)."""
    warnings = []
    url = settings.public_url or settings.detected_url or fallback
    url = url.rstrip("/")
    host = urlsplit(url).hostname or ""
    listen = settings.listen_host
    if _is_loopback(host) or _is_loopback(listen):
        warnings.append(
            "服务只在本机（127.0.0.1）监听，会场手机无法访问。请用 --host 0.0.0.0 启动，并用 --public-url 指定手机可访问的地址。"
        )
    if not settings.public_url:
        warnings.append("未设置固定地址（--public-url）：笔记本换网络后 IP 可能改变，已打印的票将无法扫码。")
    return url, warnings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
