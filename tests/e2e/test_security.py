"""The Content-Security-Policy in Chromium: the page, a trace, Train mode, a PNG export and /docs run
with no violation; a foreign Origin's WebSocket is refused; bad bodies keep the keep-alive connection."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlparse

import pytest

WATCH_CSP = """() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation',
        e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
}"""


@pytest.fixture
def strict_page(browser, recorder):
    """A page that keeps the server's CSP (conftest's pages bypass it for wait_for_function's eval)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    pg = ctx.new_page()
    recorder.attach(pg)
    pg.set_default_timeout(20_000)
    pg.add_init_script(WATCH_CSP)
    yield pg
    ctx.close()


def poll(page, expression: str, timeout: float = 30) -> None:
    """Wait until ``expression`` is truthy, evaluated from here (wait_for_function would need eval)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(100)


def violations(page, recorder) -> list[str]:
    events = page.evaluate("window.__csp || []")
    console = [e for e in recorder.errors if "Content Security Policy" in e or "Refused to" in e]
    return events + console


def test_the_page_trains_and_exports_with_no_csp_violation(strict_page, recorder, server_url):
    page = strict_page
    response = page.goto(server_url + "/")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    poll(page, "!!(window.gateflow && window.gateflow.run)")
    page.wait_for_selector('#heatmaps[data-pending="0"]')
    with page.expect_download(timeout=60_000) as download:
        page.click('#heatmaps [data-export][data-format="png"]')
    assert download.value.suggested_filename.endswith(".png")
    page.click("#btn-train")
    page.wait_for_selector('#btn-train[aria-pressed="true"]')
    page.click("#btn-train-start")
    page.wait_for_selector("#training .js-plotly-plot")
    page.wait_for_timeout(1500)  # a few training messages drawn
    page.click("#btn-train")
    assert violations(page, recorder) == []
    recorder.check()


def test_the_docs_render_offline_with_no_csp_violation(strict_page, recorder, server_url):
    page = strict_page
    page.goto(server_url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)  # rendered from the local bundle
    assert page.locator(".swagger-ui .opblock").count() >= 4
    assert violations(page, recorder) == []
    recorder.check()


def test_a_websocket_from_another_origin_is_refused(server_url):
    """What a page on another origin would send: its Origin header; the server's own is accepted."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    def answer(origin: str) -> str:
        try:
            with connect(server_url.replace("http://", "ws://") + "/ws", origin=origin) as ws:
                ws.send('{"type": "pause"}')
                return ws.recv(timeout=30)
        except InvalidStatus as err:
            return f"refused {err.response.status_code}"

    assert answer("http://evil.example") == "refused 403"
    assert "not_configured" in answer(server_url)  # the page's own origin


def test_bad_bodies_get_4xx_and_keep_the_connection(server_url):
    """One keep-alive connection: every bad body answered 4xx with JSON, then a good trace on it."""
    url = urlparse(server_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    bodies = [
        (b'{"noise": NaN}', "application/json", 422),
        (b'{"noise": -Infinity}', "application/json", 422),
        (b'{"period": 1e400}', "application/json", 422),
        (b'{"task": "text", "text": "\\ud800"}', "application/json", 422),
        (b'{"seq_len": 8}', "text/plain", 415),
        (b"seq_len=8", "application/x-www-form-urlencoded", 415),
        (b'{"text": ' + b"[" * 960 + b"]" * 960 + b"}", "application/json", 422),  # too deep to parse
        (b'{"hidden_size": 5000}', "application/json", 422),
    ]
    for body, content_type, status in bodies:
        conn.request("POST", "/api/trace", body, {"Content-Type": content_type})
        response = conn.getresponse()
        text = response.read().decode()
        assert response.status == status, (body[:40], text)
        assert '"detail":' in text, text
        assert response.getheader("Connection", "keep-alive").lower() != "close"
    good = b'{"seq_len": 8, "hidden_size": 2}'
    conn.request("POST", "/api/trace", good, {"Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()
