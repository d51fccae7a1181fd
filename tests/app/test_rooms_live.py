"""Rooms on real servers: two workers sharing rooms through a real ``redis-server`` (started here on a
free loopback port; ``make test`` installs it), and a student whose socket never reads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import urllib.request

import orjson
import pytest
from websockets.asyncio.client import connect

from app.schemas import BINARY_HEADER
from bench.common import free_port, start_redis, start_server, stop

SMALL = {"cells": ["gru"], "seq_len": 12, "hidden_size": 4}
BIG = {"cells": ["rnn_tanh", "lstm", "gru"], "seq_len": 500, "hidden_size": 64, "jacobian": "off"}


@contextlib.contextmanager
def servers(n: int, env: dict):
    ports = [free_port() for _ in range(n)]
    procs = []
    try:
        for port in ports:
            procs.append(start_server(port, env=env, stdout=subprocess.DEVNULL))
        yield [f"127.0.0.1:{port}" for port in ports]
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture(scope="module")
def redis_url():
    port = free_port()
    proc = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)


def create(host: str, config: dict) -> dict:
    request = urllib.request.Request(
        f"http://{host}/api/rooms", json.dumps(config).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return json.loads(response.read())


async def until(ws, kind: str, timeout: float = 30) -> list[dict]:
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                continue
            seen.append(orjson.loads(message))
            if seen[-1]["type"] == kind:
                return seen


async def until_t(ws, t: int, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = (await until(ws, "room", timeout))[-1]
            if message["t"] == t:
                return message


def test_rooms_across_two_workers_through_redis(redis_url):
    env = {"GATEFLOW_BROKER_URL": redis_url, "GATEFLOW_ROOM_CHECK_SECONDS": "0.2"}
    with servers(2, env) as (a, b):
        room = create(a, SMALL)
        code, token = room["room"], room["teacher_token"]
        assert urllib.request.urlopen(f"http://{b}/api/rooms/{code}", timeout=10).status == 200

        async def lesson():
            async with (
                connect(f"ws://{a}/ws?room={code}&token={token}") as teacher,
                connect(f"ws://{b}/ws?room={code}") as student_b,
                connect(f"ws://{a}/ws?room={code}") as student_a,
            ):
                assert (await until(teacher, "room_status"))[-1]["role"] == "teacher"
                for student in (student_a, student_b):
                    messages = await until(student, "room")
                    assert messages[0]["role"] == "student" and messages[-1]["t"] == 0
                async with asyncio.timeout(10):  # the teacher's count: students on both workers
                    while (await until(teacher, "room_status"))[-1]["followers"] != 2:
                        pass
                lstm = {**SMALL, "cells": ["lstm"]}
                await teacher.send(orjson.dumps({"type": "configure", "config": lstm}).decode())
                run_id = (await until(teacher, "ready"))[-1]["run_id"]
                for step in range(1, 6):
                    await teacher.send(
                        orjson.dumps({"type": "room_view", "t": step, "view": {"unit": step}}).decode()
                    )
                for student in (student_a, student_b):
                    state = await until_t(student, 5)
                    assert state["run_id"] == run_id and state["view"] == {"unit": 5}
                # a worker's student detaches: nothing reaches it; back: the state now
                await student_b.send(orjson.dumps({"type": "room_detach"}).decode())
                assert (await until(student_b, "room_status"))[-1]["following"] is False
                await teacher.send(orjson.dumps({"type": "room_view", "t": 8}).decode())
                await until_t(student_a, 8)
                await student_b.send(orjson.dumps({"type": "room_follow"}).decode())
                assert (await until(student_b, "room"))[-1]["t"] == 8
                # a student's control is refused on any worker
                await student_b.send(orjson.dumps({"type": "seek", "t": 1}).decode())
                assert (await until(student_b, "error"))[-1]["code"] == "room_follower"
                await teacher.send(orjson.dumps({"type": "room_end"}).decode())
                for ws in (student_a, student_b, teacher):
                    assert (await until(ws, "room_end"))[-1]["reason"] == "the teacher ended the class"
            async with connect(f"ws://{b}/ws?room={code}") as late:
                assert (await until(late, "error"))[-1]["code"] == "unknown_room"

        asyncio.run(lesson())


def followers(host: str, code: str) -> int:
    with urllib.request.urlopen(f"http://{host}/api/rooms/{code}", timeout=10) as response:
        return json.loads(response.read())["followers"]


async def messages_until(ws, done, timeout: float = 60) -> tuple[list[dict], list[bytes]]:
    texts, binaries = [], []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                binaries.append(message[BINARY_HEADER.size :])  # the header's send time differs
                continue
            texts.append(orjson.loads(message))
            if done(texts[-1]):
                return texts, binaries


def test_the_teachers_training_and_checkpoints_reach_students_on_another_worker(redis_url):
    """Through Redis: the training messages (numbered, in order) and the checkpoint weights the teacher's
    run shows, so the student's page on the other worker shows the same bytes."""
    config = {"cells": ["lstm"], "task": "adding", "seq_len": 10, "hidden_size": 5}
    train = {"batch_size": 8, "steps": 40, "probe_every": 5, "lr": 0.02}
    env = {"GATEFLOW_BROKER_URL": redis_url, "GATEFLOW_ROOM_CHECK_SECONDS": "0.2"}
    done = lambda m: m["type"] == "train" and m["status"] == "done"  # noqa: E731
    with servers(2, env) as (a, b):
        room = create(a, config)
        code, token = room["room"], room["teacher_token"]

        async def lesson():
            async with connect(f"ws://{b}/ws?room={code}", max_size=None) as student:
                await until(student, "room")
                # a worker with no socket in the room counts the students on the others (through Redis)
                async with asyncio.timeout(10):
                    while followers(a, code) != 1:
                        await asyncio.sleep(0.1)
                async with connect(f"ws://{a}/ws?room={code}&token={token}", max_size=None) as teacher:
                    await until(teacher, "room_status")
                    message = {"type": "train_start", "config": config, "train": train}
                    await teacher.send(orjson.dumps(message).decode())
                    taught = [m for m in (await messages_until(teacher, done))[0] if m["type"] == "train"]
                    seen = [m for m in (await messages_until(student, done))[0] if m["type"] == "train"]
                    assert seen == taught
                    await teacher.send(orjson.dumps({"type": "train_open", "step": 40}).decode())
                    ready = (await messages_until(teacher, lambda m: m["type"] == "ready"))[0][-1]
                    bulk = (await teacher.recv())[BINARY_HEADER.size :]
                    texts, _ = await messages_until(student, lambda m: m["type"] == "ready")
                    assert texts[-1]["trained"] == ready["trained"] and ready["trained"]["steps"] == {
                        "lstm": 40
                    }
                    assert (await student.recv())[BINARY_HEADER.size :] == bulk
            async with connect(f"ws://{b}/ws?room={code}", max_size=None) as late:
                texts, binaries = await messages_until(late, lambda m: m["type"] == "room")
                trains = [m for m in texts if m["type"] == "train"]
                assert trains[0]["reset"] and trains[-1]["step"] == 40
                assert [v for m in trains for v in m["cells"][0]["loss"]] == [
                    v for m in taught for v in m["cells"][0]["loss"]
                ]
                assert binaries[0] == bulk

        asyncio.run(lesson())


def test_a_student_who_never_reads_slows_nobody():
    """One socket stops reading while the teacher changes runs (megabytes each) and steps 200 times: the
    teacher's answers and the other student's states keep coming, and the last state reaches it."""
    with servers(1, {}) as (host,):
        room = create(host, SMALL)
        code, token = room["room"], room["teacher_token"]

        async def lesson():
            async with (
                connect(f"ws://{host}/ws?room={code}&token={token}", max_size=None) as teacher,
                connect(f"ws://{host}/ws?room={code}", max_queue=1) as stalled,
                connect(f"ws://{host}/ws?room={code}", max_size=None) as student,
            ):
                await until(teacher, "room_status")
                await until(student, "room")
                await until(stalled, "room_status")  # then it never reads again
                teacher_waits = []
                for seed in range(3):  # three big runs: the stalled socket's buffers fill
                    started = time.monotonic()
                    await teacher.send(
                        orjson.dumps({"type": "configure", "config": {**BIG, "seed": seed}}).decode()
                    )
                    run_id = (await until(teacher, "ready", 120))[-1]["run_id"]
                    teacher_waits.append(time.monotonic() - started)
                    assert (await until(student, "ready", 120))[-1]["run_id"] == run_id
                for step in range(1, 201):
                    await teacher.send(orjson.dumps({"type": "room_view", "t": step}).decode())
                    await asyncio.sleep(0.005)
                started = time.monotonic()
                final = await until_t(student, 200, timeout=10)
                assert final["run_id"] == run_id
                assert time.monotonic() - started < 5
                # the teacher still answers at once
                await teacher.send(orjson.dumps({"type": "room_view", "t": 3, "view": {"unit": 1}}).decode())
                await until_t(student, 3, timeout=5)

        asyncio.run(lesson())
