"""A hypothesis fuzz of WebSocket messages (issue 9): whatever a client sends, the session answers
with data or a named error, never an internal one, and keeps reading; a sentinel message after each
fuzzed one must get its own answer on the same socket."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.schemas import CLIENT_TYPES

pytestmark = pytest.mark.timeout(300)

SENTINEL = '{"type": "sentinel-after-fuzz"}'
FIELDS = ["config", "train", "sweep", "t", "delta", "rate", "direction", "steps", "step", "lr", "clip", "now"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "", "lstm", "adding", "\u0000", "é" * 50]),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
config_keys = st.sampled_from(
    ["cells", "hidden_size", "seq_len", "num_layers", "task", "clamp", "values", "text", "seed", "init"]
)
configs = st.dictionaries(config_keys, values, max_size=5)
messages = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(CLIENT_TYPES), values)},
    optional={name: (configs if name in ("config", "train", "sweep") else values) for name in FIELDS},
)
raw = st.one_of(
    messages.map(lambda m: json.dumps(m, ensure_ascii=False)),  # json: integers past 64 bits too
    st.text(max_size=60),  # not JSON, or JSON that is not an object
    st.integers(1, 2000).map(lambda depth: '{"type": ' + "[" * depth + "]" * depth + "}"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=raw)
def test_any_message_gets_an_answer_and_the_socket_lives_on(client, text):
    with client.websocket_connect("/ws") as ws:
        ws.send_text(text)
        ws.send_text(SENTINEL)
        for _ in range(10_000):  # what the fuzzed message caused (a run, training progress), then ours
            message = ws.receive()
            assert message["type"] == "websocket.send", message  # never closed on us
            if message.get("text") is None:
                continue  # a frame or a bulk block
            answer = orjson.loads(message["text"])
            if answer["type"] == "error":
                assert answer["code"] != "internal", (text, answer)
                if answer["code"] == "unknown_type" and "sentinel-after-fuzz" in answer["message"]:
                    break
        else:
            pytest.fail(f"no answer to the sentinel after {text!r}")
