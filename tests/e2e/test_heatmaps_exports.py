"""The heatmaps, the section exports and the cell diagrams tell the truth in every mode.

Every number checked here comes from the server (POST /api/trace with the run's settings), never
from the page's own JavaScript: colour ranges, log-scaled gradients, the text summaries, the
reverse direction's diagram, and one composed image per export click with nothing leaving the
machine.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import shutil
import struct
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from helpers import SCREENSHOTS, post_trace, shot, state, wait_run, wait_t

HM = "#heatmaps .plot[data-cell='{cell}'][data-field='{field}']"
NUMBER = r"(-?[\d.]+(?:e[-+]?\d+)?|NaN|-?inf)"


# ---- the truth: the server's trace ------------------------------------------------------------------


def field(trace_json: dict, cell: str, name: str, ld: int = 0) -> np.ndarray:
    """(T, H) float64 of one field of one cell at layer-direction ld, NaN/inf restored."""
    entry = next(c for c in trace_json["cells"] if c["cell"] == cell)
    raw = entry["gates"][name] if name in entry["gates"] else entry[name]
    # the wire writes NaN and inf as strings: float() reads them back
    return np.vectorize(float, otypes=[np.float64])(np.array(raw, dtype=object))[ld]


def run_config(page) -> dict:
    """The settings of the run on display (the view's state holds every RunConfig field)."""
    s = state(page)
    config_keys = page.evaluate(
        "() => fetch('/api/presets').then(r => r.json()).then(p => Object.keys(p[0].config))"
    )
    return {k: s[k] for k in config_keys}


def numbers(pattern: str, text: str) -> list[float]:
    """The NUMBERs a pattern (written with {n} for each) finds in a text."""
    found = re.search(pattern.replace("{n}", NUMBER), text)
    assert found, (pattern, text)
    return [float(x) for x in found.groups()]


def heatmap(page, cell: str, name: str) -> dict:
    """The traces and layout of one heatmap, as the page drew them (NaN kept as null)."""
    return json.loads(
        page.evaluate(
            """sel => { const gd = document.querySelector(sel);
                return JSON.stringify({data: gd.data.map(d => ({z: d.z, zmin: d.zmin, zmax: d.zmax,
                  meta: d.meta, customdata: d.customdata || null, colorscale: d.colorscale,
                  colorbar: d.colorbar || null})), title: gd.layout.title.text}); }""",
            HM.format(cell=cell, field=name),
        )
    )


def wait_heatmaps(page) -> None:
    page.wait_for_selector('#heatmaps[data-pending="0"]')


# ---- 1. a shared colour range never blanks a plot ------------------------------------------------------


def test_shared_range_sets_an_outlier_apart_and_says_so(page, recorder, server_url):
    page.goto(server_url + "/#preset=exploding")
    wait_run(page, cells=["rnn_tanh", "rnn_relu"])
    wait_heatmaps(page)
    assert state(page)["scale"] == "shared"
    truth = post_trace(server_url, run_config(page))
    tanh_h = field(truth, "rnn_tanh", "h")
    relu_h = field(truth, "rnn_relu", "h")
    own_max = np.nanmax(np.abs(tanh_h[np.isfinite(tanh_h)]))
    relu_max = np.nanmax(np.abs(relu_h[np.isfinite(relu_h)]))
    assert relu_max > 1e6 * own_max  # the situation of the bug: ranges 20 decades apart

    tanh_plot = heatmap(page, "rnn_tanh", "h")["data"][0]
    assert tanh_plot["zmax"] <= 1.5 * own_max and tanh_plot["zmax"] <= 1 + 1e-6
    assert tanh_plot["zmin"] == -tanh_plot["zmax"]
    relu_plot = heatmap(page, "rnn_relu", "h")["data"][0]
    assert relu_plot["zmax"] >= relu_max * (1 - 1e-6)  # its own range covers its values

    # the page says which plots have their own range, and why
    note = page.locator("#heatmaps .hm-note")
    assert note.is_visible()
    text = note.inner_text()
    assert "Own colour range" in text and "RNN (tanh)" in text and "RNN (ReLU)" in text
    assert "own colour range" in heatmap(page, "rnn_tanh", "h")["title"]
    assert "own colour range" in heatmap(page, "rnn_relu", "h")["title"]
    page.locator("#heatmaps").screenshot(path=str(SCREENSHOTS / "heatmaps-exploding.png"))

    # comparable cells still share one range: the RNN-vs-LSTM lesson
    page.evaluate("location.hash = '#preset=rnn-vs-lstm'")
    wait_run(page, cells=["rnn_tanh", "lstm"])
    wait_heatmaps(page)
    truth = post_trace(server_url, run_config(page))
    both = max(np.abs(field(truth, "rnn_tanh", "h")).max(), np.abs(field(truth, "lstm", "h")).max())
    for cell in ("rnn_tanh", "lstm"):
        assert math.isclose(heatmap(page, cell, "h")["data"][0]["zmax"], both, rel_tol=1e-5)
    assert not page.locator("#heatmaps .hm-note").is_visible()
    recorder.check()


# ---- 2. gradients on a log scale -----------------------------------------------------------------------


def test_gradient_rows_show_log_magnitude_and_the_true_value(page, recorder, server_url):
    page.goto(server_url + "/#preset=rnn-vs-lstm&fields=h,grad_h,grad_c")
    r = wait_run(page, cells=["rnn_tanh", "lstm"])
    wait_heatmaps(page)
    assert state(page)["gscale"] == "log"
    truth = post_trace(server_url, run_config(page))
    grad = field(truth, "rnn_tanh", "grad_h")  # (T, H)
    plot = heatmap(page, "rnn_tanh", "grad_h")
    values = plot["data"][0]
    assert values["meta"]["scale"] == "log"
    z = np.array([[np.nan if v is None else v for v in row] for row in values["z"]], dtype=float)  # (H, T)
    assert z.shape == (r["H"], r["T"])
    # z is log10 |grad_h| of the server's values, unit by unit and step by step
    expected = np.log10(np.abs(grad.T))
    assert np.allclose(z, expected, rtol=0, atol=1e-4), np.nanmax(np.abs(z - expected))
    # the early steps, where the gradient is a billionth of the last step's, are not one flat colour
    last = np.abs(grad[-1]).max()
    early = [t for t in range(r["T"]) if np.abs(grad[t]).max() < 1e-9 * last]
    assert len(early) >= 5, "the lesson's RNN gradient should vanish"
    column_means = [round(float(np.mean(z[:, t])), 3) for t in early]
    assert len(set(column_means)) > len(early) // 2
    # the colour scale runs from the largest magnitude down 12 to 17 decades (or to the smallest one)
    assert values["zmax"] >= np.nanmax(z) - 1e-9
    assert 12 <= values["zmax"] - values["zmin"] <= 17 or values["zmin"] <= np.nanmin(z)
    ticks = values["colorbar"]["ticktext"]
    assert ticks and all(re.fullmatch(r"≤?(1|10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", t) for t in ticks), ticks  # powers of ten
    if np.nanmin(z) < values["zmin"]:
        assert ticks[0].startswith("≤")  # what lies under the floor takes its colour, and says so
    # the hover shows the true signed value
    custom = np.array(values["customdata"], dtype=np.float64)
    assert np.allclose(custom, grad.T, rtol=1e-6, atol=0)
    assert "log" in plot["title"]
    page.locator("#heatmaps").screenshot(path=str(SCREENSHOTS / "heatmaps-gradients-log.png"))

    # the toolbar toggle: linear shows the signed values themselves, and lands in the URL
    page.click("#heatmaps .gscale-toggle")
    page.wait_for_function("() => location.hash.includes('gscale=linear')")
    assert state(page)["gscale"] == "linear"
    page.wait_for_function(
        "sel => document.querySelector(sel).data[0].meta.scale === 'linear'",
        arg=HM.format(cell="rnn_tanh", field="grad_h"),
    )
    linear = heatmap(page, "rnn_tanh", "grad_h")["data"][0]
    assert np.allclose(np.array(linear["z"], dtype=np.float64), grad.T, rtol=1e-6, atol=0)
    assert "linear" in page.locator("#heatmaps .gscale-toggle").inner_text()
    recorder.check()


def test_exact_zero_gradients_are_marked_not_hidden(page, recorder, server_url):
    """An LSTM whose output gate is clamped at 0: h_t = 0, so every gradient before the last step is
    exactly zero. Zeros have no logarithm: they are white, counted in the title, never a NaN's black."""
    page.goto(server_url + "/#cells=lstm&hidden_size=8&seq_len=20&clamp=o:0&fields=grad_h")
    wait_run(page, cells=["lstm"])
    wait_heatmaps(page)
    truth = post_trace(server_url, run_config(page))
    grad = field(truth, "lstm", "grad_h")
    zeros = int((grad == 0).sum())
    assert zeros > 0
    plot = heatmap(page, "lstm", "grad_h")
    main, marks = plot["data"][0], plot["data"][1]
    assert marks["meta"]["zeros"]
    assert all(stop[1].lower() in ("#ffffff", "#fff", "white") for stop in marks["colorscale"])
    marked = np.array([[v == 1 for v in row] for row in marks["z"]])
    assert marked.sum() == zeros and np.array_equal(marked, (grad == 0).T)
    assert all(main["z"][u][t] is None for u, t in zip(*np.nonzero((grad == 0).T), strict=True))
    assert f"exactly 0 ({zeros})" in plot["title"]
    recorder.check()


def test_nonfinite_gradients_stay_black_and_counted(page, recorder, server_url):
    page.goto(server_url + "/#preset=exploding&fields=grad_h")
    wait_run(page, cells=["rnn_tanh", "rnn_relu"])
    wait_heatmaps(page)
    truth = post_trace(server_url, run_config(page))
    grad = field(truth, "rnn_relu", "grad_h")
    bad = int((~np.isfinite(grad)).sum())
    assert bad > 0
    plot = heatmap(page, "rnn_relu", "grad_h")
    z = plot["data"][0]["z"]
    assert sum(v is None for row in z for v in row) >= bad
    assert f"NaN/inf ({bad})" in plot["title"]
    recorder.check()


# ---- 3. nothing leaves the machine ------------------------------------------------------------------


def test_no_modebar_button_or_link_leaves_the_machine(page, recorder, server_url):
    page.on("popup", recorder.attach)
    page.goto(server_url + "/#preset=rnn-vs-lstm&fields=h,c,gates,grad_h,grad_c")
    wait_run(page, cells=["rnn_tanh", "lstm"])
    wait_heatmaps(page)
    plots = page.locator(".js-plotly-plot")
    shown = [k for k in range(plots.count()) if plots.nth(k).is_visible()]
    assert page.locator("#heatmaps .js-plotly-plot").count() >= 8
    assert page.locator("#gradients .js-plotly-plot").count() >= 2
    titles = set()
    clicked = 0
    for k in shown:
        gd = plots.nth(k)
        gd.scroll_into_view_if_needed()
        gd.hover()
        buttons = gd.locator(".modebar-btn")
        for j in range(buttons.count()):
            title = buttons.nth(j).get_attribute("data-title") or buttons.nth(j).get_attribute("title") or ""
            titles.add(title)
            assert not re.search(r"share|cloud|chart studio|edit|plotly", title, re.I), title
        for j in range(buttons.count()):
            gd.hover()
            buttons.nth(j).click()
            clicked += 1
    assert clicked >= len(shown), titles
    page.wait_for_timeout(500)
    offsite = page.evaluate(
        """() => [...document.querySelectorAll('a[href]')].map(a => a.href)
              .filter(h => !/^(https?:\\/\\/127\\.0\\.0\\.1[:/]|blob:|data:)/.test(h))"""
    )
    assert offsite == [], offsite
    recorder.check()


# ---- 4. one click, one slide-ready image -------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def export(page, section: str, fmt: str) -> tuple[list, Path]:
    """Click a section's export once; every download that follows within a second and a half."""
    downloads = []

    def record(download):
        downloads.append(download)

    page.on("download", record)
    with page.expect_download(timeout=60_000) as first:
        page.click(f'{section} [data-export][data-format="{fmt}"]')
    path = Path(first.value.path())
    page.wait_for_timeout(1500)
    page.remove_listener("download", record)
    return downloads, path


def embedded_images(svg: str) -> list[str]:
    """The decoded SVG documents of the composed image's <image> elements (plots, diagrams)."""
    out = []
    for href in re.findall(r'xlink:href="(data:image/svg\+xml[^"]*)"', svg):
        head, _, body = html.unescape(href).partition(",")
        out.append(base64.b64decode(body).decode() if ";base64" in head else urllib.parse.unquote(body))
    return out


def svg_words(svg: str) -> str:
    """The composed image's own text (not its plots'), lines joined, as a reader would read it."""
    spans = re.findall(r"<tspan[^>]*>([^<]*)</tspan>", re.sub(r'xlink:href="[^"]*"', "", svg))
    return re.sub(r"\s+", " ", html.unescape(" ".join(spans)).replace("\u00a0", " "))


def border_is_white(page, png: bytes, margin: int) -> bool:
    """Decode the PNG in the browser: is a band `margin` px wide all round it plain white?"""
    return page.evaluate(
        """async ([b64, m]) => {
            const img = new Image();
            img.src = 'data:image/png;base64,' + b64;
            await img.decode();
            const c = document.createElement('canvas');
            c.width = img.width; c.height = img.height;
            const g = c.getContext('2d');
            g.drawImage(img, 0, 0);
            const [w, h] = [c.width, c.height];
            const bands = [[0, 0, w, m], [0, h - m, w, m], [0, 0, m, h], [w - m, 0, m, h]];
            return bands.every(([x, y, bw, bh]) => g.getImageData(x, y, bw, bh).data.every(v => v >= 250));
        }""",
        [base64.b64encode(png).decode(), margin],
    )


def test_heatmap_export_is_one_titled_image_with_the_cursor(page, recorder, server_url):
    page.goto(server_url + "/#preset=rnn-vs-lstm&fields=h,grad_h")
    wait_run(page, cells=["rnn_tanh", "lstm"])
    wait_t(page, 0)
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    wait_t(page, 20)
    wait_heatmaps(page)
    plots = page.locator("#heatmaps .js-plotly-plot").count()
    assert plots == 4

    downloads, path = export(page, "#heatmaps", "png")
    assert len(downloads) == 1, [d.suggested_filename for d in downloads]
    name = downloads[0].suggested_filename
    assert name.endswith(".png") and "heatmaps" in name and "t20" in name
    png = path.read_bytes()
    width, height = png_size(png)
    assert width >= 1600 and height >= 600, (width, height)
    assert border_is_white(page, png, 60)  # margins round everything (30 px at 1x)
    shutil.copy(path, SCREENSHOTS / "export-heatmaps.png")

    downloads, path = export(page, "#heatmaps", "svg")
    assert len(downloads) == 1
    svg = path.read_text()
    shutil.copy(path, SCREENSHOTS / "export-heatmaps.svg")
    text = svg_words(svg)
    for words in ("Every unit over time", "RNN (tanh)", "LSTM", "t = 20", "T = 60", "H = 32", "RNN vs LSTM"):
        assert words in text, words
    images = embedded_images(svg)
    assert len(images) == plots
    for image in images:
        # the cursor, a red line, in every plot; its type at least 16 px
        assert "rgb(208, 0, 0)" in image
        sizes = [float(s) for s in re.findall(r"font-size:\s*([\d.]+)px", image)]
        assert sizes and min(sizes) >= 16, sorted(set(sizes))
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    assert sizes and min(sizes) >= 16
    recorder.check()


def test_gradient_and_diagram_exports_carry_their_sentences(page, recorder, server_url):
    page.goto(server_url + "/#preset=rnn-vs-lstm")
    wait_run(page, cells=["rnn_tanh", "lstm"])
    wait_t(page, 0)
    page.keyboard.press("Shift+ArrowRight")
    wait_t(page, 10)
    wait_heatmaps(page)

    downloads, path = export(page, "#gradients", "svg")
    assert len(downloads) == 1
    svg = path.read_text()
    words = svg_words(svg)
    assert "Gradient flow back through time" in words and "t = 10" in words
    for li in page.locator("#gradients .decay li").all():  # the decay sentences under the plots
        assert li.inner_text().strip() in words
    assert len(embedded_images(svg)) == page.locator("#gradients .js-plotly-plot:visible").count()
    downloads, path = export(page, "#gradients", "png")
    assert len(downloads) == 1 and png_size(path.read_bytes())[0] >= 1600
    shutil.copy(path, SCREENSHOTS / "export-gradients.png")

    downloads, path = export(page, "#cells", "svg")
    assert len(downloads) == 1
    svg = path.read_text()
    words = svg_words(svg)
    assert "The cells at the cursor" in words and "t = 10" in words
    for card in page.locator(".cell-card").all():
        assert card.locator(".cell-name").inner_text() in words
        assert card.locator(".cell-words").inner_text() in words
    diagrams = embedded_images(svg)
    assert len(diagrams) == 2 and all("forget" in d or "W·[x, h]" in d for d in diagrams)
    downloads, path = export(page, "#cells", "png")
    assert len(downloads) == 1 and png_size(path.read_bytes())[0] >= 1600
    shutil.copy(path, SCREENSHOTS / "export-cells.png")
    recorder.check()


# ---- 5. the cell diagram: the reverse direction, accessible names -----------------------------------


def test_reverse_direction_diagram_says_t_plus_1_and_names_its_parts(page, recorder, server_url):
    page.goto(server_url + "/#cells=lstm,gru&bidirectional=1&hidden_size=8&seq_len=20&t=5")
    r = wait_run(page, cells=["lstm", "gru"])
    assert r["dirs"] == 2
    wait_t(page, 5)
    lstm = page.locator('.cell-card[data-cell="lstm"]')
    gru = page.locator('.cell-card[data-cell="gru"]')
    assert lstm.locator('[data-part="h_prev"] .state-name').text_content() == "ht−1"
    assert lstm.locator('[data-part="c_prev"] .state-name').text_content() == "ct−1"

    # accessible names: each gate and state, and the drawing as a whole
    forget = page.get_by_role("img", name=re.compile(r"^forget gate f: mean " + NUMBER + r" at t = 5$"))
    assert forget.count() == 1
    truth = post_trace(server_url, run_config(page))
    (f_mean,) = numbers("mean {n} at t", forget.get_attribute("aria-label"))
    assert math.isclose(f_mean, field(truth, "lstm", "f")[5].mean(), abs_tol=0.006)
    assert page.get_by_role("group", name=re.compile(r"^LSTM cell diagram at t = 5")).count() == 1
    assert page.get_by_role("img", name=re.compile(r"^update gate z: mean")).count() == 1
    for part in lstm.locator("[data-part]").all():
        assert part.get_attribute("role") == "img" and part.get_attribute("aria-label")

    # the reverse direction: the state fed in comes from t+1, and the diagram says so
    page.select_option("#layer-choice select.dir", "1")
    page.wait_for_function("() => window.gateflow.state.dir === 1")
    page.wait_for_function(
        "() => document.querySelector('.cell-card [data-part=\"h_prev\"] .state-name').textContent === 'ht+1'"
    )
    assert lstm.locator('[data-part="c_prev"] .state-name').text_content() == "ct+1"
    assert gru.locator('[data-part="h_prev"] .state-name').text_content() == "ht+1"
    label = lstm.locator('[data-part="h_prev"]').get_attribute("aria-label")
    assert "h_{t+1}" in label and "reverse" in label and label.endswith("at t = 5")
    (shown,) = numbers("mean {n}", label)
    assert math.isclose(shown, field(truth, "lstm", "h", ld=1)[6].mean(), abs_tol=0.006)
    whole = re.compile(r"^LSTM cell diagram at t = 5, layer 1, reverse direction")
    assert page.get_by_role("group", name=whole).count() == 1
    lstm.locator('[data-part="h_prev"]').hover()
    assert "t+1" in page.locator(".tooltip").inner_text()
    shot(page, "diagram-reverse-direction")
    recorder.check()


# ---- 6. a text alternative for every heatmap ------------------------------------------------------------


def test_each_heatmap_has_a_text_summary_from_the_data(page, recorder, server_url):
    page.goto(server_url + "/#preset=rnn-vs-lstm&fields=h,gates,grad_h")
    r = wait_run(page, cells=["rnn_tanh", "lstm"])
    wait_heatmaps(page)
    truth = post_trace(server_url, run_config(page))
    summary = (
        "^LSTM, forget gate f, layer 1: mean {n}, range {n} to {n}"
        + f" over {r['T']} steps and {r['H']} units"
    )
    figure = page.get_by_role("figure", name=re.compile(summary.replace("{n}", NUMBER)))
    assert figure.count() == 1
    mean, low, high = numbers(summary, figure.get_attribute("aria-label"))
    f = field(truth, "lstm", "f")
    assert math.isclose(mean, f.mean(), rel_tol=5e-3)
    assert math.isclose(low, f.min(), rel_tol=5e-3) and math.isclose(high, f.max(), rel_tol=5e-3)
    grad = field(truth, "rnn_tanh", "grad_h")
    host = page.locator(HM.format(cell="rnn_tanh", field="grad_h")).locator("xpath=..")
    label = host.get_attribute("aria-label")
    small, large = numbers("magnitude from {n} to {n}", label)
    assert math.isclose(small, np.abs(grad[grad != 0]).min(), rel_tol=5e-3)
    assert math.isclose(large, np.abs(grad).max(), rel_tol=5e-3)
    assert "log scale" in label
    hosts = page.locator("#heatmaps .hm-plot")
    assert all(hosts.nth(k).get_attribute("aria-label") for k in range(hosts.count()))
    recorder.check()
