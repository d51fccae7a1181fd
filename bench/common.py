"""What the benchmarks and the browser tests share: a real uvicorn on a free 127.0.0.1 port, Debian's
Chromium and its flags for this machine, the machine line, and the sections of bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
CHROMIUM = os.environ.get("GATEFLOW_CHROMIUM", "/usr/bin/chromium")
# No background networking: the machine's closed network refuses Chromium's own connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    port: int, env=None, args=(), prefix=(), stdout=None, timeout_s: float = 60
) -> subprocess.Popen:
    """``uvicorn app.main:app`` on 127.0.0.1:port (``prefix`` e.g. taskset), once /healthz answers."""
    cmd = [
        *prefix,
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        [*cmd, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
    )
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server did not start in {timeout_s:.0f} s (exit {proc.returncode})")


def stop(proc: subprocess.Popen, timeout_s: float = 10) -> None:
    """End a server started here: SIGTERM, then SIGKILL if it has not exited in ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_section(title: str, markdown: str) -> None:
    """Replace the section headed ``## {title}`` of bench/RESULTS.md with ``markdown`` (or append it)."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    heading = f"## {title}\n"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + markdown
    else:
        nxt = text.find("\n## ", start + len(heading))
        text = text[:start] + markdown + ("" if nxt < 0 else "\n" + text[nxt + 1 :])
    RESULTS.write_text(text.rstrip("\n") + "\n")


def start_redis(port: int, timeout_s: float = 20) -> subprocess.Popen:
    """Debian's ``redis-server`` on 127.0.0.1:port, nothing written to disk, once it answers PING."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: `make redis` (or apt-get install redis-server)")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"redis-server did not answer on port {port}")
