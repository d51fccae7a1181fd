"""The wheel, as a user gets it: ``python -m build`` makes it, a fresh venv installs it, and
``gateflow serve`` serves the page (template, static files and Plotly from inside the wheel).

The fresh venv takes the wheel's dependencies (torch, FastAPI, ...) from this test's own environment
through a path file instead of downloading them again; the wheel itself is installed with pip, and the
checks run from an empty directory, so nothing of the repository is importable there.
"""

from __future__ import annotations

import json
import site
import subprocess
import sys
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

from bench.common import free_port, stop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("gateflow-*.whl")
    return path


@pytest.fixture(scope="module")
def fresh(wheel, tmp_path_factory) -> tuple[Path, Path]:
    """(the fresh venv's bin, an empty working directory)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    bin_dir = env_dir / "bin"
    (purelib,) = (env_dir / "lib").glob("python3*/site-packages")
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "_gateflow_test_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "--quiet", "--no-deps",
         str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    work = tmp_path_factory.mktemp("work")
    return bin_dir, work


def test_the_wheel_claims_one_top_level_name_and_carries_the_page(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("gateflow-")}
    assert tops == {"gateflow"}
    for needed in (
        "gateflow/app/main.py",
        "gateflow/models/net.py",
        "gateflow/models/cells/lstm.py",
        "gateflow/templates/index.html",
        "gateflow/static/js/main.js",
        "gateflow/static/js/views/gradients.js",
        "gateflow/static/js/views.json",
        "gateflow/static/js/widget_loader.js",
        "gateflow/templates/parts/gradients.html",
        "gateflow/static/css/gateflow.css",
        "gateflow/static/vendor/plotly-cartesian.min.js",
    ):
        assert needed in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "gateflow = gateflow.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def run(bin_dir: Path, work: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]], cwd=work, capture_output=True, text=True, timeout=120, **kw
    )


def test_the_installed_package_has_the_public_api_and_no_generic_names(fresh):
    bin_dir, work = fresh
    code = (
        "import importlib.util, gateflow, torch\n"
        "print(gateflow.__file__)\n"
        "assert importlib.util.find_spec('app') is None and importlib.util.find_spec('models') is None\n"
        "net = gateflow.build('lstm', input_size=2, hidden_size=4, seed=0)\n"
        "task = gateflow.tasks.adding(seq_len=10, seed=0)\n"
        "readout = gateflow.tasks.make_readout(net.output_size, task.output_size, seed=0)\n"
        "tr = net.trace(task.x, loss=task.loss_fn(readout, 'last'))\n"
        "assert tr.grad_h_norm.shape == (1, 10, 1)\n"
        "mine = gateflow.from_torch(torch.nn.GRU(3, 5))\n"
        "assert mine.cell == 'gru' and gateflow.Trainer and gateflow.serve\n"
        "fig = gateflow.figures.gradient_flow(tr)\n"  # the views' description, read from the wheel
        "assert fig.data[0].name == 'LSTM (h)' and fig.data[0].line.color == '#0072B2'\n"
        "w = gateflow.Widget({'cells': ['gru'], 'seq_len': 5})\n"  # the page's modules, from the wheel
        "assert 'widget.js' in w.modules and 'gateflow-widget' in w._css and w.markup['gradients']\n"
        "w.close()\n"
        "print(type(gateflow.app).__name__, gateflow.app.__name__)\n"
    )
    done = run(bin_dir, work, "python", "-c", code)
    assert done.returncode == 0, done.stderr
    path, app_line = done.stdout.split("\n")[:2]
    assert "site-packages" in path and str(ROOT) not in path
    assert app_line == "module gateflow.app"


def test_the_command_traces_and_explains_its_errors(fresh):
    bin_dir, work = fresh
    (work / "run.json").write_text(
        json.dumps({"cells": ["rnn_tanh", "gru"], "seq_len": 12, "hidden_size": 6})
    )
    done = run(bin_dir, work, "gateflow", "trace", "run.json", "-o", "out.json")
    assert done.returncode == 0, done.stderr
    body = json.loads((work / "out.json").read_text())
    assert [c["cell"] for c in body["cells"]] == ["rnn_tanh", "gru"]
    (work / "bad.json").write_text(json.dumps({"hidden_size": 0}))
    done = run(bin_dir, work, "gateflow", "trace", "bad.json", "-o", "out.csv")
    assert done.returncode == 2
    assert "hidden_size" in done.stderr and "allowed" in done.stderr
    assert "Traceback" not in done.stderr
    done = run(bin_dir, work, "gateflow", "--help")
    assert done.returncode == 0 and "serve" in done.stdout and "script" in done.stdout


def test_gateflow_serve_serves_the_page_from_the_wheel(fresh):
    bin_dir, work = fresh
    port = free_port()
    proc = subprocess.Popen(
        [str(bin_dir / "gateflow"), "serve", "--port", str(port)],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stderr.read().decode()[-2000:]) from None
                time.sleep(0.2)
        with urllib.request.urlopen(f"{base}/", timeout=10) as r:
            page = r.read().decode()
        assert "gateflow" in page.lower() and "/static/js/main.js" in page
        with urllib.request.urlopen(f"{base}/static/js/main.js", timeout=10) as r:
            assert r.status == 200 and b"import" in r.read()
        plotly = next(part.split('"')[0] for part in page.split('src="')[1:] if "plotly" in part)
        with urllib.request.urlopen(f"{base}{plotly}", timeout=10) as r:
            assert r.status == 200 and len(r.read()) > 100_000
    finally:
        stop(proc)
