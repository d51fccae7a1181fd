"""Classroom rooms in one process (the in-memory broker): POST /api/rooms, the QR code, joining as the
teacher or a student, following, detaching and coming back, late joins, teacher-only control, wrong
tokens, full rooms, the end of a room (by the teacher, and idle). Through a real Redis between two
servers, and a student who never reads: tests/app/test_rooms_live.py."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET

import orjson
import pytest

from app import rooms, session
from app.schemas import BINARY_HEADER

SMALL = {"cells": ["gru"], "seq_len": 12, "hidden_size": 4}
OTHER = {"cells": ["lstm"], "seq_len": 20, "hidden_size": 3}


def make_room(client, config=SMALL) -> dict:
    response = client.post("/api/rooms", json=config)
    assert response.status_code == 201, response.text
    return response.json()


def texts_until(ws, kind: str, limit: int = 20) -> list[dict]:
    """JSON messages (binary ones skipped) up to and including the first of type ``kind``."""
    seen = []
    for _ in range(limit):
        message = ws.receive()
        if message.get("text") is None:
            continue
        seen.append(orjson.loads(message["text"]))
        if seen[-1]["type"] == kind:
            return seen
    raise AssertionError(f"no {kind} message in {seen}")


def joined(ws) -> tuple[dict, dict, dict]:
    """A student's first messages: room_status, ready, (bulk), room."""
    status = ws.receive_json()
    ready = ws.receive_json()
    bulk = ws.receive_bytes()
    room = ws.receive_json()
    assert status["type"] == "room_status" and ready["type"] == "ready" and room["type"] == "room"
    assert len(bulk) > 16
    return status, ready, room


@contextlib.contextmanager
def teacher_and_student(client, room: dict):
    """A room's teacher (``room`` from make_room) and one student, both joined, the teacher told of the
    student."""
    code, token = room["room"], room["teacher_token"]
    with client.websocket_connect(f"/ws?room={code}&token={token}") as teacher:
        teacher.receive_json()
        with client.websocket_connect(f"/ws?room={code}") as student:
            joined(student)
            teacher.receive_json()
            yield teacher, student


@contextlib.contextmanager
def hub_settings(client, **changes):
    hub = client.app.state.hub
    before = hub.settings
    hub.settings = before.model_copy(update=changes)
    try:
        yield hub
    finally:
        hub.settings = before


def test_create_room_answers_201_with_code_token_and_join_url(client):
    room = make_room(client)
    assert set(room) == {"room", "teacher_token", "join_url"}
    assert len(room["room"]) == rooms.CODE_LENGTH and set(room["room"]) <= set(rooms.CODE_ALPHABET)
    assert len(room["teacher_token"]) >= 32  # 192 random bits
    assert room["join_url"].endswith(f"/?room={room['room']}")
    assert room["teacher_token"] not in room["join_url"]
    other = make_room(client)
    assert other["room"] != room["room"] and other["teacher_token"] != room["teacher_token"]
    info = client.get(f"/api/rooms/{room['room'].lower()}").json()  # codes are typed in any case
    assert info == {
        "room": room["room"],
        "followers": 0,
        "join_url": room["join_url"],
        "qr_url": f"/api/rooms/{room['room']}/qr.svg",
    }


def test_create_room_without_a_body_uses_the_defaults(client):
    response = client.post("/api/rooms")
    assert response.status_code == 201
    with client.websocket_connect(f"/ws?room={response.json()['room']}") as student:
        _, ready, _ = joined(student)
    assert ready["config"]["cells"] == ["rnn_tanh", "lstm"]


def test_a_bad_config_is_a_422_naming_the_field(client):
    response = client.post("/api/rooms", json={"hidden_size": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "hidden_size"


def test_qr_code_is_an_svg_of_the_join_link(client):
    room = make_room(client)
    response = client.get(f"/api/rooms/{room['room']}/qr.svg")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(response.text)
    assert svg.tag.endswith("svg") and int(svg.get("width")) >= 200
    assert client.get("/api/rooms/AAAAAA/qr.svg").status_code == 404


def test_unknown_room_is_a_404_and_a_ws_error_then_close(client):
    response = client.get("/api/rooms/ZZZZZZ")
    assert response.status_code == 404 and response.json()["detail"][0]["field"] == "room"
    assert client.get("/api/rooms/not-a-code").status_code == 404
    with client.websocket_connect("/ws?room=ZZZZZZ") as ws:
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == "unknown_room" and error["field"] == "room"
        message = ws.receive()
        assert message["type"] == "websocket.close" and message["code"] == 4404


def test_wrong_token_is_refused(client):
    room = make_room(client)
    with client.websocket_connect(f"/ws?room={room['room']}&token=guess") as ws:
        error = ws.receive_json()
        assert error["code"] == "wrong_token" and error["field"] == "token"
        assert ws.receive()["code"] == 4403


def test_student_follows_teacher_run_cursor_and_view(client):
    room = make_room(client)
    code, token = room["room"], room["teacher_token"]
    with client.websocket_connect(f"/ws?room={code}&token={token}") as teacher:
        status = teacher.receive_json()
        assert status == {
            "type": "room_status",
            "room": code,
            "role": "teacher",
            "following": True,
            "followers": 0,
            "join_url": status["join_url"],
        }
        with client.websocket_connect(f"/ws?room={code}") as student:
            status, ready, state = joined(student)
            assert status["role"] == "student" and status["following"] and status["followers"] == 1
            assert ready["config"]["cells"] == ["gru"] and state["run_id"] == ready["run_id"]
            assert state["t"] == 0 and state["playing"] is False and state["direction"] == 1
            assert teacher.receive_json()["followers"] == 1  # the teacher sees the student arrive

            teacher.send_json({"type": "configure", "config": OTHER})
            teacher_ready = texts_until(teacher, "ready")[-1]
            ready = texts_until(student, "ready")[-1]
            assert ready["run_id"] == teacher_ready["run_id"] and ready["config"]["cells"] == ["lstm"]
            assert student.receive_bytes()
            state = student.receive_json()
            assert state["type"] == "room" and state["run_id"] == ready["run_id"] and state["t"] == 0

            view = {"sel": 0, "layer": -1, "dir": 0, "unit": 2, "pass": "backward", "fields": ["h", "grad_h"]}
            teacher.send_json(
                {"type": "room_view", "t": 7, "playing": True, "direction": -1, "rate": 5, "view": view}
            )
            state = student.receive_json()
            assert state["t"] == 7 and state["playing"] is True and state["direction"] == -1
            assert state["rate"] == 5 and state["view"] == view and state["run_id"] == ready["run_id"]

            # the teacher's server-side cursor (a client that steps the server's player) goes out too
            teacher.send_json({"type": "seek", "t": 3})
            assert teacher.receive_bytes()
            assert student.receive_json()["t"] == 3


def test_room_view_is_validated_and_bounded_by_the_run(client):
    room = make_room(client)
    with client.websocket_connect(f"/ws?room={room['room']}&token={room['teacher_token']}") as teacher:
        teacher.receive_json()
        teacher.send_json({"type": "configure", "config": SMALL})
        texts_until(teacher, "ready")
        teacher.send_json({"type": "room_view", "t": 12})
        error = texts_until(teacher, "error")[-1]
        assert error["field"] == "t" and "0 .. 11" in error["message"]
        teacher.send_json({"type": "room_view", "t": 1, "view": {"unit": 99999}})
        error = texts_until(teacher, "error")[-1]
        assert error["code"] == "invalid_message" and error["field"] == "view.unit"


def test_the_side_panels_settings_follow_the_teacher(client):
    """The highway's and the attention's settings travel in the room's view, checked as their own
    requests are: a follower's panels show what the projector shows."""
    room = make_room(client)
    code, token = room["room"], room["teacher_token"]
    with client.websocket_connect(f"/ws?room={code}&token={token}") as teacher:
        teacher.receive_json()
        teacher.send_json({"type": "configure", "config": SMALL})
        texts_until(teacher, "ready")
        with client.websocket_connect(f"/ws?room={code}") as student:
            joined(student)
            attention = client.get("/api/attention/lessons").json()[0]["config"] | {"seed": 4}
            highway = client.get("/api/highway/lessons").json()[0]["config"] | {"layers": 12}
            teacher.send_json(
                {"type": "room_view", "t": 1, "view": {"attention": attention, "highway": highway}}
            )
            state = texts_until(student, "room")[-1]
            assert state["view"] == {"attention": attention, "highway": highway}
            teacher.send_json(
                {"type": "room_view", "t": 1, "view": {"attention": attention | {"length": 999}}}
            )
            error = texts_until(teacher, "error")[-1]
            assert error["code"] == "invalid_message" and error["field"] == "view.attention.length"
            assert "256" in error["message"]


def test_only_the_teacher_controls_the_room(client):
    room = make_room(client)
    code = room["room"]
    with client.websocket_connect(f"/ws?room={code}") as student:
        joined(student)
        for message in (
            {"type": "configure", "config": OTHER},
            {"type": "seek", "t": 3},
            {"type": "play"},
            {"type": "train_start", "config": OTHER},
        ):
            student.send_json(message)
            error = student.receive_json()
            assert error["code"] == "room_follower" and code in error["message"], error
        for message in ({"type": "room_view", "t": 1}, {"type": "room_end"}):
            student.send_json(message)
            assert student.receive_json()["code"] == "not_teacher"
    with client.websocket_connect("/ws") as alone:  # no room at all
        alone.send_json({"type": "room_detach"})
        assert alone.receive_json()["code"] == "not_in_room"
    # the room is as the teacher left it
    with client.websocket_connect(f"/ws?room={code}") as student:
        _, ready, state = joined(student)
        assert ready["config"]["cells"] == ["gru"] and state["t"] == 0


def test_detach_explore_alone_and_come_back(client):
    room = make_room(client)
    code = room["room"]
    with teacher_and_student(client, room) as (teacher, student):
        student.send_json({"type": "room_detach"})
        assert student.receive_json() == {**texts_status(code), "following": False}
        student.send_json({"type": "configure", "config": OTHER})  # exploring: allowed, alone
        mine = texts_until(student, "ready")[-1]
        assert mine["config"]["cells"] == ["lstm"]
        teacher.send_json({"type": "room_view", "t": 9, "view": {"unit": 1}})  # not delivered while away
        teacher.send_json({"type": "room_view", "t": 10, "view": {"unit": 1}})
        student.send_json({"type": "room_follow"})
        messages = texts_until(student, "room")
        assert messages[0] == {**texts_status(code), "following": True}
        ready = [m for m in messages if m["type"] == "ready"]
        assert ready and ready[-1]["config"]["cells"] == ["gru"]  # the teacher's run again
        assert messages[-1]["t"] == 10 and messages[-1]["view"] == {"unit": 1}


def texts_status(code: str) -> dict:
    return {
        "type": "room_status",
        "room": code,
        "role": "student",
        "following": True,
        "followers": 1,
        "join_url": f"http://testserver/?room={code}",
    }


def test_late_join_and_reload_land_on_the_current_state(client):
    room = make_room(client)
    code, token = room["room"], room["teacher_token"]
    with client.websocket_connect(f"/ws?room={code}&token={token}") as teacher:
        teacher.receive_json()
        teacher.send_json({"type": "configure", "config": OTHER})
        texts_until(teacher, "ready")
        teacher.send_json({"type": "room_view", "t": 15, "playing": True, "view": {"sel": 0}})
        for _ in range(2):  # a late join, then the same student reloading
            with client.websocket_connect(f"/ws?room={code}") as student:
                _, ready, state = joined(student)
                assert ready["config"]["cells"] == ["lstm"]
                assert (state["t"], state["playing"], state["view"]) == (15, True, {"sel": 0})
    # the teacher reloads too: the room and its state are still there
    with client.websocket_connect(f"/ws?room={code}&token={token}") as teacher:
        assert teacher.receive_json()["role"] == "teacher"


def test_a_full_room_refuses_the_next_student(client):
    room = make_room(client)
    code = room["room"]
    with hub_settings(client, max_room_students=2):
        with (
            client.websocket_connect(f"/ws?room={code}") as a,
            client.websocket_connect(f"/ws?room={code}") as b,
        ):
            joined(a)
            joined(b)
            with client.websocket_connect(f"/ws?room={code}") as c:
                error = c.receive_json()
                assert error["code"] == "room_full" and "2 students" in error["message"]
                assert c.receive()["code"] == 4429
        with client.websocket_connect(f"/ws?room={code}") as d:  # two left: room again
            joined(d)


def test_the_room_limit_is_a_503(client):
    with hub_settings(client, max_rooms=1):
        response = client.post("/api/rooms", json=SMALL)
    assert response.status_code == 503
    assert response.json()["detail"][0]["type"] == "rooms_full" and "Retry-After" in response.headers


def test_teacher_ends_the_room_students_keep_their_view(client):
    room = make_room(client)
    code = room["room"]
    with teacher_and_student(client, room) as (teacher, student):
        teacher.send_json({"type": "room_end"})
        end = student.receive_json()
        assert end == {"type": "room_end", "room": code, "reason": "the teacher ended the class"}
        assert texts_until(teacher, "room_end")[-1]["room"] == code
        student.send_json({"type": "seek", "t": 2})  # alone now: its own controls work
        assert student.receive_bytes()
    assert client.get(f"/api/rooms/{code}").status_code == 404
    with client.websocket_connect(f"/ws?room={code}") as late:
        assert late.receive_json()["code"] == "unknown_room"


def test_an_idle_room_ends_by_itself(client):
    with hub_settings(client, room_idle_seconds=0.3, room_check_seconds=0.1):
        room = make_room(client)
        code = room["room"]
        with client.websocket_connect(f"/ws?room={code}") as student:
            joined(student)
            end = student.receive_json()  # no teacher change for 0.3 s
            assert end["type"] == "room_end" and "no change" in end["reason"]
    assert client.get(f"/api/rooms/{code}").status_code == 404


@pytest.mark.parametrize("typed", ["abc-234", " ABC234 "])
def test_codes_are_read_as_typed(typed):
    assert rooms.normalize_code(typed) == "ABC234"


def test_codes_that_cannot_be_codes_are_refused():
    for typed in ("ABC23", "ABC2345", "ABCO23", "ABC1!3"):
        with pytest.raises(rooms.RoomError) as err:
            rooms.normalize_code(typed)
        assert err.value.code == "unknown_room" and err.value.field == "room"


# ---- the teacher's training ---------------------------------------------------------------------------
TRAIN_CONFIG = {"cells": ["rnn_tanh", "gru"], "task": "adding", "seq_len": 10, "hidden_size": 5}
TRAIN = {"batch_size": 8, "steps": 30, "probe_every": 5, "lr": 0.02}


def binary_body(data: bytes) -> bytes:
    """A binary message without its header (whose send time differs between two sockets)."""
    return data[BINARY_HEADER.size :]


def messages_until(ws, done) -> tuple[list[dict], list[bytes]]:
    """Text and binary messages up to and including the first text message for which ``done`` holds."""
    texts, binaries = [], []
    for _ in range(500):
        message = ws.receive()
        if message.get("text") is None:
            binaries.append(message["bytes"])
            continue
        texts.append(orjson.loads(message["text"]))
        if done(texts[-1]):
            return texts, binaries
    raise AssertionError(f"not done after {texts[-3:]}")


def train_done(msg: dict) -> bool:
    return msg["type"] == "train" and msg["status"] == "done"


def history(messages: list[dict], i: int, key: str) -> list:
    """Cell ``i``'s ``key`` over a training's messages, from its last reset on."""
    start = max(k for k, m in enumerate(messages) if m.get("reset"))
    return [v for m in messages[start:] for v in m["cells"][i][key]]


@pytest.mark.parametrize("snapshot_every", [rooms.TRAIN_SNAPSHOT_EVERY, 1])
def test_students_see_the_teachers_training_and_its_checkpoint_weights(client, monkeypatch, snapshot_every):
    """Every training message the teacher gets, a following student gets too, in order; a student who
    joins later gets the same training from the room's log (a snapshot and the messages after it); a
    checkpoint the teacher opens shows the very same numbers on the students' pages, weights and all."""
    monkeypatch.setattr(rooms, "TRAIN_SNAPSHOT_EVERY", snapshot_every)
    # a message for every step, however fast the machine: 30 steps can take under one message's 0.1 s
    monkeypatch.setattr(session, "PROGRESS_SECONDS", 0.0)
    state = client.app.state  # a starlette State, which monkeypatch cannot restore
    settings = state.settings
    state.settings = settings.model_copy(update={"train_chunk_seconds": 1e-6})
    try:
        _teacher_trains_a_room(client, snapshot_every)
    finally:
        state.settings = settings


def _teacher_trains_a_room(client, snapshot_every):
    room = make_room(client, TRAIN_CONFIG)
    with teacher_and_student(client, room) as (teacher, student):
        teacher.send_json({"type": "train_start", "config": TRAIN_CONFIG, "train": TRAIN})
        taught = [m for m in messages_until(teacher, train_done)[0] if m["type"] == "train"]
        seen = [m for m in messages_until(student, train_done)[0] if m["type"] == "train"]
        assert seen == taught and len(taught) >= 2 and taught[0]["reset"]
        log = client.app.state.hub.broker._train[room["room"]]  # the room's training log
        assert log["snapshot"]["v"] == (len(taught) if snapshot_every == 1 else 1)
        assert len(log["log"]) == (0 if snapshot_every == 1 else len(taught) - 1)

        teacher.send_json({"type": "train_open", "step": 20})
        texts, binaries = messages_until(teacher, lambda m: m["type"] == "ready")
        ready = texts[-1]
        assert ready["trained"]["train_id"] == 1 and ready["trained"]["step"] == 20
        teacher_bulk = binary_body(teacher.receive_bytes())
        texts, _ = messages_until(student, lambda m: m["type"] == "ready")
        assert texts[-1]["trained"] == ready["trained"] and texts[-1]["run_id"] == ready["run_id"]
        assert binary_body(student.receive_bytes()) == teacher_bulk  # every number, from the same weights
        assert student.receive_json()["run_id"] == ready["run_id"]

        with client.websocket_connect(f"/ws?room={room['room']}") as late:
            texts, binaries = messages_until(late, lambda m: m["type"] == "room")
            trains = [m for m in texts if m["type"] == "train"]
            assert trains[0]["reset"] and not any(m["reset"] for m in trains[1:])
            last = taught[-1]
            assert [trains[-1][k] for k in ("status", "step", "checkpoints", "settings", "task")] == [
                last[k] for k in ("status", "step", "checkpoints", "settings", "task")
            ]
            for i in range(2):
                for key in ("steps", "loss", "grad_norm", "val_loss"):
                    assert history(trains, i, key) == history(taught, i, key)
                assert [p["step"] for p in history(trains, i, "probes")] == list(range(0, 31, 5))
            late_ready = next(m for m in texts if m["type"] == "ready")
            assert late_ready["trained"] == ready["trained"]
            assert binary_body(binaries[0]) == teacher_bulk


def test_a_student_back_from_exploring_gets_the_teachers_training_not_its_own(client):
    room = make_room(client, TRAIN_CONFIG)
    with teacher_and_student(client, room) as (teacher, student):
        teacher.send_json({"type": "train_start", "config": TRAIN_CONFIG, "train": {**TRAIN, "steps": 10}})
        taught = [m for m in messages_until(teacher, train_done)[0] if m["type"] == "train"]
        messages_until(student, train_done)
        student.send_json({"type": "room_detach"})
        messages_until(student, lambda m: m["type"] == "room_status")
        student.send_json({"type": "train_start", "config": TRAIN_CONFIG, "train": {**TRAIN, "steps": 5}})
        mine = messages_until(student, train_done)[0]
        assert mine[-1]["step"] == 5
        student.send_json({"type": "room_follow"})
        texts, _ = messages_until(student, lambda m: m["type"] == "room")
        trains = [m for m in texts if m["type"] == "train"]
        assert trains[0]["reset"] and trains[-1]["step"] == 10  # the teacher's, from its first step
        assert history(trains, 1, "loss") == history(taught, 1, "loss")
        # the teacher resets the training: the students' panels empty
        teacher.send_json({"type": "train_reset"})
        assert messages_until(student, lambda m: m["type"] == "train")[0][-1]["status"] == "reset"


def test_a_following_student_cannot_train(client):
    room = make_room(client, TRAIN_CONFIG)
    with teacher_and_student(client, room) as (_, student):
        student.send_json({"type": "train_start", "config": TRAIN_CONFIG, "train": TRAIN})
        error = student.receive_json()
        assert error["type"] == "error" and error["code"] == "room_follower"


def test_several_processes_without_a_broker_are_refused(monkeypatch):
    """`python -m app` with GATEFLOW_PROCESSES > 1 and no broker would split the rooms between processes."""
    import app.__main__ as entry
    from app.settings import Settings

    monkeypatch.setattr(entry, "get_settings", lambda: Settings(processes=3, broker_url=""))
    monkeypatch.setattr(entry.uvicorn, "run", lambda *a, **k: pytest.fail("started without a broker"))
    with pytest.raises(SystemExit, match="GATEFLOW_PROCESSES=3 needs GATEFLOW_BROKER_URL"):
        entry.main()
    started = {}
    monkeypatch.setattr(entry, "get_settings", lambda: Settings(processes=3, broker_url="redis://r:6379/0"))
    monkeypatch.setattr(entry.uvicorn, "run", lambda *a, **k: started.update(k))
    entry.main()
    assert started["workers"] == 3
