"""The page against a real server: presets, stepping, gradient curves, URL round trip, bad values,
NaN/Inf, keyboard, exports; no request leaves 127.0.0.1 and no console error in any test."""

from __future__ import annotations

import json
import math
from pathlib import Path

from helpers import choose_preset, plot_data, run, shot, state, wait_run, wait_t

GRAD_PLOT = '[data-plot="grad"] .plot'
JACOBIAN_PLOT = '[data-plot="jacobian"] .plot'


def log_drop(y: list) -> float:
    """log10 of how much a curve falls from its last step back to its first (finite, positive points)."""
    points = [v for v in y if isinstance(v, (int, float)) and v > 0 and math.isfinite(v)]
    return math.log10(points[-1]) - math.log10(points[0])


def test_loads_and_shows_a_run(page, recorder, server_url):
    page.goto(server_url + "/")
    r = wait_run(page)
    assert r["T"] > 1 and r["cells"]
    assert page.locator(".cell-card").count() == len(r["cells"])
    page.wait_for_selector('#heatmaps[data-pending="0"]')  # heatmaps are drawn a few per frame
    assert page.locator("#heatmaps .js-plotly-plot").count() >= len(r["cells"])
    assert page.locator("#sequence .step").count() == r["T"]
    assert not page.locator("#empty").is_visible()
    shot(page, "default")
    recorder.check()


def test_preset_step_and_gradient_curves(page, recorder, server_url):
    page.goto(server_url + "/#preset=forget-bias")  # the cold page opens rnn-vs-lstm already
    wait_run(page)
    r = choose_preset(page, "rnn-vs-lstm")
    assert r["cells"] == ["rnn_tanh", "lstm"]
    assert page.locator("#preset-desc").is_visible()
    assert "vanishing" in page.locator("#preset-desc").inner_text().lower()
    wait_t(page, 0)
    frames_before = page.evaluate("window.gateflow.frames")
    for _ in range(10):
        page.click("#btn-step")
    wait_t(page, 10)
    assert state(page)["t"] == 10
    assert page.evaluate("window.gateflow.frames") == frames_before  # the page owns its cursor
    assert page.locator("#sequence .step.cursor").get_attribute("data-step") == "10"
    assert page.locator(".cell-card").first.get_attribute("data-t") == "10"

    traces = plot_data(page, GRAD_PLOT)
    grad_h = [tr for tr in traces if tr["meta"] and tr["meta"].get("quantity") == "grad_h_norm"]
    assert sorted(tr["meta"]["cell"] for tr in grad_h) == ["lstm", "rnn_tanh"]  # one curve per cell
    drop = {tr["meta"]["cell"]: log_drop(tr["y"]) for tr in grad_h}
    assert drop["rnn_tanh"] > drop["lstm"] > 0, drop  # the RNN's gradient falls faster going back
    assert any(tr["meta"].get("quantity") == "grad_c_norm" for tr in traces if tr["meta"])
    jac = [
        tr
        for tr in plot_data(page, JACOBIAN_PLOT)
        if tr["meta"] and tr["meta"].get("quantity") == "jacobian_norm"
    ]
    assert len(jac) == 2
    decay = page.locator('[data-plot="grad"] .decay li')
    assert decay.count() == 2 and "10x smaller every" in decay.first.inner_text()
    shot(page, "rnn-vs-lstm-t10", full_page=True)
    recorder.check()


def test_copied_url_restores_the_view(context, page, recorder, server_url):
    page.goto(server_url + "/")
    wait_run(page)
    choose_preset(page, "forget-bias")
    page.keyboard.press("End")
    wait_t(page, run(page)["T"] - 1)
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    t = run(page)["T"] - 4
    wait_t(page, t)
    page.locator(".cell-card").nth(1).click()  # select the LSTM
    page.locator(".eq-unit").fill("5")
    page.locator(".eq-unit").press("Enter")
    page.click("#btn-large")
    page.wait_for_function("() => window.gateflow.state.sel === 1 && window.gateflow.state.unit === 5")
    page.click("#btn-link")
    page.wait_for_function("() => location.hash.includes('large=1') && location.hash.includes('sel=1')")
    url = page.url
    before = state(page)
    # a reload of the same tab comes back to the same view
    page.reload()
    wait_run(page, cells=before["cells"])
    wait_t(page, t)
    assert state(page) == before

    other = context.new_page()
    recorder.attach(other)
    other.goto(url)
    wait_run(other, cells=before["cells"])
    wait_t(other, t)
    after = state(other)
    assert after == before
    assert other.locator(".cell-card.selected").get_attribute("data-cell") == "lstm"
    assert other.evaluate("document.body.classList.contains('large')")
    assert other.locator("#equations").get_attribute("data-cell") == "lstm"
    assert "unit 5" in other.locator(".eq-title").inner_text()
    shot(other, "restored-from-url")
    # a hash edited by hand moves the view without a reload
    other.evaluate("() => { location.hash = location.hash.replace(/([#&])t=\\d+/, '$1t=3'); }")
    wait_t(other, 3)
    assert state(other)["large"] and state(other)["sel"] == 1
    other.close()
    recorder.check()


def test_invalid_field_explains_itself_and_keeps_the_run(page, recorder, server_url):
    page.goto(server_url + "/")
    first = wait_run(page)
    field = page.locator('.field[data-field="hidden_size"]')
    field.locator("input").fill("100000")
    field.locator("input").press("Tab")
    page.wait_for_selector('.field[data-field="hidden_size"].has-error')
    message = field.locator(".field-error").inner_text()
    assert "hidden_size" in message or "128" in message, message
    assert page.locator("#status").get_attribute("data-kind") == "error"
    assert run(page)["id"] == first["id"]  # the previous run stays displayed
    assert page.locator(".cell-card").count() == len(first["cells"])
    assert page.locator("#heatmaps .js-plotly-plot").first.is_visible()
    shot(page, "invalid-hidden-size")
    # fixing the value clears the error and runs again
    field.locator("input").fill("16")
    field.locator("input").press("Tab")
    r = wait_run(page, other_than=first["id"])
    assert r["H"] == 16
    assert page.locator(".field.has-error").count() == 0
    recorder.check()


def test_lesson_link_names_only_the_preset(page, recorder, server_url):
    """A teacher's short link, #preset=NAME (plus view keys), opens that lesson's settings."""
    page.goto(server_url + "/#preset=forget-bias&large=1")
    r = wait_run(page, cells=["rnn_tanh", "lstm"])
    s = state(page)
    assert (s["forget_bias"], s["seq_len"], s["preset"], s["large"]) == (4.0, 100, "forget-bias", True)
    assert r["T"] == 100
    assert "settings changed" not in page.locator("#preset-desc").inner_text()
    # pasted into the same tab
    page.evaluate("location.hash = '#preset=gru-update-gate'")
    page.wait_for_function("() => window.gateflow.run && window.gateflow.run.cells.includes('gru')")
    assert state(page)["update_bias"] is not None
    recorder.check()


def test_invalid_value_in_url_does_not_blank_the_page(page, recorder, server_url):
    page.goto(server_url + "/#cells=rnn_tanh,lstm&hidden_size=100000&seq_len=60")
    page.wait_for_selector('.field[data-field="hidden_size"].has-error')
    assert page.locator("#empty").is_visible()
    assert "hidden_size" in page.locator("#empty").inner_text()
    assert page.locator("#config-form .field").count() > 10  # the controls are all there
    shot(page, "invalid-url")
    # a preset still works from here
    choose_preset(page, "rnn-vs-lstm")
    assert not page.locator("#empty").is_visible()
    recorder.check()


def test_exploding_preset_shows_the_float32_overflow(page, recorder, server_url):
    page.goto(server_url + "/")
    wait_run(page)
    r = choose_preset(page, "exploding")
    assert "rnn_relu" in r["cells"]
    # the default's LSTM column had six heatmaps; the ReLU RNN in its place has two (h, pre), no stale hosts
    page.wait_for_selector('#heatmaps[data-pending="0"]')
    hosts = page.locator("#heatmaps .hm-plot")
    assert hosts.count() == 4
    assert page.locator("#heatmaps .hm-plot .js-plotly-plot").count() == 4
    # the float32 gradient overflows (inf in the heatmaps, a warning); its norm, float64, is plotted
    # past float32's largest number (issue 10)
    traces = plot_data(page, GRAD_PLOT)
    ys = [y for tr in traces if tr["meta"] and tr["meta"].get("quantity") for y in tr["y"] if y is not None]
    assert max(ys) > 3.5e38, "the gradient norm should be drawn past float32's range"
    assert page.locator("#status").get_attribute("data-kind") == "warn"
    # walk the whole run both ways through the views without an error
    page.keyboard.press("End")
    wait_t(page, r["T"] - 1)
    page.locator(".cell-card").nth(1).click()
    page.keyboard.press("Home")
    wait_t(page, 0)
    page.click("#btn-backward")
    page.wait_for_function(
        f"() => window.gateflow.state.pass === 'backward' && window.gateflow.state.t < {r['T'] - 3}"
    )
    page.keyboard.press(" ")
    page.wait_for_function("() => !window.gateflow.playing")
    shot(page, "exploding", full_page=True)
    assert page.locator("#equations .eq-body").inner_text()
    recorder.check()


def test_keyboard_play_pause_and_backward_pass(page, recorder, server_url):
    page.goto(server_url + "/#cells=gru&hidden_size=8&seq_len=40&rate=30")
    r = wait_run(page, cells=["gru"])
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press(" ")
    page.wait_for_function("() => window.gateflow.state.t >= 5")
    page.keyboard.press(" ")
    page.wait_for_function("() => !window.gateflow.playing")
    paused_at = state(page)["t"]
    page.wait_for_timeout(300)
    assert state(page)["t"] == paused_at
    page.keyboard.press("End")
    wait_t(page, r["T"] - 1)
    page.keyboard.press("Home")
    wait_t(page, 0)
    page.keyboard.press("Shift+ArrowRight")
    wait_t(page, 10)
    page.click("#btn-backward")  # from t = 10 the backward pass runs down to 0
    wait_t(page, 0)
    assert state(page)["pass"] == "backward"
    mask = page.locator('[data-plot="grad"] .overlay-mask')
    assert mask.count() == 1
    recorder.check()


def test_exports(page, recorder, server_url):
    page.goto(server_url + "/#cells=lstm&hidden_size=4&seq_len=12")
    wait_run(page, cells=["lstm"])
    with page.expect_download() as download:
        page.click("#btn-json")
    trace = json.loads(Path(download.value.path()).read_text())
    assert trace["T"] == 12 and trace["cells"][0]["cell"] == "lstm"
    with page.expect_download() as download:
        page.click("#btn-csv")
    head = Path(download.value.path()).read_text().splitlines()[0]
    assert head == "cell,layer,direction,t,unit,quantity,value"
    with page.expect_download() as download:
        page.click("#gradients [data-export]")
    assert download.value.suggested_filename.endswith(".png")
    recorder.check()


def test_lesson_view_for_the_docs(page, recorder, server_url):
    """The RNN-vs-LSTM lesson mid-sequence, settings hidden, scrolled to the cells and the gradient flow:
    the view docs/screenshot.png shows (copy it from tests/e2e/screenshots/lesson-rnn-vs-lstm.png)."""
    page.goto(server_url + "/#preset=rnn-vs-lstm&side=0")  # a lesson link: the preset's settings
    wait_run(page, cells=["rnn_tanh", "lstm"])
    assert state(page)["preset"] == "rnn-vs-lstm" and state(page)["t"] == 0
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    wait_t(page, 30)
    page.wait_for_selector('#heatmaps[data-pending="0"]')
    assert not page.locator(".sidebar").is_visible()
    page.evaluate("""() => {
        const bar = document.querySelector('.playerbar').offsetHeight;
        const panel = document.querySelector('#diagrams').closest('.panel');
        window.scrollTo(0, panel.getBoundingClientRect().top + window.scrollY - bar - 8);
    }""")
    page.wait_for_timeout(300)
    assert "t = 30" in page.locator("#t-readout").inner_text()
    shot(page, "lesson-rnn-vs-lstm")
    recorder.check()


def test_view_controls_layers_directions_heatmap_rows_and_hover(page, recorder, server_url):
    page.goto(server_url + "/#cells=lstm,gru&num_layers=2&bidirectional=1&hidden_size=8&seq_len=20&t=5")
    r = wait_run(page, cells=["lstm", "gru"])
    assert (r["L"], r["dirs"]) == (2, 2)
    wait_t(page, 5)
    page.wait_for_selector('#heatmaps[data-pending="0"]')
    # layer and direction: default top layer, forward; switch to layer 1, reverse
    assert page.locator("#layer-choice select.layer option").count() == 2
    assert page.locator("#layer-choice select.layer").input_value() == "1"
    page.select_option("#layer-choice select.layer", "0")
    page.select_option("#layer-choice select.dir", "1")
    page.wait_for_function("() => window.gateflow.state.layer === 0 && window.gateflow.state.dir === 1")
    # the views redraw on the next animation frame: wait for the title, not only the state
    page.wait_for_function(
        "() => document.querySelector('.eq-title').textContent.includes('layer 1, reverse direction')"
    )
    # heatmap rows: add the gradient, then colour range per plot; both land in the URL
    rows = page.locator("#heatmaps .hm-plot").count()
    page.click('#heatmaps .chip[data-field="grad_h"]')
    page.wait_for_function(f"() => document.querySelectorAll('#heatmaps .hm-plot').length === {rows + 2}")
    page.click("#heatmaps .scale-toggle")
    page.wait_for_function("() => location.hash.includes('scale=local') && location.hash.includes('grad_h')")
    # hovering a gate shows its numbers; the speed choice reaches the state
    page.hover('.cell-card[data-cell="lstm"] [data-part="f"]')
    tooltip = page.locator(".tooltip")
    assert (
        tooltip.is_visible()
        and "forget gate" in tooltip.inner_text()
        and "mean over 8 units" in tooltip.inner_text()
    )
    page.select_option("#speed", "30")
    assert state(page)["rate"] == 30
    recorder.check()
