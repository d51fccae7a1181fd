"""Classroom rooms under load: a teacher steps at 10 steps/s, every student's socket records when each
step arrives. Teacher-to-student latency p50 / p99 (send of ``room_view`` to receipt of ``room``, one
clock), students missing the final state, memory per follower (the workers' RSS before and after the
students join), and how long the students of a killed worker take to land on the teacher's state.

    python bench/classroom.py                      # 1 worker x 200 students, 3 workers + Redis x 600
    python bench/classroom.py --students 50 --workers 1 --steps 30   # smaller

Everything on 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import psutil
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import cpu_model, free_port, start_redis, start_server, stop

CONFIG = {"cells": ["rnn_tanh", "lstm"], "seq_len": 200, "hidden_size": 32, "task": "adding"}


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Student:
    def __init__(self, index: int, hosts: list[str], code: str):
        self.index, self.hosts, self.code = index, hosts, code
        self.host = hosts[index % len(hosts)]
        self.arrived: dict[int, float] = {}  # t -> when it arrived
        self.joined = asyncio.Event()
        self.reconnected_at: float | None = None
        self.stop = False

    async def run(self, deadline: float) -> None:
        tries = 0
        while not self.stop and time.monotonic() < deadline and tries < 20:
            tries += 1
            try:
                url = f"ws://{self.host}/ws?room={self.code}"
                async with connect(url, max_size=None, open_timeout=30) as ws:
                    while not self.stop and time.monotonic() < deadline:
                        try:
                            message = await asyncio.wait_for(ws.recv(), timeout=1.0)
                        except TimeoutError:
                            continue
                        if isinstance(message, bytes):
                            continue
                        msg = orjson.loads(message)
                        if msg["type"] == "room":
                            now = time.monotonic()
                            self.arrived.setdefault(msg["t"], now)
                            if self.reconnected_at is None and tries > 1:
                                self.reconnected_at = now
                            self.joined.set()
                    return
            except (OSError, Exception):  # the worker died: the next one (as a load balancer would)
                others = [h for h in self.hosts if h != self.host] or self.hosts
                self.host = others[self.index % len(others)]
                await asyncio.sleep(0.2)


async def wait_ready(ws) -> None:
    async with asyncio.timeout(120):
        while True:
            message = await ws.recv()
            if isinstance(message, str) and orjson.loads(message)["type"] == "ready":
                return


def rss(pids: list[int]) -> int:
    return sum(psutil.Process(pid).memory_info().rss for pid in pids)


async def lesson(hosts: list[str], procs, students_n: int, steps: int, rate: float, kill: bool) -> dict:
    request = urllib.request.Request(
        f"http://{hosts[0]}/api/rooms", json.dumps(CONFIG).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        room = json.loads(response.read())
    code, token = room["room"], room["teacher_token"]
    pids = [p.pid for p in procs]
    deadline = time.monotonic() + 300
    async with connect(f"ws://{hosts[0]}/ws?room={code}&token={token}", max_size=None) as teacher:
        await teacher.send(orjson.dumps({"type": "configure", "config": CONFIG}).decode())
        await wait_ready(teacher)
        before = rss(pids)
        students = [Student(i, hosts, code) for i in range(students_n)]
        tasks = [asyncio.create_task(s.run(deadline)) for s in students]
        started = time.monotonic()
        async with asyncio.timeout(180):
            await asyncio.gather(*(s.joined.wait() for s in students))
        join_s = time.monotonic() - started
        await asyncio.sleep(1.0)
        after = rss(pids)

        sent: dict[int, float] = {}
        killed_at = None
        victims: list[Student] = []
        start = time.monotonic()
        for k in range(1, steps + 1):
            delay = start + k / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[k] = time.monotonic()
            await teacher.send(orjson.dumps({"type": "room_view", "t": k, "view": {"unit": -1}}).decode())
            if kill and k == (2 * steps) // 3 and len(procs) > 1:
                victim = procs[-1]
                victims = [s for s in students if s.host == hosts[-1]]
                killed_at = time.monotonic()
                os.kill(victim.pid, signal.SIGKILL)
                pids = pids[:-1]
        await asyncio.sleep(2.0)
        for s in students:
            s.stop = True
        await asyncio.gather(*tasks, return_exceptions=True)

    latencies, storm = [], []  # before the kill; after it (the killed worker's students reconnecting)
    for s in students:
        for t, at in s.arrived.items():
            if t not in sent:
                continue
            if killed_at is None or sent[t] < killed_at:
                latencies.append((at - sent[t]) * 1000)
            elif s not in victims:
                storm.append((at - sent[t]) * 1000)
    missing = sum(1 for s in students if steps not in s.arrived)
    result = {
        "workers": len(hosts),
        "students": students_n,
        "steps": steps,
        "join_all_s": round(join_s, 2),
        "latency_p50_ms": round(percentile(latencies, 0.5), 1),
        "latency_p99_ms": round(percentile(latencies, 0.99), 1),
        "latency_max_ms": round(max(latencies), 1),
        "missing_final_state": missing,
        "memory_per_follower_kb": round((after - before) / students_n / 1024, 1),
    }
    if storm:
        result["after_kill_p50_ms"] = round(percentile(storm, 0.5), 1)
        result["after_kill_p99_ms"] = round(percentile(storm, 0.99), 1)
    if killed_at is not None:
        # a killed worker's student is back when a state sent after the kill reaches it
        back = []
        for s in victims:
            later = [at for t, at in s.arrived.items() if t in sent and sent[t] > killed_at]
            if later:
                back.append(min(later) - killed_at)
        result["killed_worker_students"] = len(victims)
        result["reconnected"] = len(back)
        if back:
            result["reconnect_p50_s"] = round(percentile(back, 0.5), 2)
            result["reconnect_max_s"] = round(max(back), 2)
    return result


def run(workers: int, students: int, steps: int, rate: float, kill: bool) -> dict:
    redis_proc = None
    env = {"GATEFLOW_TORCH_THREADS": "1", "GATEFLOW_MAX_ROOM_STUDENTS": "5000"}
    if workers > 1:
        redis_port = free_port()
        redis_proc = start_redis(redis_port)
        env["GATEFLOW_BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    ports = [free_port() for _ in range(workers)]
    procs = [start_server(p, env=env, stdout=subprocess.DEVNULL) for p in ports]
    try:
        return asyncio.run(lesson([f"127.0.0.1:{p}" for p in ports], procs, students, steps, rate, kill))
    finally:
        for proc in procs:
            if proc.poll() is None:
                stop(proc)
        if redis_proc is not None:
            stop(redis_proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 3])
    parser.add_argument("--students", type=int, nargs="*", default=None, help="per run (default 200, 600)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args()
    counts = args.students or [200 if w == 1 else 200 * w for w in args.workers]
    python = sys.version.split()[0]
    print(f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {python}, one torch thread per worker")
    rows = []
    for workers, students in zip(args.workers, counts, strict=False):
        result = run(workers, students, args.steps, args.rate, kill=workers > 1)
        rows.append(result)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
