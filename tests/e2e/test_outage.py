"""A server outage in the middle of playback: the page tells the truth while the server is away (the
button says Play, the status says the connection is lost) and, once it is back, plays on from where
it was."""

from __future__ import annotations

import subprocess

from helpers import SCREENSHOTS, state, wait_run

from bench.common import free_port, start_server

CONFIG = "cells=rnn_tanh,lstm&task=adding&seq_len=400&hidden_size=8&rate=5"


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_playback_survives_a_server_restart(page, recorder):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(SCREENSHOTS / "outage-server.log", "w")  # noqa: SIM115 (both servers write to it)
    server = start_server(port, stdout=log)
    try:
        page.goto(f"{url}/#{CONFIG}")
        wait_run(page)
        page.click("#btn-play")
        page.wait_for_function("() => window.gateflow.playing && window.gateflow.state.t >= 3")
        stop(server)
        page.wait_for_function("() => !window.gateflow.playing")
        assert "Play" in page.inner_text("#btn-play") and "Pause" not in page.inner_text("#btn-play")
        assert "connection lost" in page.inner_text("#status")
        t_lost = state(page)["t"]
        server = start_server(port, stdout=log)
        page.wait_for_function("() => window.gateflow.playing", timeout=30_000)
        page.wait_for_function("t => window.gateflow.state.t > t", arg=t_lost, timeout=10_000)
        assert "Pause" in page.inner_text("#btn-play")
        # it played on from where it was, not from the start
        assert state(page)["t"] >= t_lost
        # the browser logs each failed reconnect attempt; anything else is a page error
        others = [e for e in recorder.errors if "WebSocket" not in e and "ERR_CONNECTION_REFUSED" not in e]
        assert not others, others
        assert not recorder.external()
    finally:
        stop(server)
        log.close()
