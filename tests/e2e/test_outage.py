"""A server outage in the middle of playback: the page holds the whole run and owns its cursor, so it
plays on while the server is away, says the connection is lost, and once the server is back computes
new settings again."""

from __future__ import annotations

from helpers import SCREENSHOTS, state, wait_run

from bench.common import free_port, start_server, stop

CONFIG = "cells=rnn_tanh,lstm&task=adding&seq_len=400&hidden_size=8&rate=5"


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
        page.wait_for_function(
            "() => document.querySelector('#status').textContent.includes('connection lost')"
        )
        t_lost = state(page)["t"]
        page.wait_for_function("t => window.gateflow.state.t > t + 2", arg=t_lost, timeout=10_000)
        assert page.evaluate("window.gateflow.playing") and "Pause" in page.inner_text("#btn-play")
        server = start_server(port, stdout=log)
        page.wait_for_function(
            "() => document.querySelector('#status').textContent.includes('H = 8')", timeout=30_000
        )
        # it played on from where it was, through the outage and the new session
        assert state(page)["t"] > t_lost
        run_id = page.evaluate("window.gateflow.run.id")
        page.evaluate("location.hash = location.hash.replace('seed=0', 'seed=1')")
        page.wait_for_function("id => window.gateflow.run.id !== id", arg=run_id, timeout=30_000)
        # the browser logs each failed reconnect attempt; anything else is a page error
        others = [e for e in recorder.errors if "WebSocket" not in e and "ERR_CONNECTION_REFUSED" not in e]
        assert not others, others
        assert not recorder.external()
    finally:
        stop(server)
        log.close()
