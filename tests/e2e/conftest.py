"""Browser tests: a real uvicorn on a free 127.0.0.1 port and Debian's Chromium, sync Playwright.

Run in their own pytest process (``make e2e``): ``pytest tests/e2e -p no:cacheprovider``.
Every page records each request it makes and every console error or page error; ``Browser.check``
fails a test on either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest
from helpers import SCREENSHOTS, serving
from playwright.sync_api import Page, sync_playwright

from bench.common import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="session")
def server_url():
    try:
        with serving("server.log") as url:
            yield url
    except RuntimeError as err:
        pytest.fail(f"{err}; see {SCREENSHOTS / 'server.log'}")


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Recorder:
    """What a page did: every URL it requested, its console errors and uncaught exceptions."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("websocket", lambda ws: self.requests.append(ws.url))
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text}")

    def external(self) -> list[str]:
        out = []
        for url in self.requests:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob", "about"):
                continue
            if parsed.hostname != "127.0.0.1":
                out.append(url)
        return out

    def check(self) -> None:
        assert not self.errors, "\n".join(self.errors)
        assert not self.external(), f"requests left 127.0.0.1: {self.external()}"


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def context(browser):
    # bypass_csp: Playwright's wait_for_function polls with eval, which the page's CSP forbids
    # (test_security.py checks the policy in a context of its own)
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True, bypass_csp=True)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, recorder):
    pg = context.new_page()
    recorder.attach(pg)
    pg.set_default_timeout(20_000)
    yield pg
    pg.close()


@pytest.fixture
def page_at(browser, recorder):
    """Pages of another window size, recorded like `page`: ``page_at(1366, 768)``."""
    contexts = []

    def open_page(width: int, height: int) -> Page:
        ctx = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        contexts.append(ctx)
        pg = ctx.new_page()
        recorder.attach(pg)
        pg.set_default_timeout(20_000)
        return pg

    yield open_page
    for ctx in contexts:
        ctx.close()
