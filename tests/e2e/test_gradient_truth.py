"""The gradient views tell the truth in every mode: each number and sentence on screen is checked
against the server's own REST answer (POST /api/trace) for the same config, or against Plotly's own
axis mapping, never against the page's JavaScript.

Stacked and bidirectional nets (fits follow the chosen layer and direction, the equations name the
state fed in, the depth view), a run without Jacobians, the exploding preset's inf/NaN marks, log
ticks that read true, and the text summaries."""

from __future__ import annotations

import json
import math
import re
import urllib.request

import pytest
from helpers import plot_data, post_trace, shot, state, wait_drawn, wait_run, wait_t

GRAD = '[data-plot="grad"]'
JACOBIAN = '[data-plot="jacobian"]'
INPUT = '[data-plot="input"]'
STACKED = "#cells=rnn_tanh,lstm,gru&num_layers=3&bidirectional=1"


# ---- the server's answer --------------------------------------------------------------------------


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.loads(response.read())


def page_config(page, server_url: str) -> dict:
    """The RunConfig the page is showing: every config field of its state."""
    defaults = get_json(server_url + "/api/cells")["defaults"]
    s = state(page)
    return {key: s[key] for key in defaults if key in s}


def num(v) -> float:
    """A wire number: JSON numbers, and "NaN" / "Infinity" / "-Infinity" strings."""
    return float(v)


def close(shown: float, true: float, rel: float = 6e-3) -> bool:
    """A number printed to 3 significant digits against the value it prints."""
    if math.isnan(true) or math.isinf(true) or true == 0:
        return shown == true or (math.isnan(shown) and math.isnan(true))
    return abs(shown - true) <= rel * abs(true)


def parse_number(text: str) -> float:
    """A number as the page prints it: 0.398, 3.91e-14, 2×10⁻⁵, 10⁻¹⁴, NaN, inf."""
    if "\u200b" in text:  # Plotly's own power labels: "10\u200b-24\u200b"
        mantissa, _, exponent = text.replace("\u200b", "").replace("−", "-").partition("10")
        return float(mantissa.rstrip("×") or 1) * 10 ** int(exponent)
    text = text.strip().replace("−", "-")
    if text in ("NaN", "inf", "-inf"):
        return float(text.replace("inf", "Infinity"))
    sup = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
    match = re.fullmatch(r"(?:([\d.]+)×)?10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", text)
    if match:
        mantissa = float(match.group(1)) if match.group(1) else 1.0
        return mantissa * 10 ** int(match.group(2).translate(sup))
    return float(text)


def ld_of(layer: int, direction: int, dirs: int) -> int:
    return layer * dirs + direction


def scroll_to(page, selector: str) -> None:
    """Scroll a panel to just under the sticky player bar, for a screenshot."""
    page.evaluate(
        """sel => {
            const bar = document.querySelector('.playerbar').offsetHeight;
            const top = document.querySelector(sel).getBoundingClientRect().top + window.scrollY;
            window.scrollTo(0, top - bar - 8);
        }""",
        selector,
    )
    page.wait_for_timeout(200)


def next_frames(page) -> None:
    """Until the page has rendered the state it holds now (views render in animation frames)."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def choose(page, layer: int, direction: int) -> None:
    page.select_option("#layer-choice select.layer", str(layer))
    page.select_option("#layer-choice select.dir", str(direction))
    page.wait_for_function(
        "([l, d]) => window.gateflow.state.layer === l && window.gateflow.state.dir === d",
        arg=[layer, direction],
    )
    next_frames(page)


def fits_on_screen(page, plot: str) -> tuple[str, str | None, dict]:
    """(the "Fits for ..." heading, the parenthesis it carries for every sentence, {cell: li})."""
    heading = page.locator(f"{plot} .decay-where")
    where, shared = "", None
    if heading.count():
        assert heading.inner_text().startswith("Fits for ")
        where = heading.locator(".where").inner_text().strip()
        shared = heading.locator(".decay-shared").inner_text().strip()[1:-1] or None
    items = {}
    for li in page.locator(f"{plot} .decay li").all():
        items[li.get_attribute("data-cell")] = {
            "text": li.locator(":scope > span:not(.swatch)").first.inner_text().strip(),
            "title": li.get_attribute("title") or "",
            "why": " ".join(li.locator(".decay-why").all_text_contents()),
        }
    return where, shared, items


def sentence(text: str, shared: str | None) -> str:
    return f"{text} ({shared})" if shared else text


# ---- 1. fits follow the chosen layer and direction ------------------------------------------------


def test_decay_sentences_follow_layer_and_direction(page, recorder, server_url):
    page.goto(server_url + "/" + STACKED)
    r = wait_run(page, cells=["rnn_tanh", "lstm", "gru"])
    assert (r["L"], r["dirs"]) == (3, 2)
    trace = post_trace(server_url, page_config(page, server_url))
    seen = set()
    for layer, direction in [(2, 0), (1, 1), (0, 0), (2, 1)]:
        choose(page, layer, direction)
        ld = ld_of(layer, direction, 2)
        for plot, kind in [(GRAD, "grad_h"), (JACOBIAN, "jacobian")]:
            where, shared, items = fits_on_screen(page, plot)
            for cell in trace["cells"]:
                fit = cell["decays"][ld][kind]
                shown = items[cell["cell"]]
                assert sentence(shown["text"], shared) == fit["text"], (layer, direction, kind, cell["cell"])
                assert f"fitted on layer {layer + 1}" in shown["title"]
                if fit["explanation"]:
                    assert fit["explanation"] in shown["why"]
                seen.add(fit["text"])
            # and the page says which layer and direction they are about
            assert f"layer {layer + 1}" in where
            assert ("reverse ←" if direction else "forward →") in where
        # ||dL/dx_t|| is the input's, whichever layer and direction is shown: its curve and its fit
        where, shared, items = fits_on_screen(page, INPUT)
        assert where == "the input (every layer and direction it feeds)"
        data = page.evaluate(f"() => document.querySelector('{INPUT} .plot').data.filter(d => d.meta)")
        for cell, curve in zip(trace["cells"], data, strict=True):
            assert sentence(items[cell["cell"]]["text"], shared) == cell["input_grad"]["decay"]["text"]
            assert curve["meta"] == {"cell": cell["cell"], "quantity": "grad_x_norm"}
            want = [num(v) for v in cell["input_grad"]["norm"]]
            assert [v for v in curve["y"] if v is not None] == [v for v in want if 0 < v < math.inf]
        if (layer, direction) == (2, 1):
            # the top reverse direction meets the last-step loss at its first step only: exactly 0 elsewhere
            for cell in trace["cells"]:
                fit = cell["decays"][ld]["grad_h"]
                assert fit["direction"] == "zero" and fit["explanation"]
                shown = page.locator(f'{GRAD} .decay li[data-cell="{cell["cell"]}"]').inner_text()
                assert "10x smaller every" not in shown and "exactly 0" in shown
        if (layer, direction) == (1, 1):
            scroll_to(page, "#gradients")
            shot(page, "stacked-layer2-reverse")
    assert len(seen) > 4  # the sentences really changed with the choice
    recorder.check()


# ---- 2. the reverse direction's equations and Jacobian titles -------------------------------------


def test_reverse_direction_equations_and_jacobian_titles(page, recorder, server_url):
    page.goto(
        server_url + "/#cells=gru,lstm&num_layers=2&bidirectional=1&hidden_size=8&seq_len=20&t=5&unit=3"
    )
    r = wait_run(page, cells=["gru", "lstm"])
    wait_t(page, 5)
    trace = post_trace(server_url, page_config(page, server_url))
    gru = trace["cells"][0]
    for direction in (1, 0):
        choose(page, 0, direction)
        ld = ld_of(0, direction, 2)
        body = page.locator("#equations .eq-body")
        html = body.inner_html()
        fed = "t+1" if direction else "t−1"
        other = "t−1" if direction else "t+1"
        assert f"<sub>{fed}</sub>" in html and f"<sub>{other}</sub>" not in html
        if direction:
            assert "reads the sequence from the end" in page.locator("#equations .eq-reverse").inner_text()
        else:
            assert page.locator("#equations .eq-reverse").count() == 0
        # h_t = (1 − z) n + z h_(t±1): the state fed in is the server's h at t+1 (reverse) or t−1
        line = body.locator(".eq").filter(has_text="(1 − z").first
        numbers = [parse_number(s) for s in line.locator(".num").all_inner_texts()]
        z, _n, z2, h_in, h_out = numbers
        prev_t = 6 if direction else 4
        assert close(h_in, num(gru["h"][ld][prev_t][3])), (h_in, gru["h"][ld][prev_t][3])
        assert close(h_out, num(gru["h"][ld][5][3]))
        assert close(z, num(gru["gates"]["z"][ld][5][3])) and z == z2
        title = page.evaluate(
            "() => document.querySelector('[data-plot=\"jacobian\"] .plot').layout.title.text"
        )
        caption = page.locator(f"{JACOBIAN} figcaption").inner_text()
        if direction:
            assert "∂h<sub>0</sub>/∂h<sub>t</sub>" in title and "T−1" not in title
            assert "reads the sequence from the end" in caption
        else:
            assert "∂h<sub>T−1</sub>/∂h<sub>t</sub>" in title
            assert f"t = {r['T'] - 1}" in caption
    recorder.check()


# ---- 3. the depth view --------------------------------------------------------------------------


def depth_figures(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#depth .depth-plot .js-plotly-plot')].map(gd => ({
            cell: gd.dataset.cell,
            rows: gd.layout.yaxis.ticktext.map(s => s.replace(/<[^>]+>/g, '')),
            z: gd.data[0].z,
            special: gd.data[1] ? gd.data[1].z : null,
            text: gd.data.length > 1 ? gd.data[1].text : gd.data[0].text,
            bar: {tickvals: gd.data[0].colorbar.tickvals, ticktext: gd.data[0].colorbar.ticktext},
            range: [gd.data[0].zmin, gd.data[0].zmax],
            fits: gd.layout.annotations.filter(a => a.xref === 'paper').map(a => [a.y, a.text, a.meta.fit]),
            describedBy: gd.getAttribute('aria-describedby'),
        }))"""
    )


def test_depth_view_shows_every_layer_and_direction(page, recorder, server_url):
    page.goto(server_url + "/" + STACKED + "&layer=1&dir=1")
    r = wait_run(page, cells=["rnn_tanh", "lstm", "gru"])
    page.wait_for_selector("#depth .depth-plot .js-plotly-plot")
    trace = post_trace(server_url, page_config(page, server_url))
    assert page.locator('#depth [data-export="#depth"]', has_text="PNG").count() == 1
    assert page.locator("#depth h2").inner_text() and page.locator("#depth .caption").inner_text()
    figures = depth_figures(page)
    assert [f["cell"] for f in figures] == r["cells"]
    expected_rows = [f"layer {layer + 1} {arrow}" for layer in (2, 1, 0) for arrow in ("→", "←")]
    lo, hi = math.inf, -math.inf
    for figure, cell in zip(figures, trace["cells"], strict=True):
        assert figure["rows"] == expected_rows  # the top layer at the top
        assert figure["describedBy"] == "summary-depth"
        for row, label in enumerate(figure["rows"]):
            layer, direction = int(label.split()[1]) - 1, label.endswith("←")
            ld = ld_of(layer, direction, 2)
            for t, raw in enumerate(cell["grad_h_norm"][ld]):
                v = num(raw)
                if math.isfinite(v) and v > 0:
                    assert abs(figure["z"][row][t] - math.log10(v)) < 1e-4
                    lo, hi = min(lo, math.log10(v)), max(hi, math.log10(v))
                else:
                    # not a colour of the scale: its own colour and its own words
                    assert figure["z"][row][t] is None
                    assert figure["special"] is not None and figure["special"][row][t] is not None
                    word = "exactly 0" if v == 0 else ("NaN" if math.isnan(v) else "inf")
                    assert word in figure["text"][row][t]
            # beside the row: the server's sentence (a closing parenthesis moved to the legend, "*")
            fit = cell["decays"][ld]["grad_h"]["text"]
            (shown,) = [f for f in figure["fits"] if f[0] == row]
            assert shown[2] == fit and fit.startswith(shown[1].removesuffix(" *"))
            if shown[1].endswith(" *"):
                assert (
                    fit[len(shown[1]) - 2 :].strip("() ") in page.locator("#depth .depth-legend").inner_text()
                )
        for value, label in zip(figure["bar"]["tickvals"], figure["bar"]["ticktext"], strict=True):
            assert close(parse_number(label), 10**value, 1e-9)
    assert figures[0]["range"] == pytest.approx([lo, hi], abs=1e-4)  # one scale for every cell
    # the top reverse direction is exactly 0 but at one step: said in the legend and on the row
    assert "exactly 0" in page.locator("#depth .depth-legend").inner_text()
    assert page.locator("#depth .overlay-cursor").count() == 3
    assert "layer 3 ←" in page.locator("#summary-depth").text_content()
    scroll_to(page, "#depth")
    shot(page, "depth-view")
    # a click on a row picks that layer and direction, and the step under the pointer
    # centred first: near the top of the window the sticky player bar would take the click
    page.evaluate(
        "document.querySelector('#depth .depth-plot .js-plotly-plot').scrollIntoView({block: 'center'})"
    )
    page.wait_for_timeout(200)
    x, y = page.evaluate(
        """() => {
            const gd = document.querySelector('#depth .depth-plot .js-plotly-plot');
            const box = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            return [box.left + xa._offset + xa.l2p(10), box.top + ya._offset + ya.l2p(4)];
        }"""
    )
    page.mouse.click(x, y)
    page.wait_for_function("() => window.gateflow.state.layer === 0 && window.gateflow.state.dir === 0")
    wait_t(page, 10)
    # a one-layer, one-direction net has nothing to add: the view says so instead
    page.goto(server_url + "/#cells=lstm&hidden_size=8&seq_len=20")
    wait_run(page, cells=["lstm"])
    page.wait_for_selector("#depth .depth-message", state="visible")
    assert "One layer" in page.locator("#depth .depth-message").inner_text()
    assert not page.locator("#depth .depth-grid").is_visible()
    recorder.check()


# ---- 4. a run without Jacobians -----------------------------------------------------------------


def test_jacobian_not_computed_says_why_and_computes_on_request(page, recorder, server_url):
    page.goto(server_url + "/#cells=rnn_tanh&hidden_size=128&seq_len=300")
    first = wait_run(page, cells=["rnn_tanh"])
    config = page_config(page, server_url)
    trace = post_trace(server_url, config)
    assert trace["cells"][0]["jacobian_norm"] is None and trace["jacobian"]["reason"]
    missing = page.locator(f"{JACOBIAN} .plot-missing")
    missing.wait_for(state="visible")
    assert trace["jacobian"]["reason"] in missing.inner_text()
    assert not page.locator(f"{JACOBIAN} .plot-host").is_visible()  # no empty axes
    assert not page.locator(f"{JACOBIAN} .decay").is_visible()
    scroll_to(page, "#gradients")
    shot(page, "jacobian-not-computed")
    page.get_by_role("button", name="Compute ‖∂h/∂h‖ for this run").click()
    wait_run(page, other_than=first["id"])
    assert state(page)["jacobian"] == "on"
    page.wait_for_selector(f"{JACOBIAN} .plot-host .js-plotly-plot", state="visible")
    assert not missing.is_visible()
    computed = post_trace(server_url, {**config, "jacobian": "on"})["cells"][0]["jacobian_norm"][0]
    traces = page.evaluate(
        "() => document.querySelector('[data-plot=\"jacobian\"] .plot').data"
        ".filter(d => d.meta && d.meta.quantity === 'jacobian_norm').map(d => Array.from(d.y))"
    )
    assert len(traces) == 1
    for shown, true in zip(traces[0], computed, strict=True):
        v = num(true)
        assert (shown is None and not (math.isfinite(v) and v > 0)) or abs(shown - v) <= 1e-5 * v
    assert "jacobian=on" in page.evaluate("location.hash")
    recorder.check()


# ---- 5. inf, NaN and zero marks -------------------------------------------------------------------


def text_boxes(page, plot: str) -> list[dict]:
    """Every visible piece of text Plotly drew in a plot (ticks, mark labels, annotations)."""
    return page.evaluate(
        """sel => [...document.querySelector(sel).querySelectorAll(
                '.xtick text, .ytick text, .y2tick text, .y3tick text, .textpoint text, .annotation-text')]
            .filter(el => el.textContent.trim() && el.getBoundingClientRect().width > 0)
            .map(el => {
                const b = el.getBoundingClientRect();
                return {text: el.textContent.trim(), x0: b.left, x1: b.right, y0: b.top, y1: b.bottom};
            })""",
        f"{plot} .plot",
    )


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if (
                a["x0"] < b["x1"] - 0.5
                and b["x0"] < a["x1"] - 0.5
                and a["y0"] < b["y1"] - 0.5
                and b["y0"] < a["y1"] - 0.5
            ):
                out.append((a["text"], b["text"]))
    return out


def marks_of(page, plot: str) -> dict[str, list[tuple[str, int]]]:
    """{kind: [(cell colour, t)]} of the marker traces for unplottable points."""
    return page.evaluate(
        """sel => Object.fromEntries(document.querySelector(sel).data
            .filter(d => d.meta && d.meta.nonfinite)
            .map(d => [d.meta.nonfinite, Array.from(d.x).map((t, j) => [d.marker.color[j], t])]))""",
        f"{plot} .plot",
    )


def test_exploding_marks_never_print_over_each_other(page, recorder, server_url):
    # The norms are float64 (issue 10): the exploding preset's 1e45 is a number now. At radius 10 the
    # ReLU RNN's float32 forward overflows to inf, then NaN, and its gradient with it.
    page.goto(server_url + "/#cells=rnn_tanh,rnn_relu&init=orthogonal&spectral_radius=10&seq_len=100")
    r = wait_run(page, cells=["rnn_tanh", "rnn_relu"])
    trace = post_trace(server_url, page_config(page, server_url))
    colours = page.evaluate(
        "() => Object.fromEntries(document.querySelector('[data-plot=\"grad\"] .plot').data"
        ".filter(d => d.meta && d.meta.quantity).map(d => [d.meta.cell, d.line.color]))"
    )
    expected: dict[str, set] = {"inf": set(), "NaN": set()}
    for cell in trace["cells"]:
        for t, raw in enumerate(cell["grad_h_norm"][0]):
            v = num(raw)
            if math.isnan(v):
                expected["NaN"].add((colours[cell["cell"]], t))
            elif math.isinf(v):
                expected["inf"].add((colours[cell["cell"]], t))
    assert expected["NaN"], "the run should overflow"
    marks = marks_of(page, GRAD)
    for kind in ("inf", "NaN"):
        assert {tuple(m) for m in marks.get(kind, [])} == expected[kind]
    boxes = text_boxes(page, GRAD)
    assert not overlapping(boxes), overlapping(boxes)
    labels = [b["text"] for b in boxes]
    for kind in ("inf", "NaN"):  # each kind present named once
        assert labels.count(kind) == (1 if expected[kind] else 0)
    scroll_to(page, "#gradients")
    shot(page, "exploding-marks")
    assert r["T"] == 100
    recorder.check()


def test_exact_zeros_are_marked(page, recorder, server_url):
    page.goto(server_url + "/#cells=rnn_tanh,lstm&bidirectional=1&hidden_size=8&seq_len=20&dir=1")
    wait_run(page, cells=["rnn_tanh", "lstm"])
    trace = post_trace(server_url, page_config(page, server_url))
    zeros = sum(1 for cell in trace["cells"] for raw in cell["grad_h_norm"][1] if num(raw) == 0)
    zeros += sum(
        1 for cell in trace["cells"] if cell["grad_c_norm"] for raw in cell["grad_c_norm"][1] if num(raw) == 0
    )
    assert zeros > 0
    next_frames(page)
    assert len(marks_of(page, GRAD)["0"]) == zeros
    assert not overlapping(text_boxes(page, GRAD))
    recorder.check()


# ---- 6. log ticks that read true ----------------------------------------------------------------


def tick_readings(page, plot: str) -> list[tuple[str, float, float]]:
    """(label, the pixel row of the label's centre, Plotly's own y axis: log10 value -> pixel row)."""
    wait_drawn(page, f"{plot} .plot")
    next_frames(page)
    return page.evaluate(
        """sel => {
            const gd = document.querySelector(sel);
            const ya = gd._fullLayout.yaxis;
            const top = gd.getBoundingClientRect().top + ya._offset;
            return [...gd.querySelectorAll('.ytick text')].filter(el => el.textContent.trim()).map(el => {
                const b = el.getBoundingClientRect();
                return [el.textContent.trim(), (b.top + b.bottom) / 2 - top];
            });
        }""",
        f"{plot} .plot",
    )


def pixel_of(page, plot: str, value: float) -> float:
    return page.evaluate(
        "([sel, v]) => document.querySelector(sel)._fullLayout.yaxis.l2p(Math.log10(v))",
        [f"{plot} .plot", value],
    )


@pytest.mark.parametrize(
    "hash_",
    ["#preset=clamp-f1", "#cells=lstm&clamp=f:1&task=adding&seq_len=100&hidden_size=32"],
    ids=["preset", "lstm-only"],
)
def test_log_tick_labels_read_true(page, recorder, server_url, hash_):
    page.goto(server_url + "/" + hash_)
    wait_run(page)
    for plot in (GRAD, JACOBIAN):
        readings = tick_readings(page, plot)
        assert len(readings) >= 2, readings
        for label, y in readings:
            # the label says the value that Plotly's axis puts at the label's own height
            assert abs(pixel_of(page, plot, parse_number(label)) - y) < 3, (plot, label, y)
        boxes = text_boxes(page, plot)
        assert not overlapping(boxes), overlapping(boxes)
    recorder.check()


# ---- 7. text summaries ----------------------------------------------------------------------------


def test_text_summaries_say_the_servers_numbers(page, recorder, server_url):
    page.goto(server_url + "/#cells=rnn_tanh,lstm&num_layers=2&seq_len=40&hidden_size=16")
    r = wait_run(page, cells=["rnn_tanh", "lstm"])
    trace = post_trace(server_url, page_config(page, server_url))
    T = r["T"]
    for plot, curve, summary in [
        (GRAD, "grad_h_norm", "summary-grad"),
        (JACOBIAN, "jacobian_norm", "summary-jacobian"),
    ]:
        assert page.locator(f"{plot} .plot").get_attribute("aria-describedby") == summary
        text = page.locator(f"#{summary}").text_content()
        assert "Layer 2 (top)" in text
        for cell, label in zip(trace["cells"], ["RNN (tanh)", "LSTM"], strict=True):
            part = text.split(f"{label}:")[1].split(";")[0]
            found = re.search(r"from (\S+) at t = (\d+) to (\S+) at t = (\d+)", part)
            assert found, part
            a, ta, b, tb = found.groups()
            assert (int(ta), int(tb)) == (T - 1, 0)
            top = cell[curve][1]  # layer 2 of 2, forward
            assert close(parse_number(a), num(top[T - 1])) and close(parse_number(b), num(top[0]))
            fit = cell["decays"][1]["grad_h" if curve == "grad_h_norm" else "jacobian"]["text"]
            assert fit in text
    depth = page.locator("#summary-depth").text_content()
    for label in ("layer 2", "layer 1"):
        assert label in depth
    assert page.locator("#depth .depth-plot .plot").first.get_attribute("aria-describedby") == "summary-depth"
    recorder.check()


# ---- 8. the backward pass over every gradient view ------------------------------------------------


def test_backward_pass_masks_the_right_side(page, recorder, server_url):
    page.goto(
        server_url + "/#cells=gru&num_layers=2&bidirectional=1&hidden_size=8&seq_len=30&t=20&pass=backward"
    )
    wait_run(page, cells=["gru"])
    wait_t(page, 20)
    mask = page.locator(f"{GRAD} .overlay-mask")
    line = page.locator(f"{GRAD} .overlay-cursor")
    for direction in (0, 1):
        choose(page, 0, direction)
        page.wait_for_timeout(100)
        m, c = mask.bounding_box(), line.bounding_box()
        assert mask.is_visible()
        if direction:  # a reverse direction's backward pass starts at t = 0: the steps after t wait
            assert m["x"] >= c["x"] - 2
        else:  # forward: backpropagation starts at t = T-1, the steps before t wait
            assert m["x"] + m["width"] <= c["x"] + c["width"] + 2
    assert page.locator("#depth .overlay-cursor").count() == 1
    assert state(page)["pass"] == "backward"
    recorder.check()


# ---- the fused-input RNN ------------------------------------------------------------------------


def test_the_fused_input_rnn_s_diagram_and_equations_show_its_numbers(page, recorder, server_url):
    """The lesson: its own drawing (x, 1 and h stacked into one matmul), its equations with the step's
    numbers from the server's trace, and the tanh RNN's numbers beside it."""
    page.goto(server_url + "/#preset=fused-input&t=20&unit=3")
    wait_run(page, cells=["rnn_tanh", "rnn_fused"])
    wait_t(page, 20)
    trace = post_trace(server_url, page_config(page, server_url))
    plain, fused = trace["cells"]
    assert fused["cell"] == "rnn_fused"
    card = page.locator(".cell-card").nth(1)
    assert "z = [x, 1, h]" in card.locator("svg").text_content()
    assert "one matmul on [x, 1, h]" in card.inner_text()
    pre_shown = parse_number(card.locator('[data-part="pre"] .gate-value').text_content())
    page.locator('#equations .eq-cells [data-index="1"]').click()
    page.wait_for_function("() => document.querySelector('#equations .eq-title').textContent.includes('fus')")
    body = page.locator("#equations .eq-body")
    assert "z<sub>t</sub> = [" in body.inner_html()
    line = body.locator(".eq").filter(has_text="tanh(W z").first
    pre, h = [parse_number(s) for s in line.locator(".num").all_inner_texts()]
    assert close(pre, num(fused["gates"]["pre"][0][20][3])) and close(h, num(fused["h"][0][20][3]))
    assert close(pre_shown, num(fused["gates"]["pre"][0][20][3]), rel=5e-2)  # unit 3, to 2 digits
    # the same RNN: the tanh RNN's state at this step, to float32's rounding
    assert abs(num(plain["h"][0][20][3]) - num(fused["h"][0][20][3])) < 1e-5
    shot(page, "fused-input")
    recorder.check()


def test_the_cfc_s_diagram_and_equations_show_its_numbers(page, recorder, server_url):
    """The CfC lesson: its own drawing (four maps of [x, h], t_a + t_b into the time gate ti, which
    mixes the heads), its sentence, and its equations with the step's numbers from the server's trace."""
    page.goto(server_url + "/#preset=cfc-time-gate&t=30&unit=3")
    wait_run(page, cells=["rnn_tanh", "gru", "cfc"])
    wait_t(page, 30)
    trace = post_trace(server_url, page_config(page, server_url))
    cfc = trace["cells"][2]
    assert cfc["cell"] == "cfc"
    value = {g: num(cfc["gates"][g][0][30][3]) for g in ("f1", "f2", "ta", "tb", "ti")} | {
        "h": num(cfc["h"][0][30][3])
    }
    card = page.locator(".cell-card").nth(2)
    assert "f1 + ti·(f2 − f1)" in card.locator("svg").text_content()
    assert f"time gate ti = {round(100 * value['ti'])}%" in card.inner_text()
    assert close(
        parse_number(card.locator('[data-part="ti"] .gate-value').text_content()), value["ti"], rel=5e-2
    )
    page.locator('#equations .eq-cells [data-index="2"]').click()
    page.wait_for_function("() => document.querySelector('#equations .eq-title').textContent.includes('CfC')")
    body = page.locator("#equations .eq-body")
    gate = body.locator(".eq").filter(has_text="Δt = 1").first
    ta, tb, ti = [parse_number(s) for s in gate.locator(".num").all_inner_texts()]
    assert close(ta, value["ta"]) and close(tb, value["tb"]) and close(ti, value["ti"])
    mix = body.locator(".eq").filter(has_text="(1 −").first
    f1, ti1, ti2, f2, h = [parse_number(s) for s in mix.locator(".num").all_inner_texts()]
    assert close(f1, value["f1"]) and close(f2, value["f2"]) and close(h, value["h"])
    assert close(ti1, value["ti"]) and ti1 == ti2
    shot(page, "cfc-time-gate")
    recorder.check()


def test_the_ltc_s_diagram_and_equations_show_its_numbers(page, recorder, server_url):
    """The LTC lesson: its own drawing (the voltage carried through × keep, the drive, tau), its sentence,
    and its equations with the step's numbers from the server's trace: h_t = keep · h_(t−1) + the drive,
    which adds up to the trace's h_t."""
    page.goto(server_url + "/#preset=ltc-liquid-time&t=30&unit=3")
    wait_run(page, cells=["rnn_tanh", "lstm", "ltc"])
    wait_t(page, 30)
    trace = post_trace(server_url, page_config(page, server_url))
    ltc = trace["cells"][2]
    assert ltc["cell"] == "ltc"
    value = {g: num(ltc["gates"][g][0][30][3]) for g in ("tau", "keep")}
    value |= {"h": num(ltc["h"][0][30][3]), "h_prev": num(ltc["h"][0][29][3])}
    card = page.locator(".cell-card").nth(2)
    assert "drive to E," in card.locator("svg").text_content()
    words = card.inner_text()
    assert "time constant τ = " in words and "of the old voltage, the synapses drive the rest" in words
    tau_box = parse_number(card.locator('[data-part="tau"] .gate-value').text_content())
    assert close(tau_box, value["tau"], rel=5e-2)
    page.locator('#equations .eq-cells [data-index="2"]').click()
    page.wait_for_function("() => document.querySelector('#equations .eq-title').textContent.includes('LTC')")
    body = page.locator("#equations .eq-body")
    (tau,) = [
        parse_number(s)
        for s in body.locator(".eq").filter(has_text="of a step").first.locator(".num").all_inner_texts()
    ]
    (keep,) = [
        parse_number(s)
        for s in body.locator(".eq").filter(has_text="unfolds").first.locator(".num").all_inner_texts()
    ]
    assert close(tau, value["tau"]) and close(keep, value["keep"])
    line = body.locator(".eq").filter(has_text="drive toward").first
    keep2, h_prev, drive, h = [parse_number(s) for s in line.locator(".num").all_inner_texts()]
    assert close(keep2, value["keep"]) and close(h_prev, value["h_prev"]) and close(h, value["h"])
    assert close(drive, value["h"] - value["keep"] * value["h_prev"])
    shot(page, "ltc-liquid-time")
    recorder.check()


def post_json(server_url: str, path: str, body: dict) -> dict:
    """A side panel's answer from the server itself, to hold the page's numbers against."""
    request = urllib.request.Request(
        server_url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def post_highway(server_url: str, config: dict) -> dict:
    return post_json(server_url, "/api/highway", config)


def panel_loaded(page, panel: str, after: int = 0) -> int:
    """Wait until side panel #panel has drawn an answer newer than its answer number ``after``."""
    page.wait_for_function(f"() => Number(document.querySelector('#{panel}').dataset.loaded || 0) > {after}")
    return int(page.locator(f"#{panel}").get_attribute("data-loaded"))


def highway_loaded(page, after: int = 0) -> int:
    return panel_loaded(page, "highway", after)


def test_the_highway_panel_shows_both_stacks_numbers(page, recorder, server_url):
    """The highway lesson over depth: both stacks' ||dL/dy_l|| on the plot and in words are the server's,
    the equations at a clicked layer and unit add up, a bad setting is refused by name and the plots
    keep the last good run, a good one redraws."""
    page.goto(server_url + "/")
    loaded = highway_loaded(page)
    body = post_highway(server_url, {})
    hw, plain = body["stacks"]
    wait_drawn(page, '[data-name="highway-gradient"]')
    data = plot_data(page, '[data-name="highway-gradient"]')
    assert [len(d["x"]) for d in data] == [31, 31]
    for trace, stack in zip(data, (hw, plain), strict=True):
        shown = zip(trace["y"], stack["grad_norm"], strict=True)
        assert [close(a, num(b), rel=1e-6) for a, b in shown] == [True] * 31
    words = page.locator("#highway .hw-decay").inner_text()
    assert hw["decay"]["text"] in words and plain["decay"]["text"] in words
    assert "layers back" in plain["decay"]["text"]
    # a click on the carry-gate map picks layer 5, unit 3: the equations use that layer's numbers
    carry_map = "document.querySelector('[data-name=\"highway-carry\"]')"
    page.evaluate(f"() => {carry_map}.emit('plotly_click', {{points: [{{x: 5, y: 3}}]}})")
    head = "document.querySelector('#highway .hw-eq-head')"
    page.wait_for_function(f"() => {head}.textContent.includes('Layer 5, unit 3')")
    line = page.locator('#highway .hw-eq-line[data-stack="highway"]')
    h, t, a, carry, y = [parse_number(s) for s in line.locator(".num").all_inner_texts()]
    assert close(h, num(hw["h"][4][3])) and close(t, num(hw["gate"][4][3])) and close(a, num(hw["y"][4][3]))
    assert close(carry, 1 - num(hw["gate"][4][3])) and close(y, num(hw["y"][5][3]))
    assert close(y, h * t + a * carry, rel=2e-2)
    # the diagram shows the same unit: its gate and output are the server's
    diagram = page.locator("#highway .hw-diagram").inner_text()
    assert "layer 5, unit 3" in diagram
    carry_text = page.locator('#highway .hw-svg [data-part="carry"]').text_content()
    assert close(parse_number(carry_text.split("=")[-1]), 1 - num(hw["gate"][4][3]))
    y_text = page.locator('#highway .hw-svg [data-part="y_out"]').text_content()
    assert close(parse_number(y_text.split("=")[-1]), num(hw["y"][5][3]))
    plain_line = page.locator('#highway .hw-eq-line[data-stack="plain"] .num')
    py, pa = [parse_number(s) for s in plain_line.all_inner_texts()]
    assert close(py, num(plain["y"][5][3])) and close(pa, num(plain["y"][4][3]))
    # its lesson button: the default settings again, and the claim in words
    page.locator('#highway .panel-lesson[data-lesson="highway-carries-depth"]').click()
    loaded = highway_loaded(page, loaded)
    assert (
        "more than a fifth of it reaches the input"
        in page.locator("#highway .panel-lesson-text").inner_text()
    )
    page.locator("#highway").scroll_into_view_if_needed()
    shot(page, "highway-depth")
    # out of range: refused by name, nothing redrawn
    page.fill('#highway input[name="layers"]', "51")
    page.wait_for_function("() => document.querySelector('#highway .hw-status').dataset.kind === 'error'")
    status = page.locator("#highway .hw-status").inner_text()
    assert "layers: 51 is outside the allowed range 2 .. 50" in status
    assert int(page.locator("#highway").get_attribute("data-loaded")) == loaded
    page.select_option('#highway select[name="activation"]', "relu")  # still refused: layers is 51
    page.fill('#highway input[name="layers"]', "12")
    highway_loaded(page, loaded)
    data = plot_data(page, '[data-name="highway-gradient"]')
    relu = post_highway(server_url, {"layers": 12, "activation": "relu"})
    assert [len(d["x"]) for d in data] == [13, 13]
    assert close(data[1]["y"][0], num(relu["stacks"][1]["grad_norm"][0]), rel=1e-6)
    assert page.locator("#highway .hw-status").inner_text() == ""
    recorder.check()


def post_attention(server_url: str, config: dict) -> dict:
    return post_json(server_url, "/api/attention", config)


def attention_loaded(page, after: int = 0) -> int:
    return panel_loaded(page, "attention", after)


def test_the_attention_panel_shows_both_models_reach(page, recorder, server_url):
    """Attention beside an untrained RNN: both ||dL/dx_t|| curves against the lag are the server's, the
    lesson button sets the 200-steps-back run and says it, a click on the weight map shows that weight and
    o_t's sum with their numbers, a bad setting is refused by name and the plots keep the last good run."""
    page.goto(server_url + "/")
    loaded = attention_loaded(page)
    body = post_attention(server_url, {})
    T = body["config"]["length"]
    wait_drawn(page, '[data-name="attention-gradient"]')
    data = plot_data(page, '[data-name="attention-gradient"]')
    assert [len(d["x"]) for d in data] == [T, T]
    for trace, norm in zip(data, (body["grad_x_norm"], body["compared"]["grad_x_norm"]), strict=True):
        shown = zip(trace["y"], reversed(norm), strict=True)  # the plot's x is the lag: T - 1 - t
        assert [close(a, num(b), rel=1e-6) for a, b in shown] == [True] * T
    words = page.locator("#attention .at-decay").inner_text()
    assert body["decay"]["text"] in words and body["compared"]["decay"]["text"] in words
    # the lesson, picked from the lessons menu at the top: 240 steps, and the words say what the plot
    # shows 200 steps back; the sequence run's lesson stays as it was
    before = page.locator("#preset").input_value()
    page.select_option("#preset", "panel:attention:attention-reaches-back")
    loaded = attention_loaded(page, loaded)
    assert page.locator("#preset").input_value() == before
    assert page.locator('#attention input[name="length"]').input_value() == "240"
    assert "200 steps back is as large" in page.locator("#attention .panel-lesson-text").inner_text()
    lesson = post_attention(server_url, {"length": 240, "width": 32, "heads": 2})
    rnn_far = num(lesson["compared"]["grad_x_norm"][39])
    data = plot_data(page, '[data-name="attention-gradient"]')
    assert close(data[1]["y"][200], rnn_far, rel=1e-6) and rnn_far < 1e-50
    words = page.locator('#attention .at-decay li[data-model="attention"]').inner_text()
    assert "200 steps back" in words
    # a click on the map: query step 50, key step 10, head 1
    weight_map = "document.querySelector('[data-name=\"attention-weights\"]')"
    page.evaluate(f"() => {weight_map}.emit('plotly_click', {{points: [{{x: 10, y: 50}}]}})")
    eq_head = "document.querySelector('#attention .hw-eq-head').textContent"
    page.wait_for_function(f"() => {eq_head}.includes('t = 50, key step j = 10')")
    weight = page.locator('#attention .hw-eq-line[data-kind="weight"] .num').all_inner_texts()
    assert close(parse_number(weight[0]), num(lesson["weights"][0][50][10]))
    assert close(parse_number(weight[1]), 1 / 51)
    total = [
        parse_number(s)
        for s in page.locator('#attention .hw-eq-line[data-kind="sum"] .num').all_inner_texts()
    ]
    assert close(total[-1], num(lesson["attended"][50][0])) and close(total[-2], total[-1], rel=2e-2)
    row = plot_data(page, '[data-name="attention-row"]')[0]
    assert len(row["y"]) == 51 and close(row["y"][10], num(lesson["weights"][0][50][10]), rel=1e-6)
    # the diagram: an arc from each step 0..50 to step 50, the chosen one's weight the server's
    assert page.locator("#attention .reach-arc").count() == 51
    chosen = page.locator("#attention .reach-arc.chosen")
    assert chosen.get_attribute("data-step") == "10"
    assert close(float(chosen.get_attribute("data-weight")), num(lesson["weights"][0][50][10]), rel=1e-6)
    assert "through 40 steps of its state" in page.locator("#attention .at-diagram").inner_text()
    page.locator('#attention .reach-dot[data-step="30"]').first.click()  # a dot picks the key step
    page.wait_for_function(f"() => {eq_head}.includes('t = 50, key step j = 30')")
    page.locator("#attention .at-heads .chip", has_text="head 2").click()
    page.wait_for_function(f"() => {weight_map}.layout.title.text.includes('head 2 of 2')")
    page.locator("#attention").scroll_into_view_if_needed()
    shot(page, "attention-reach")
    # heads that do not divide the width: refused by name, nothing redrawn
    page.fill('#attention input[name="heads"]', "3")
    page.wait_for_function("() => document.querySelector('#attention .at-status').dataset.kind === 'error'")
    assert "heads: 3 does not divide the width 32" in page.locator("#attention .at-status").inner_text()
    assert page.locator("#attention .panel-lesson-text").inner_text() == ""  # no longer what is shown
    page.fill('#attention input[name="length"]', "999")
    page.fill('#attention input[name="heads"]', "4")
    page.wait_for_function(
        "() => document.querySelector('#attention .at-status').textContent.includes('length: 999')"
    )
    assert int(page.locator("#attention").get_attribute("data-loaded")) == loaded
    page.fill('#attention input[name="length"]', "30")
    attention_loaded(page, loaded)
    data = plot_data(page, '[data-name="attention-gradient"]')
    assert [len(d["x"]) for d in data] == [30, 30]
    assert page.locator("#attention .at-status").inner_text() == ""
    recorder.check()


def test_a_link_carries_the_side_panels_settings(page, recorder, server_url):
    """A copied link opens the attention and highway panels with its settings; the panel's own changes
    go into the link; a cold start writes neither (their defaults)."""
    page.goto(server_url + "/")
    attention_loaded(page)
    highway_loaded(page)
    assert "attention=" not in page.url and "highway=" not in page.url
    page.goto(
        server_url + "/#preset=rnn-vs-lstm&attention=length:40,width:16,heads:4,seed:3&highway=layers:12"
    )
    page.reload()
    attention_loaded(page)
    highway_loaded(page)
    assert page.locator('#attention input[name="length"]').input_value() == "40"
    assert page.locator('#attention input[name="heads"]').input_value() == "4"
    data = plot_data(page, '[data-name="attention-gradient"]')
    body = post_attention(server_url, {"length": 40, "width": 16, "heads": 4, "seed": 3})
    assert close(data[0]["y"][0], num(body["grad_x_norm"][-1]), rel=1e-6)
    assert len(plot_data(page, '[data-name="highway-gradient"]')[0]["x"]) == 13
    loaded = int(page.locator("#attention").get_attribute("data-loaded"))
    page.select_option('#attention select[name="positions"]', "learned")
    attention_loaded(page, loaded)
    page.wait_for_function("() => location.hash.includes('positions%3Alearned')")
    assert "length%3A40" in page.evaluate("location.hash")
    recorder.check()


def test_the_attention_panel_trains_both_and_shows_them_trained(page, recorder, server_url):
    """The training lesson: both models train on the adding problem; the page shows the answer it got:
    both loss curves, the marked steps, the trained gradients, the held-out numbers in words; a changed
    setting goes back to the untrained models."""
    page.goto(server_url + "/")
    attention_loaded(page)
    with page.expect_response("**/api/attention/train", timeout=120_000) as answer:
        page.locator('#attention .panel-lesson[data-lesson="attention-learns-adding"]').click()
    body = answer.value.json()
    page.wait_for_function("() => document.querySelector('#attention').dataset.trained === '1'")
    tr = body["training"]
    assert page.locator('#attention .at-train input[name="steps"]').input_value() == "300"
    losses = plot_data(page, '[data-name="attention-training"]')
    assert [len(d["y"]) for d in losses] == [300, 300]
    assert close(losses[0]["y"][-1], num(tr["losses"][-1]), rel=1e-6)
    assert close(losses[1]["y"][0], num(tr["compared_losses"][0]), rel=1e-6)
    grad = plot_data(page, '[data-name="attention-gradient"]')
    assert close(grad[1]["y"][50], num(body["compared"]["grad_x_norm"][49]), rel=1e-6)
    # the row at the last step, the first marked step chosen: its weight is the server's
    row = plot_data(page, '[data-name="attention-row"]')[0]
    first = tr["markers"][0]
    assert close(row["y"][first], num(body["weights"][0][99][first]), rel=1e-6)
    words = page.locator('#attention .at-decay li[data-model="training"]').inner_text()
    assert f"marked steps are {tr['markers'][0]} and {tr['markers'][1]}" in words
    said = re.search(r"attention answers ([^,]+),", words)
    assert said and close(parse_number(said.group(1)), tr["prediction"])
    assert tr["val_loss"] < 0.02 * tr["baseline"]  # what the lesson says, on this answer too
    page.locator("#attention").scroll_into_view_if_needed()
    shot(page, "attention-trained")
    # a changed setting: the untrained models again, the training plot hidden
    loaded = int(page.locator("#attention").get_attribute("data-loaded"))
    page.fill('#attention input[name="seed"]', "1")
    attention_loaded(page, loaded)
    assert page.locator("#attention").get_attribute("data-trained") == ""
    assert page.locator("#attention .at-training-figure").is_hidden()
    recorder.check()


def test_the_highway_panel_trains_both_stacks_and_shows_them_trained(page, recorder, server_url):
    """The highway's training lesson: both stacks train; the page shows the answer it got (both loss
    curves, the trained stacks' gradients, the held-out losses in words); a changed setting goes back."""
    page.goto(server_url + "/")
    highway_loaded(page)
    with page.expect_response("**/api/highway/train", timeout=120_000) as answer:
        page.locator('#highway .panel-lesson[data-lesson="highway-trains-deep"]').click()
    body = answer.value.json()
    page.wait_for_function("() => document.querySelector('#highway').dataset.trained === '1'")
    tr = body["training"]
    losses = plot_data(page, '[data-name="highway-training"]')
    assert [len(d["y"]) for d in losses] == [300, 300]
    assert close(losses[0]["y"][-1], num(tr["losses"][-1]), rel=1e-6)
    assert close(losses[1]["y"][-1], num(tr["plain_losses"][-1]), rel=1e-6)
    grad = plot_data(page, '[data-name="highway-gradient"]')
    assert close(grad[0]["y"][0], num(body["stacks"][0]["grad_norm"][0]), rel=1e-6)
    words = page.locator('#highway .hw-decay li[data-stack="training"]').inner_text()
    said = re.search(r"held-out loss highway ([^,]+),", words)
    assert said and close(parse_number(said.group(1)), tr["val_loss"])
    assert tr["val_loss"] <= 0.25 * tr["baseline"]  # the lesson's claim, on this answer too
    page.locator("#highway").scroll_into_view_if_needed()
    shot(page, "highway-trained")
    loaded = int(page.locator("#highway").get_attribute("data-loaded"))
    page.fill('#highway input[name="seed"]', "1")
    highway_loaded(page, loaded)
    assert page.locator("#highway").get_attribute("data-trained") == ""
    assert page.locator("#highway .hw-training-figure").is_hidden()
    recorder.check()


def test_the_continuous_time_cells_timespan_and_unfolds_reach_the_equations(page, recorder, server_url):
    """A teacher sets the time between inputs and the LTC's solver unfolds in the settings: the run is
    recomputed with them, the link carries them, and the equations say Δt and the unfolds with the
    step's numbers from the server's trace (ti = σ(t_a·Δt + t_b) adds up)."""
    page.goto(server_url + "/#cells=cfc,ltc&seq_len=30&hidden_size=6&t=20&unit=2")
    first = wait_run(page, cells=["cfc", "ltc"])
    for field, value in (("timespan", "0.5"), ("ode_unfolds", "3")):
        page.fill(f"#cfg-{field}", value)
        page.press(f"#cfg-{field}", "Enter")
    page.wait_for_function("() => window.gateflow.state.ode_unfolds === 3")
    page.wait_for_function(
        "() => location.hash.includes('timespan=0.5') && location.hash.includes('ode_unfolds=3')"
    )
    assert state(page)["timespan"] == 0.5
    wait_run(page, cells=["cfc", "ltc"], other_than=first["id"])
    # the equations read the shown run's own config: they say 3 unfolds once the run computed with them is in
    page.locator('#equations .eq-cells [data-index="1"]').click()
    page.wait_for_function(
        "() => document.querySelector('#equations .eq-body').textContent.includes('Π over 3 unfolds')"
    )
    t = state(page)["t"]
    config = page_config(page, server_url)
    assert (config["timespan"], config["ode_unfolds"]) == (0.5, 3)
    trace = post_trace(server_url, config)
    cfc, ltc = trace["cells"]
    ta, tb, ti = (num(cfc["gates"][g][0][t][2]) for g in ("ta", "tb", "ti"))
    assert abs(ti - 1 / (1 + math.exp(-(0.5 * ta + tb)))) < 1e-6

    body = page.locator("#equations .eq-body")
    page.locator('#equations .eq-cells [data-index="0"]').click()
    page.wait_for_function("() => document.querySelector('#equations .eq-title').textContent.includes('CfC')")
    gate = body.locator(".eq").filter(has_text="Δt = 0.5").first
    assert "× 0.5" in gate.inner_text()
    shown = [parse_number(s) for s in gate.locator(".num").all_inner_texts()]
    assert close(shown[0], ta) and close(shown[1], tb) and close(shown[2], ti)

    page.locator('#equations .eq-cells [data-index="1"]').click()
    page.wait_for_function("() => document.querySelector('#equations .eq-title').textContent.includes('LTC')")
    keep_line = body.locator(".eq").filter(has_text="Π over 3 unfolds").first
    assert "3cm/0.5" in keep_line.inner_text().replace(" ", "")
    (keep,) = [parse_number(s) for s in keep_line.locator(".num").all_inner_texts()]
    assert close(keep, num(ltc["gates"]["keep"][0][t][2]))
    tau_line = body.locator(".eq").filter(has_text="a step is Δt = 0.5").first
    (tau,) = [parse_number(s) for s in tau_line.locator(".num").all_inner_texts()]
    assert close(tau, num(ltc["gates"]["tau"][0][t][2]))
    shot(page, "ltc-timespan-unfolds")
    recorder.check()
