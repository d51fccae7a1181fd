"""Classroom rooms: the teacher's view, followed live by every student's page (docs/protocol.md, Rooms).

A room is a record in a broker: the hash of its teacher token and its latest *state* (the teacher's run
config and run id, the cursor, playing or not, the direction, the view). The teacher's session saves
each new state and publishes it on the room's channel. Every worker that holds sockets of a room
subscribes to that channel once (``Hub``) and hands each state to its followers' mailboxes
(``Member.offer``). A mailbox holds one state, the latest: a follower whose socket is slow skips the
states in between and never slows the teacher or another student.

Brokers:
- ``MemoryBroker``: one process, nothing to install (the default).
- ``RedisBroker`` (``GATEFLOW_BROKER_URL=redis://host:port/db``): a Redis (or Valkey) server's hashes
  and pub/sub, so the teacher and the students may be on any worker or machine. A room's record
  expires after ``room_idle_seconds`` without a teacher's change; each worker sees that on its next
  check (``room_check_seconds``) and tells its sockets the room has ended.

A follower's run is computed once per worker and config (``Hub.shared_run``: one computation however
many students ask at once, then the engine's cache).

The teacher's training goes to the room too:
- A checkpoint the teacher opens is shown with its weights: the state names them (``trained.weights``,
  a digest) and the broker holds the bytes (the last ``KEEP_WEIGHTS`` per room), so every worker
  computes the students' run from the very weights the teacher's run used.
- Training messages (``train`` deltas and ``sweep`` updates) cannot skip: each is numbered (``v``),
  kept in the room's training log and published. The log is a snapshot (a message that carries the
  whole training so far) and the messages after it; a new snapshot replaces it every
  ``TRAIN_SNAPSHOT_EVERY`` messages. A student who joins, comes back, falls ``TRAIN_QUEUE`` messages
  behind or sees a gap in the numbers reads the log again; the published messages it holds after that
  go on from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from . import engine
from .schemas import RunConfig
from .settings import Settings

log = logging.getLogger("gateflow.rooms")

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0 / O, 1 / I / L: read off a projector
CODE_LENGTH = 6
KEY = "gateflow:room:"  # Redis: the room's hash; KEY + code + ":followers" the per-worker counts
ROOMS_KEY = "gateflow:rooms"  # Redis: every room's expiry time (a sorted set), for the room limit
# Redis: the room's other keys, KEY + code + suffix, that live as long as its hash: checkpoint weights (a
# hash by digest) and the training log (its numbering, its snapshot, the messages after it)
ROOM_DATA = (":weights", ":train:v", ":train:snapshot", ":train:log")
STALE_CHECKS = 3  # a worker's follower count older than this many checks is not counted (it died)
KEEP_WEIGHTS = 3  # checkpoint weights a room keeps: the state's, and two a slow worker may still read
TRAIN_SNAPSHOT_EVERY = 100  # training messages between two snapshots in a room's log
TRAIN_QUEUE = 256  # training messages a student may have waiting before it reads the log instead


class RoomError(Exception):
    """A socket or request that cannot join or use a room: ``code`` and ``field`` as in every error;
    ``close`` the WebSocket close code that follows it (4404 unknown, 4403 wrong token, 4429 full)."""

    def __init__(self, code: str, message: str, field: str, close: int):
        super().__init__(message)
        self.code, self.message, self.field, self.close = code, message, field, close


def unknown_room(message: str) -> RoomError:
    return RoomError("unknown_room", message, "room", 4404)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_code(code: str) -> str:
    """A code as typed ("abc-234", " ABC 234 ") in its canonical form; RoomError if it cannot be one."""
    canonical = "".join(ch for ch in code.upper() if ch not in " -")
    if len(canonical) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in canonical):
        shown = code[:32]
        raise unknown_room(
            f"room: {shown!r} is not a room code ({CODE_LENGTH} letters and digits, no 0, 1, I, L or O)"
        )
    return canonical


def initial_state(config: RunConfig) -> dict:
    return {
        "seq": 0,
        "config": config.model_dump(mode="json"),
        "run_id": None,
        "t": 0,
        "playing": False,
        "direction": 1,
        "rate": 10.0,
        "view": {},
    }


# -- brokers -----------------------------------------------------------------------------------------
class MemoryBroker:
    """Rooms in this process: a dict, and a queue per subscription."""

    def __init__(self):
        self._rooms: dict[str, list] = {}  # code -> [token hash, state, expires at]
        self._channels: dict[str, set[asyncio.Queue]] = {}
        self._followers: dict[str, dict[str, tuple[int, float]]] = {}
        self._weights: dict[str, dict[str, bytes]] = {}  # code -> digest -> checkpoint weights
        self._train: dict[str, dict] = {}  # code -> {"v", "snapshot", "log"}

    def _live(self, code: str) -> list | None:
        room = self._rooms.get(code)
        if room is not None and room[2] < time.monotonic():
            self._forget(code)
            return None
        return room

    def _forget(self, code: str) -> bool:
        for extra in (self._followers, self._weights, self._train):
            extra.pop(code, None)
        return self._rooms.pop(code, None) is not None

    async def create(self, code: str, hashed: str, state: dict, ttl: float) -> bool:
        if self._live(code) is not None:
            return False
        self._rooms[code] = [hashed, state, time.monotonic() + ttl]
        return True

    async def load(self, code: str) -> tuple[str, dict] | None:
        room = self._live(code)
        return None if room is None else (room[0], room[1])

    async def save(self, code: str, state: dict, ttl: float) -> bool:
        room = self._live(code)
        if room is None:
            return False
        room[1], room[2] = state, time.monotonic() + ttl
        return True

    async def delete(self, code: str) -> bool:
        return self._forget(code)

    async def count(self) -> int:
        for code in list(self._rooms):
            self._live(code)
        return len(self._rooms)

    async def publish(self, code: str, event: dict) -> None:
        for queue in self._channels.get(code, ()):
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, code: str) -> AsyncIterator[AsyncIterator[dict]]:
        queue: asyncio.Queue = asyncio.Queue()
        self._channels.setdefault(code, set()).add(queue)

        async def events() -> AsyncIterator[dict]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            subscribers = self._channels.get(code, set())
            subscribers.discard(queue)
            if not subscribers:
                self._channels.pop(code, None)

    async def report_followers(self, code: str, worker: str, n: int, fresh: float) -> int:
        counts = self._followers.setdefault(code, {})
        counts[worker] = (n, time.monotonic())
        return sum(k for k, _ in counts.values())

    async def total_followers(self, code: str, fresh: float) -> int:
        return sum(k for k, _ in self._followers.get(code, {}).values())

    async def put_weights(self, code: str, name: str, data: bytes, drop: list[str], ttl: float) -> None:
        if self._live(code) is None:
            return
        kept = self._weights.setdefault(code, {})
        kept[name] = data
        for old in drop:
            kept.pop(old, None)

    async def get_weights(self, code: str, name: str) -> bytes | None:
        return self._weights.get(code, {}).get(name) if self._live(code) is not None else None

    async def push_training(self, code: str, message: dict, snapshot: dict | None, ttl: float) -> int:
        if self._live(code) is None:
            return -1
        log = self._train.setdefault(code, {"v": 0, "snapshot": None, "log": []})
        log["v"] += 1
        entry = {"v": log["v"], "message": message}
        if snapshot is not None:
            log["snapshot"], log["log"] = {"v": log["v"], "message": snapshot}, []
        else:
            log["log"].append(entry)
        return log["v"]

    async def load_training(self, code: str) -> tuple[dict | None, list[dict]]:
        log = self._train.get(code) if self._live(code) is not None else None
        return (None, []) if log is None else (log["snapshot"], list(log["log"]))

    async def close(self) -> None:
        pass


class RedisBroker:
    """Rooms in a Redis server: a hash per room (``token``, ``state``) that expires when idle, a
    sorted set of the rooms' expiry times, a hash of per-worker follower counts, pub/sub per room."""

    def __init__(self, url: str):
        import redis.asyncio as redis  # only when a broker URL is set

        self.redis = redis.from_url(url)

    async def create(self, code: str, hashed: str, state: dict, ttl: float) -> bool:
        key = KEY + code
        if not await self.redis.hsetnx(key, "token", hashed):
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "state", orjson.dumps(state))
            pipe.pexpire(key, int(ttl * 1000))
            pipe.zadd(ROOMS_KEY, {code: time.time() + ttl})
            await pipe.execute()
        return True

    async def load(self, code: str) -> tuple[str, dict] | None:
        room = await self.redis.hgetall(KEY + code)
        if b"token" not in room or b"state" not in room:
            return None
        return room[b"token"].decode(), orjson.loads(room[b"state"])

    async def save(self, code: str, state: dict, ttl: float) -> bool:
        key = KEY + code
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.exists(key)
            pipe.hset(key, "state", orjson.dumps(state))
            pipe.pexpire(key, int(ttl * 1000))
            for suffix in ROOM_DATA:
                pipe.pexpire(key + suffix, int(ttl * 1000))  # they live as long as the room
            pipe.zadd(ROOMS_KEY, {code: time.time() + ttl})
            existed, *_ = await pipe.execute()
        if not existed:  # it had expired or ended: what was just written is not a room
            await self.delete(code)
        return bool(existed)

    async def delete(self, code: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(KEY + code)
            pipe.delete(*(KEY + code + suffix for suffix in (":followers", *ROOM_DATA)))
            pipe.zrem(ROOMS_KEY, code)
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def count(self) -> int:
        await self.redis.zremrangebyscore(ROOMS_KEY, "-inf", time.time())
        return int(await self.redis.zcard(ROOMS_KEY))

    async def publish(self, code: str, event: dict) -> None:
        await self.redis.publish(KEY + code, orjson.dumps(event))

    @contextlib.asynccontextmanager
    async def subscribe(self, code: str) -> AsyncIterator[AsyncIterator[dict]]:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(KEY + code)

        async def events() -> AsyncIterator[dict]:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield orjson.loads(message["data"])

        try:
            yield events()
        finally:
            with contextlib.suppress(Exception):  # the server may be gone
                await pubsub.aclose()

    async def report_followers(self, code: str, worker: str, n: int, fresh: float) -> int:
        key = KEY + code + ":followers"
        now = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, worker, f"{n}:{now}")
            pipe.pexpire(key, int(max(fresh, 1.0) * 1000) * 10)
            pipe.hgetall(key)
            *_, counts = await pipe.execute()
        return _fresh_total(counts, now, fresh)

    async def total_followers(self, code: str, fresh: float) -> int:
        return _fresh_total(await self.redis.hgetall(KEY + code + ":followers"), time.time(), fresh)

    async def put_weights(self, code: str, name: str, data: bytes, drop: list[str], ttl: float) -> None:
        key = KEY + code + ":weights"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, name, data)
            if drop:
                pipe.hdel(key, *drop)
            pipe.pexpire(key, int(ttl * 1000))
            await pipe.execute()

    async def get_weights(self, code: str, name: str) -> bytes | None:
        return await self.redis.hget(KEY + code + ":weights", name)

    async def push_training(self, code: str, message: dict, snapshot: dict | None, ttl: float) -> int:
        key, ms = KEY + code + ":train", int(ttl * 1000)
        v = int(await self.redis.incr(key + ":v"))  # one teacher writes: the number and its entry in turn
        async with self.redis.pipeline(transaction=True) as pipe:
            if snapshot is not None:
                pipe.set(key + ":snapshot", orjson.dumps({"v": v, "message": snapshot}), px=ms)
                pipe.delete(key + ":log")
            else:
                pipe.rpush(key + ":log", orjson.dumps({"v": v, "message": message}))
                pipe.pexpire(key + ":log", ms)
            pipe.pexpire(key + ":v", ms)
            await pipe.execute()
        return v

    async def load_training(self, code: str) -> tuple[dict | None, list[dict]]:
        key = KEY + code + ":train"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(key + ":snapshot")
            pipe.lrange(key + ":log", 0, -1)
            snapshot, log = await pipe.execute()
        return (orjson.loads(snapshot) if snapshot else None), [orjson.loads(entry) for entry in log]

    async def close(self) -> None:
        await self.redis.aclose()


def _fresh_total(counts: dict[bytes, bytes], now: float, fresh: float) -> int:
    """The sum of the per-worker counts (``n:time``) reported within ``fresh`` seconds."""
    total = 0
    for value in counts.values():
        k, at = value.decode().split(":")
        if now - float(at) <= fresh:
            total += int(k)
    return total


def make_broker(settings: Settings):
    return RedisBroker(settings.broker_url) if settings.broker_url else MemoryBroker()


# -- one socket's place in a room -----------------------------------------------------------------------
class Member:
    """A socket in a room: the teacher or a student. A student follows unless detached; new states wait
    in a one-state mailbox for the session's follower task, which applies only the latest."""

    def __init__(self, code: str, role: str):
        self.code, self.role = code, role
        self.following = role == "student"
        self.latest: dict | None = None  # the newest state not yet applied
        self.seen = -1  # the seq of the newest state offered
        self.followers: int | None = None  # the teacher's count, not yet sent
        self.ended: str | None = None  # why the room ended
        self.run: engine.Run | None = None  # a student's: the room's run it was last sent, its config
        self.config: dict | None = None  # and its weights (the state's ``trained``)
        self.trained: dict | None = None
        self.training: list[dict] = []  # a student's: training messages {"v", "message"} not yet sent
        self.train_v = 0  # the number of the last training message sent (0: none)
        self.resync = role == "student"  # read the room's training log before the next message
        self.wake = asyncio.Event()

    def offer(self, state: dict) -> None:
        if state.get("seq", 0) < self.seen:
            return  # an older state (two workers published out of order): the newer one stands
        self.seen = state.get("seq", 0)
        self.latest = state
        self.wake.set()

    def offer_training(self, entry: dict) -> None:
        """A training message, in order; too many waiting (a stalled socket): read the log instead."""
        if not self.following or self.role != "student":
            return
        self.training.append(entry)
        if len(self.training) > TRAIN_QUEUE:
            self.training.clear()
            self.resync = True
        self.wake.set()

    def count(self, n: int) -> None:
        self.followers = n
        self.wake.set()

    def end(self, reason: str) -> None:
        self.ended = reason
        self.wake.set()


class LocalRoom:
    """The sockets of one room on this worker, and the one task that reads the room's channel."""

    def __init__(self, hub: Hub, code: str):
        self.hub, self.code = hub, code
        self.members: set[Member] = set()
        self.followers = 0  # the last total over all workers
        self.task = asyncio.create_task(self._listen())
        self.subscribed = asyncio.Event()

    @property
    def students(self) -> int:
        return sum(1 for m in self.members if m.role == "student")

    async def _listen(self) -> None:
        hub = self.hub
        try:
            async with hub.broker.subscribe(self.code) as events:
                self.subscribed.set()
                checker = asyncio.create_task(self._check())
                try:
                    async for event in events:
                        self.deliver(event)
                finally:
                    checker.cancel()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("room %s: the broker's channel failed", self.code)
            self.subscribed.set()
            for member in list(self.members):
                member.end("the classroom server lost its connection to the broker; reload to join again")

    def deliver(self, event: dict) -> None:
        kind = event.get("kind")
        if kind == "state":
            for member in self.members:
                member.offer(event["state"])
        elif kind == "train":
            for member in self.members:
                member.offer_training(event["entry"])
        elif kind == "followers":
            self.followers = int(event["n"])
            for member in self.members:
                if member.role == "teacher":
                    member.count(self.followers)
        elif kind == "end":
            for member in list(self.members):
                member.end(event.get("reason") or "the teacher ended the class")

    async def _check(self) -> None:
        """Every ``room_check_seconds``: this worker's follower count, and whether the room still exists."""
        hub = self.hub
        period = hub.settings.room_check_seconds
        while True:
            await asyncio.sleep(period)
            try:
                if await hub.broker.load(self.code) is None:
                    self.deliver({"kind": "end", "reason": "the room has ended (no change for too long)"})
                    continue
                await hub.report(self)
            except Exception:
                log.exception("room %s: check failed", self.code)


class Hub:
    """This worker's rooms: creating them, sockets joining and leaving, the teacher's states going out."""

    def __init__(self, settings: Settings, broker=None):
        self.settings = settings
        self.broker = broker if broker is not None else make_broker(settings)
        self.worker = secrets.token_hex(6)
        self.local: dict[str, LocalRoom] = {}
        self._runs: dict[str, asyncio.Future] = {}  # run key -> the computation students wait for
        self._trained: dict[str, tuple[str, engine.Run]] = {}  # code -> the room's latest trained run
        self._weights_sent: dict[str, list[str]] = {}  # code -> digests this worker put, oldest first
        self._seq: dict[str, int] = {}

    def followers(self, code: str) -> int:
        """The last known number of students in room ``code`` (all workers), as this worker's sockets of
        the room heard it; 0 when it has none (``count_followers`` asks the broker)."""
        local = self.local.get(code)
        return local.followers if local is not None else 0

    async def count_followers(self, code: str) -> int:
        """The number of students in room ``code`` over all workers, whether this one has any or not."""
        local = self.local.get(code)
        if local is not None:
            return local.followers
        return await self.broker.total_followers(code, self.settings.room_check_seconds * STALE_CHECKS)

    async def close(self) -> None:
        for room in list(self.local.values()):
            room.task.cancel()
        self.local.clear()
        await self.broker.close()

    # -- rooms ----------------------------------------------------------------------------------------
    async def create(self, config: RunConfig) -> tuple[str, str]:
        """A new room showing ``config``: (code, teacher token). RoomError when the server has its most."""
        most = self.settings.max_rooms
        if await self.broker.count() >= most:
            raise RoomError(
                "rooms_full",
                f"room: the server has {most} rooms open, its limit (GATEFLOW_MAX_ROOMS); "
                "end a room or wait until one ends",
                "room",
                4429,
            )
        token = new_token()
        for _ in range(8):
            code = new_code()
            if await self.broker.create(code, token_hash(token), initial_state(config), self._ttl()):
                return code, token
        raise RuntimeError("no free room code after 8 tries")

    def _ttl(self) -> float:
        return self.settings.room_idle_seconds

    async def load(self, code: str) -> dict:
        room = await self.broker.load(normalize_code(code))
        if room is None:
            raise unknown_room(f"room: no room {code!r} is open (ended, or never made)")
        return room[1]

    async def join(self, code: str, token: str | None) -> tuple[Member, dict]:
        """A socket into room ``code``: the teacher with the right ``token``, else a student."""
        code = normalize_code(code)
        room = await self.broker.load(code)
        if room is None:
            raise unknown_room(f"room: no room {code} is open (ended, or never made)")
        hashed, state = room
        if token is not None and not secrets.compare_digest(token_hash(token), hashed):
            raise RoomError(
                "wrong_token",
                f"token: not room {code}'s teacher token (students join with the code alone)",
                "token",
                4403,
            )
        role = "teacher" if token is not None else "student"
        local = self.local.get(code)
        if role == "student":
            most = self.settings.max_room_students
            total = max(local.followers if local else 0, local.students if local else 0)
            if total >= most:
                raise RoomError(
                    "room_full",
                    f"room: {code} has {most} students, its limit (GATEFLOW_MAX_ROOM_STUDENTS)",
                    "room",
                    4429,
                )
        if local is None:
            local = self.local[code] = LocalRoom(self, code)
        member = Member(code, role)
        local.members.add(member)
        await local.subscribed.wait()
        room = await self.broker.load(code)  # again, now that no later state can be missed
        if room is None:
            await self.leave(member)
            raise unknown_room(f"room: room {code} has just ended")
        state = room[1]
        if role == "student":
            await self.report(local)
        self._seq[code] = max(self._seq.get(code, 0), state.get("seq", 0))
        return member, state

    async def leave(self, member: Member) -> None:
        local = self.local.get(member.code)
        if local is None:
            return
        local.members.discard(member)
        if not local.members:
            self.local.pop(member.code, None)
            self._trained.pop(member.code, None)
            local.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await local.task
        if member.role == "student":
            with contextlib.suppress(Exception):
                await self.report(local)

    async def report(self, local: LocalRoom) -> None:
        """This worker's student count into the broker; the new total to every teacher, if it changed."""
        fresh = self.settings.room_check_seconds * STALE_CHECKS
        total = await self.broker.report_followers(local.code, self.worker, local.students, fresh)
        if total != local.followers:
            local.followers = total
            await self.broker.publish(local.code, {"kind": "followers", "n": total})

    async def update(self, member: Member, changes: dict) -> dict | None:
        """The teacher's new state (``changes`` over the stored one), saved and published; None if the
        room has ended."""
        room = await self.broker.load(member.code)
        if room is None:
            return None
        state = {**room[1], **changes}
        seq = max(self._seq.get(member.code, 0), state.get("seq", 0)) + 1
        self._seq[member.code] = state["seq"] = seq
        if not await self.broker.save(member.code, state, self._ttl()):
            return None
        await self.broker.publish(member.code, {"kind": "state", "state": state})
        return state

    async def end(self, code: str, reason: str) -> None:
        await self.broker.delete(code)
        await self.broker.publish(code, {"kind": "end", "reason": reason})
        self._trained.pop(code, None)
        self._weights_sent.pop(code, None)

    # -- the teacher's training -------------------------------------------------------------------------
    async def put_weights(self, member: Member, data: bytes) -> str:
        """Checkpoint weights into the room; their name (a digest) for the state's ``trained.weights``."""
        name = hashlib.sha256(data).hexdigest()[:24]
        sent = [n for n in self._weights_sent.get(member.code, []) if n != name] + [name]
        drop, self._weights_sent[member.code] = sent[:-KEEP_WEIGHTS], sent[-KEEP_WEIGHTS:]
        await self.broker.put_weights(member.code, name, data, drop, self._ttl())
        return name

    async def push_training(self, member: Member, message: dict, snapshot: dict | None) -> None:
        """A training message of the teacher's, into the room's log (with ``snapshot``, the whole
        training so far, the log starts over from it) and out to the students."""
        v = await self.broker.push_training(member.code, message, snapshot, self._ttl())
        if v > 0:
            await self.broker.publish(member.code, {"kind": "train", "entry": {"v": v, "message": message}})

    async def load_training(self, code: str) -> tuple[dict | None, list[dict]]:
        return await self.broker.load_training(code)

    # -- the students' run ------------------------------------------------------------------------------
    async def shared_run(self, key: str, compute: Callable[[], Awaitable[engine.Run]]) -> engine.Run:
        """The run called ``key`` (a config, or a config and its weights), computed once on this worker
        however many followers ask at once."""
        future = self._runs.get(key)
        if future is None:
            future = self._runs[key] = asyncio.ensure_future(compute())
            future.add_done_callback(lambda _: self._runs.pop(key, None))
        return await asyncio.shield(future)

    async def trained_run(
        self, code: str, config: RunConfig, name: str, compute: Callable[[bytes], Awaitable[engine.Run]]
    ) -> engine.Run | None:
        """The room's run of ``config`` with the teacher's checkpoint weights ``name``: computed once on this
        worker (trained runs are not in the engine's cache; the room's latest is kept here). None when the
        broker no longer has the weights (a newer checkpoint replaced them: its state follows)."""
        key = config.model_dump_json() + "/weights " + name
        kept = self._trained.get(code)
        if kept is not None and kept[0] == key:
            return kept[1]

        async def load_and_compute() -> engine.Run | None:
            data = await self.broker.get_weights(code, name)
            if data is None:
                return None
            run = await compute(data)
            if code in self.local:
                self._trained[code] = (key, run)
            return run

        return await self.shared_run(key, load_and_compute)


def room_message(code: str, state: dict) -> dict[str, Any]:
    """The follower's ``room`` message (schemas.RoomState) from a stored state."""
    return {
        "type": "room",
        "room": code,
        "seq": state.get("seq", 0),
        "t": state.get("t", 0),
        "run_id": state.get("run_id"),
        "playing": bool(state.get("playing")),
        "direction": state.get("direction", 1),
        "rate": state.get("rate", 10.0),
        "view": state.get("view") or {},
    }
