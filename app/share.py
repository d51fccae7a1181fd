"""The addresses other machines on the network can open: GET /api/share.

Read from the machine's own interface list (psutil.net_if_addrs); nothing is sent anywhere.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import psutil

LOOPBACK_HINT = (
    "Students cannot reach this server: it listens on {host} only. Restart it with "
    "GATEFLOW_HOST=0.0.0.0 (make run or python -m app) and open the link this button then shows."
)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: the machine the server runs on."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def _url(address: str, port: int) -> str:
    return f"http://[{address}]:{port}/" if ":" in address else f"http://{address}:{port}/"


def interface_addresses(ipv6: bool) -> list[str]:
    """The machine's non-loopback IPv4 addresses (and IPv6, without link-local ones, which a browser
    cannot open without a zone), interface by interface, without repeats."""
    families = (socket.AF_INET, socket.AF_INET6) if ipv6 else (socket.AF_INET,)
    found: list[str] = []
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family not in families:
                continue
            address = entry.address.split("%", 1)[0]  # an IPv6 zone suffix
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                continue
            if ip.is_loopback or ip.is_unspecified or (ip.version == 6 and ip.is_link_local):
                continue
            if address not in found:
                found.append(address)
    return sorted(found, key=lambda a: ipaddress.ip_address(a).version)  # IPv4 first, stable


def share_info(host: str, port: int) -> dict:
    """{"host", "port", "urls", "reachable", "hint"} for a server bound to ``host``."""
    if is_loopback(host):
        return {
            "host": host,
            "port": port,
            "urls": [],
            "reachable": False,
            "hint": LOOPBACK_HINT.format(host=host),
        }
    if host in ("0.0.0.0", "::", ""):
        urls = [_url(a, port) for a in interface_addresses(ipv6=host == "::")]
    else:
        urls = [_url(host, port)]
    if not urls:
        hint = (
            f"The server listens on every interface ({host}), but this machine has no network "
            "address other than its own loopback: connect it to the network the students use."
        )
    else:
        hint = (
            f"Students on the same network open {urls[0]}. If it "
            f"does not load, this machine's firewall may be blocking port {port}."
        )
    return {"host": host, "port": port, "urls": urls, "reachable": bool(urls), "hint": hint}


def public_base(base_url: str, host: str, port: int) -> str:
    """The base URL students can open: the request's own, unless it names this machine by a loopback
    address and the server listens on a network address too (then that one, as the share box does)."""
    parts = urlsplit(base_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if is_loopback(parts.hostname or ""):
        urls = share_info(host, parts.port or port)["urls"]
        if urls:
            return urls[0]
    return f"{scheme}://{parts.netloc}/"


def join_url(base: str, code: str) -> str:
    return f"{base}?room={code}"
