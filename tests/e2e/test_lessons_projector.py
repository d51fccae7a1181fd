"""The first screen teaches, lesson links keep their extra settings, projector mode gives the views
the room, and the teacher can hand students an address they can open."""

from __future__ import annotations

import pytest
from helpers import choose_preset, post_trace, serving, shot, state, wait_run

GRAD_DECAY = '[data-plot="grad"] .decay li'


def steps_per_decade(page) -> dict[str, float]:
    items = page.locator(GRAD_DECAY)
    page.wait_for_function(f"() => document.querySelectorAll('{GRAD_DECAY}[data-steps-per-decade]').length")
    out = {}
    for k in range(items.count()):
        li = items.nth(k)
        value = li.get_attribute("data-steps-per-decade")
        if value is not None:
            out[li.get_attribute("data-cell")] = float(value)
    return out


def test_cold_page_opens_the_lesson(page, recorder, server_url):
    """No lesson and no settings in the URL: the page opens the RNN-vs-LSTM lesson, whose LSTM keeps
    its gradient several times longer than the RNN (untrained with no forget bias it would not)."""
    page.goto(server_url + "/")
    r = wait_run(page, cells=["rnn_tanh", "lstm"])
    s = state(page)
    assert s["preset"] == "rnn-vs-lstm" and s["forget_bias"] == 1.0 and r["T"] == 60
    desc = page.locator("#preset-desc")
    assert desc.is_visible() and "forget" in desc.inner_text().lower()
    rate = steps_per_decade(page)
    assert rate["lstm"] > 2 * rate["rnn_tanh"], rate
    page.wait_for_function("() => location.hash.includes('preset=rnn-vs-lstm')")
    shot(page, "cold-start")
    recorder.check()


def test_lesson_link_with_extra_settings_keeps_the_lesson(page, recorder, server_url):
    """#preset=exploding&cells=... is the exploding lesson with three cells, not the defaults."""
    page.goto(server_url + "/#preset=exploding&cells=rnn_tanh,rnn_relu,lstm")
    r = wait_run(page, cells=["rnn_tanh", "rnn_relu", "lstm"])
    s = state(page)
    assert (s["seq_len"], s["init"], s["spectral_radius"], s["preset"]) == (
        100,
        "orthogonal",
        2.5,
        "exploding",
    )
    assert r["T"] == 100
    desc = page.locator("#preset-desc").inner_text()
    assert "Exploding" in desc and "settings changed" in desc  # honest: the lesson was extended
    rate = steps_per_decade(page)
    assert rate["rnn_tanh"] < 30, rate  # the tanh RNN's gradient grows back in time, as the lesson says
    tanh_words = page.locator(f'{GRAD_DECAY}[data-cell="rnn_tanh"]').inner_text()
    assert "larger" in tanh_words, tanh_words
    recorder.check()


def chrome_height(page) -> float:
    return page.evaluate(
        """() => ['.topbar', '#preset-desc', '.playerbar']
            .map((s) => document.querySelector(s))
            .filter((e) => e && !e.hidden)
            .reduce((sum, e) => sum + e.getBoundingClientRect().height, 0)"""
    )


def test_projector_mode(page_at, recorder, server_url):
    page = page_at(1366, 768)
    page.goto(server_url + "/#preset=rnn-vs-lstm")
    wait_run(page)
    normal = chrome_height(page)
    page.click("#btn-large")
    s = state(page)
    assert s["large"] and not s["side"] and {"equations", "heatmaps"} <= set(s["hide"])
    page.wait_for_timeout(300)
    projector = chrome_height(page)
    assert projector <= 0.2 * 768 < normal, (projector, normal)  # header, lesson and player
    assert not page.locator(".sidebar").is_visible()
    assert not page.locator("#equations").is_visible() and not page.locator("#heatmaps").is_visible()
    assert page.locator("#btn-large").get_attribute("aria-pressed") == "true"
    # a diagram's gate letters and the small sigma labels read from the back of the room
    sizes = page.evaluate(
        """() => Object.fromEntries(['.gate-name', '.gate-fn', '.state-name'].map((s) =>
            [s, document.querySelector('.cell-svg ' + s).getBoundingClientRect().height]))"""
    )
    assert sizes[".gate-name"] >= 20 and sizes[".gate-fn"] >= 13 and sizes[".state-name"] >= 20, sizes
    shot(page, "projector-1366")
    # a folded view comes back from the bar above the views; the state (and so the link) says so
    assert page.locator('#folded [data-unfold="equations"]').inner_text() == "+ Equations"
    assert not page.locator("#cells .panel-head .export").first.is_visible()  # no export chrome
    page.click('#folded [data-unfold="equations"]')
    page.locator("#equations").wait_for(state="visible")
    assert "equations" not in state(page)["hide"]
    page.wait_for_function("() => !location.hash.includes('equations')")
    assert "large=1" in page.evaluate("location.hash")
    # and off again: the settings and the views come back
    page.click("#btn-large")
    s = state(page)
    assert not s["large"] and s["side"] and s["hide"] == []
    page.locator("#heatmaps").wait_for(state="visible")
    assert page.locator(".sidebar").is_visible()
    recorder.check()


def test_projector_mode_at_1920(page_at, recorder, server_url):
    page = page_at(1920, 1080)
    page.goto(server_url + "/#preset=forget-bias&large=1&side=0&hide=equations,heatmaps")
    wait_run(page)
    page.wait_for_timeout(300)
    size = page.evaluate(
        "() => document.querySelector('.cell-svg .gate-name').getBoundingClientRect().height"
    )
    assert size >= 24, size
    shot(page, "projector-1920")
    recorder.check()


def test_share_on_a_loopback_server_says_how_to_open_it(page, recorder, server_url):
    """The test server listens on 127.0.0.1: the page must say students cannot reach it, and how."""
    page.goto(server_url + "/#preset=rnn-vs-lstm")
    wait_run(page)
    page.click("#btn-share")
    box = page.locator("#share-box")
    box.wait_for(state="visible")
    page.wait_for_function(
        "() => !document.querySelector('#share-box .share-body').textContent.includes('Looking')"
    )
    assert "GATEFLOW_HOST=0.0.0.0" in box.inner_text()
    assert page.locator("#share-box .share-link").count() == 0
    page.keyboard.press("Escape")
    assert not box.is_visible()
    page.click("#btn-link")
    page.wait_for_function("() => document.body.dataset.copiedLink")
    assert page.evaluate("document.body.dataset.copiedLink").startswith(server_url)
    assert "this computer only" in page.locator("#status").inner_text()
    recorder.check()


@pytest.fixture(scope="module")
def lan_server_url():
    """A server whose settings say it listens on every interface (GATEFLOW_HOST=0.0.0.0), though uvicorn
    binds it to 127.0.0.1 here: the page's logic is the same, and nothing listens beyond loopback."""
    with serving("server-lan.log", env={"GATEFLOW_HOST": "0.0.0.0"}) as url:
        yield url


def test_share_lists_the_addresses_students_can_open(page, recorder, lan_server_url):
    page.goto(lan_server_url + "/#preset=gru-update-gate")
    wait_run(page)
    info = page.evaluate("fetch('/api/share').then((r) => r.json())")
    assert info["reachable"] and info["host"] == "0.0.0.0"
    page.click("#btn-share")
    page.wait_for_function(
        "() => !document.querySelector('#share-box .share-body').textContent.includes('Looking')"
    )
    shown = [
        page.locator("#share-box .share-link code").nth(k).inner_text() for k in range(len(info["urls"]))
    ]
    hash_ = page.evaluate("location.hash")
    assert shown == [u.rstrip("/") + "/" + hash_ for u in info["urls"]]
    assert all("127.0.0.1" not in u for u in info["urls"])  # addresses of this machine on the network
    shot(page, "share-with-class")
    page.click("#share-box .share-close")
    page.click("#btn-link")
    page.wait_for_function("() => document.body.dataset.copiedLink")
    copied = page.evaluate("document.body.dataset.copiedLink")
    assert copied == (shown[0] if shown else page.evaluate("location.href"))
    recorder.check()


def test_choosing_a_lesson_from_the_cold_page(page, recorder, server_url):
    page.goto(server_url + "/")
    wait_run(page)
    r = choose_preset(page, "clamp-f1")
    assert r["T"] == 100 and state(page)["clamp"] == {"f": 1.0}
    recorder.check()


def test_a_setting_that_changes_nothing_says_so(page, recorder, server_url):
    """'Loss on every step' on the adding task: only the last step has a target, so the run is the same
    as with the last-step loss. The page says so beside the field and above the views, as the server
    words it, and the numbers are indeed the same."""
    page.goto(server_url + "/#preset=rnn-vs-lstm")
    first = wait_run(page)
    page.select_option('.field[data-field="loss"] select', "sum")
    wait_run(page, other_than=first["id"])
    note = page.locator('.field[data-field="loss"] .field-note')
    note.wait_for(state="visible")
    assert "same loss and gradients" in note.inner_text()
    assert page.locator('#run-notes li[data-field="loss"]').inner_text() == note.inner_text()
    config = {k: v for k, v in state(page).items() if k in ("cells", "seq_len", "hidden_size", "forget_bias")}
    summed, last = (post_trace(server_url, {**config, "loss": loss}) for loss in ("sum", "last"))
    assert [c["loss"] for c in summed["cells"]] == [c["loss"] for c in last["cells"]]
    assert [c["grad_h_norm"] for c in summed["cells"]] == [c["grad_h_norm"] for c in last["cells"]]
    # back to the last step: the note goes
    page.select_option('.field[data-field="loss"] select', "last")
    page.wait_for_function("() => !document.querySelector('#run-notes li')")
    assert page.locator(".field-note").count() == 0
    recorder.check()


def test_a_hash_edited_right_after_a_change_is_not_lost(page, recorder, server_url):
    """The page writes its state to the URL 120 ms after a change; a hash typed or pasted just then
    must win over that pending write (it used to be overwritten, and the edit silently dropped)."""
    page.goto(server_url + "/#preset=rnn-vs-lstm")
    wait_run(page, cells=["rnn_tanh", "lstm"])
    # what the page's pending URL write does (history.replaceState with the state on screen), run
    # between the edit and its hashchange event, as a busy page's timer can
    page.evaluate(
        """() => {
            const onScreen = location.hash;
            location.hash = '#cells=gru&hidden_size=8&seq_len=20';
            history.replaceState(null, '', onScreen);
        }"""
    )
    wait_run(page, cells=["gru"])
    page.wait_for_function("() => location.hash.includes('cells=gru')")
    assert state(page)["hidden_size"] == 8
    recorder.check()
