"""GET /api/share: the addresses students can open, from the host the server is bound to and the
machine's interfaces (psutil's list, replaced here; nothing goes over the network)."""

from __future__ import annotations

import socket
from collections import namedtuple

import pytest

from app import share
from app.schemas import Share

Address = namedtuple("Address", "family address netmask broadcast ptp")

INTERFACES = {
    "lo": [
        Address(socket.AF_INET, "127.0.0.1", None, None, None),
        Address(socket.AF_INET6, "::1", None, None, None),
    ],
    "eth0": [
        Address(socket.AF_INET, "192.168.1.20", None, None, None),
        Address(socket.AF_INET6, "fe80::1%eth0", None, None, None),  # link-local: needs a zone, left out
        Address(socket.AF_INET6, "2001:db8::20", None, None, None),
        Address(getattr(socket, "AF_PACKET", 17), "aa:bb:cc:dd:ee:ff", None, None, None),
    ],
    "wlan0": [Address(socket.AF_INET, "10.0.0.5", None, None, None)],
}


@pytest.fixture
def bound(client, monkeypatch):
    """Call GET /api/share as if the server were bound to ``host`` (the app's settings restored after)."""
    monkeypatch.setattr(share.psutil, "net_if_addrs", lambda: INTERFACES)
    settings = client.app.state.settings

    def get(host: str, port: int = 8000, url: str = "/api/share") -> dict:
        client.app.state.settings = settings.model_copy(update={"host": host, "port": port})
        response = client.get(url)
        assert response.status_code == 200
        return Share.model_validate(response.json()).model_dump()

    yield get
    client.app.state.settings = settings


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1"])
def test_loopback_is_not_reachable_and_says_how_to_fix_it(bound, host):
    body = bound(host)
    assert body["reachable"] is False and body["urls"] == []
    assert body["hint"] == (
        f"Students cannot reach this server: it listens on {host} only. Restart it with "
        "GATEFLOW_HOST=0.0.0.0 (make run or python -m app) and open the link this button then shows."
    )


def test_all_ipv4_interfaces_lists_every_non_loopback_address(bound):
    body = bound("0.0.0.0", port=9000)
    assert body["urls"] == ["http://192.168.1.20:9000/", "http://10.0.0.5:9000/"]
    assert body["reachable"] is True and body["port"] == 9000 and body["host"] == "0.0.0.0"
    assert "http://192.168.1.20:9000/" in body["hint"] and "firewall" in body["hint"]


def test_all_interfaces_with_ipv6_adds_global_ipv6_in_brackets(bound):
    assert bound("::")["urls"] == [
        "http://192.168.1.20:8000/",
        "http://10.0.0.5:8000/",
        "http://[2001:db8::20]:8000/",
    ]


def test_a_specific_address_is_the_one_url(bound):
    body = bound("192.168.1.20")
    assert body["urls"] == ["http://192.168.1.20:8000/"] and body["reachable"] is True


def test_no_network_address_is_not_reachable(bound, monkeypatch):
    monkeypatch.setattr(share.psutil, "net_if_addrs", lambda: {"lo": INTERFACES["lo"]})
    body = bound("0.0.0.0")
    assert body["urls"] == [] and body["reachable"] is False and "no network address" in body["hint"]


def test_the_port_is_the_one_the_request_came_in_on(bound):
    body = bound("0.0.0.0", port=8000, url="http://testserver:8123/api/share")
    assert body["port"] == 8123 and body["urls"][0] == "http://192.168.1.20:8123/"
