"""One WebSocket connection: its current run, its cursor, and the player that animates it.

Messages are handled one at a time, in order. A configure is computed off the event loop; every bad
input gets an ``error`` message and leaves the socket and the previous run as they were. The player
is a task that sends frames at start + k / rate (no drift) and is stopped by an event, never
cancelled mid-send, so frames always leave in the order of their ticks.

Train mode (app/training.py): a session has at most one job, a training or a length sweep, driven by
a task that runs it a chunk (about ``train_chunk_seconds``) at a time in the training pool and sends
what is new at most ten times a second. A chunk is never cut: pausing, a new job and the socket
closing stop the driver between chunks; an asyncio lock keeps live changes (learning rate, clip,
budget) and checkpoint reads out of a running chunk. ``ratelimit.Slots`` caps the jobs running on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial

import orjson
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import engine, ratelimit, rooms, training
from .schemas import (
    CLIENT_MESSAGE,
    CLIENT_TYPES,
    MAX_NESTING,
    Configure,
    Error,
    Pause,
    Play,
    Progress,
    Reset,
    RoomDetach,
    RoomEnd,
    RoomEnded,
    RoomFollow,
    RoomStatus,
    RoomViewMessage,
    RunConfig,
    Seek,
    State,
    Step,
    SweepStart,
    TrainOpen,
    TrainPause,
    TrainReset,
    TrainResume,
    TrainSet,
    TrainSettings,
    TrainStart,
    TrainStep,
    TrainUpdate,
    describe_errors,
    nesting,
)
from .settings import Settings

log = logging.getLogger("gateflow.session")
PROGRESS_SECONDS = 0.1  # at most ten training messages a second
_default_slots = ratelimit.Slots(2)  # sessions made without the app's (tests)
_default_computes = ratelimit.Slots(64)


def _is_configure(message: dict) -> bool:
    """A message read while a run is computed: does it supersede that run?"""
    text = message.get("text")
    if not text or '"configure"' not in text:
        return False
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return isinstance(payload, dict) and payload.get("type") == "configure"


def _deepest_field(payload: dict) -> str | None:
    """The dotted field (``config.cells``) under which a too deeply nested message nests deepest."""
    parts, item = [], payload
    while isinstance(item, dict) and item and len(parts) < 3:  # no message field is deeper
        key, item = max(item.items(), key=lambda kv: nesting(kv[1]))
        parts.append(str(key)[:64])
    return ".".join(parts) or None


def _json_kind(value) -> str:
    """What a JSON value is, in JSON's words (null, a boolean, a number, an array, an object)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array"}.get(type(value), "number")


class Session:
    def __init__(
        self,
        websocket: WebSocket,
        settings: Settings,
        executor: Executor | None = None,
        compute: Callable[..., engine.Run] | None = None,
        train_executor: Executor | None = None,
        train_slots: ratelimit.Slots | None = None,
        compute_slots: ratelimit.Slots | None = None,
        hub: rooms.Hub | None = None,
        room: tuple[str, str | None] | None = None,
        join_url: str = "",
    ):
        self.ws = websocket
        self.settings = settings
        self.executor = executor
        self.compute = compute  # None: engine.get_run, looked up at each configure
        self.run: engine.Run | None = None
        self.t = 0
        self.rate = 10.0
        self.direction = 1
        self._player: Player | None = None
        self.train_executor = train_executor
        self.train_slots = train_slots or _default_slots
        self.job: training.TrainJob | training.SweepJob | None = None
        self._jobs = 0  # jobs started by this session: each one's id
        self._driver: asyncio.Task | None = None
        self._stop_driver = False
        self._job_lock = asyncio.Lock()
        self.computes = compute_slots or _default_computes
        client = getattr(websocket, "client", None)
        self.bucket = None  # a loopback client is not rate-limited
        if not ratelimit.exempt(client.host if client else None):
            self.bucket = ratelimit.TokenBucket(settings.compute_rate, settings.compute_burst)
        self._inbox: deque[dict] = deque()  # messages read while a run was computed, not handled yet
        self._receiving: asyncio.Future | None = None  # a receive started while a run was computed
        # a classroom room (app/rooms.py): (code, teacher token or None) asked for; the membership
        self.hub, self._room_asked, self.join_url = hub, room, join_url
        self.member: rooms.Member | None = None
        self._room_task: asyncio.Task | None = None
        self._room_training = 0  # training messages this teacher put in the room since its last snapshot
        self._train_shown = False  # this socket was sent a training (its own or the teacher's)

    # -- sending ----------------------------------------------------------------------------------
    async def send_json(self, message: dict | bytes) -> None:
        await self.ws.send_text((message if isinstance(message, bytes) else orjson.dumps(message)).decode())

    async def send_error(self, code: str, message: str, field: str | None = None) -> None:
        await self.send_json(Error(code=code, message=message, field=field).model_dump())

    async def send_training(self, message: dict) -> None:
        """A ``train`` or ``sweep`` message of this session's job; a teacher's goes to the room too."""
        self._train_shown = True
        await self.send_json(message)
        if not self.teaching:
            return
        self._room_training += 1
        snapshot = None
        if message.get("reset") or message["type"] == "sweep" or message["status"] == "reset":
            snapshot = message  # it holds everything there is to know already
        elif self._room_training >= rooms.TRAIN_SNAPSHOT_EVERY and isinstance(self.job, training.TrainJob):
            snapshot = self.job.snapshot(message["status"], message.get("message"))
        if snapshot is not None:
            self._room_training = 0
        try:
            await self.hub.push_training(self.member, message, snapshot)
        except Exception:  # the broker is away: the teacher's own training goes on
            log.exception("room %s: a training message was not published", self.member.code)

    async def send_frame(self, publish: bool = True) -> None:
        await self.ws.send_bytes(self.run.frame_bytes(self.t))
        if publish and self.teaching:  # a client that moves the server's cursor (seek, step, play)
            await self.publish(self.cursor())

    async def send_state(self) -> None:
        await self.send_json(
            State(t=self.t, playing=self.playing, rate=self.rate, direction=self.direction).model_dump()
        )

    @property
    def playing(self) -> bool:
        return self._player is not None and not self._player.done()

    # -- the loop ---------------------------------------------------------------------------------
    async def serve(self) -> None:
        await self.ws.accept()
        try:
            if self._room_asked is not None and not await self.join_room(*self._room_asked):
                return
            while True:
                message = await self.next_message()
                if message["type"] == "websocket.disconnect":
                    break
                await self.handle(message)
        except (WebSocketDisconnect, OSError):
            pass  # the client went away mid-send
        finally:
            if self._receiving is not None and not self._receiving.done():
                self._receiving.cancel()
            await self.stop_player()
            await self.stop_job()
            await self.leave_room()
            self.run = self.job = None
            with contextlib.suppress(RuntimeError):  # the pool is gone when the server stops
                await asyncio.get_running_loop().run_in_executor(self.executor, engine.release_memory)

    async def next_message(self) -> dict:
        """The next message: one that came while a run was computed first, in order, then the socket's."""
        if self._inbox:
            return self._inbox.popleft()
        if self._receiving is None:
            return await self.ws.receive()
        receiving, self._receiving = self._receiving, None
        return await receiving

    async def compute_run(self, fn: Callable[..., engine.Run], *args, config) -> engine.Run | None:
        """``fn(*args, cancel=event)`` in the compute pool once the memory budget has room for a run of
        ``config`` (engine.run_admitted), while the socket is still read: a newer configure or the socket
        closing sets ``event`` and cancels it (None is returned; the messages read meanwhile are
        handled next, in order). Other messages wait for the run."""
        event = threading.Event()
        budget = self.settings.memory_budget_mb * 2**20
        future = asyncio.ensure_future(
            engine.run_admitted(config, budget, self.executor, partial(fn, *args, cancel=event))
        )
        while True:
            if self._receiving is None:
                self._receiving = asyncio.ensure_future(self.ws.receive())
            done, _ = await asyncio.wait({future, self._receiving}, return_when=asyncio.FIRST_COMPLETED)
            if future in done:
                return future.result()
            message, self._receiving = self._receiving.result(), None
            self._inbox.append(message)
            if message["type"] == "websocket.disconnect" or _is_configure(message):
                event.set()
                future.cancel()  # not started yet: never runs; running: stops at its next check
                with contextlib.suppress(engine.Cancelled, asyncio.CancelledError):
                    await future
                return None

    async def handle(self, message: dict) -> None:
        text, data = message.get("text"), message.get("bytes")
        raw = text if text is not None else data
        size = len(raw.encode() if isinstance(raw, str) else (raw or b""))
        if size > self.settings.max_message_bytes:
            return await self.send_error(
                "too_large",
                f"message of {size} bytes is over the limit of {self.settings.max_message_bytes} bytes",
            )
        if text is None:
            return await self.send_error(
                "invalid_message", "binary messages are not accepted; send JSON text"
            )
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            return await self.send_error("bad_json", f"not valid JSON: {err}")
        if not isinstance(payload, dict):
            return await self.send_error(
                "invalid_message", 'a message must be a JSON object with a "type"', "type"
            )
        if nesting(payload) > MAX_NESTING:  # before anything recurses into it (repr, validation, logging)
            field = _deepest_field(payload)
            return await self.send_error(
                "invalid_message",
                f"{field or 'message'}: nested more than {MAX_NESTING} levels deep, deeper than any message",
                field,
            )
        kind = payload.get("type")
        if not isinstance(kind, str) or kind not in CLIENT_TYPES:
            shown = repr(kind[:64]) if isinstance(kind, str) else f"a JSON {_json_kind(kind)}"
            return await self.send_error(
                "unknown_type", f"type: {shown} is not one of {', '.join(CLIENT_TYPES)}", "type"
            )
        try:
            msg = CLIENT_MESSAGE.validate_python(payload)
        except ValidationError as err:
            return await self._invalid(kind, err)
        try:
            await self.dispatch(msg)
        except (WebSocketDisconnect, OSError):
            raise
        except Exception as err:  # a bug must not take the socket down
            log.exception("handling %s failed", kind)
            await self.send_error("internal", f"{kind}: {type(err).__name__}: {err}")

    async def _invalid(self, kind: str, err: ValidationError) -> None:
        errors = err.errors(include_url=False)
        loc = errors[0]["loc"]  # (type tag, ...)
        if kind in ("configure", "train_start", "sweep_start") and len(loc) > 2 and loc[1] == "config":
            first = describe_errors(errors, strip=2)[0]
            return await self.send_error("invalid_config", first["msg"], first["field"])
        if kind in ("train_start", "sweep_start"):  # a training setting: "train.lr", "sweep.lengths"
            first = describe_errors(errors, strip=1)[0]
            return await self.send_error("invalid_config", first["msg"], first["field"])
        if kind == "train_set":  # the same settings as train_start's: "train.lr", "train.clip", "train.steps"
            errors = [{**e, "loc": ("train", *e["loc"][1:])} for e in errors]
            first = describe_errors(errors)[0]
            return await self.send_error("invalid_message", first["msg"], first["field"])
        first = describe_errors(errors, strip=1)[0]
        await self.send_error("invalid_message", first["msg"], first["field"])

    async def dispatch(self, msg) -> None:
        if isinstance(msg, ROOM_MESSAGES):
            return await self.dispatch_room(msg)
        member = self.member
        if member is not None and member.role == "student" and member.following:
            return await self.send_error(
                "room_follower",
                f"{msg.type}: you follow the teacher in room {member.code}, who controls this view; "
                "send room_detach (Explore on my own) to explore alone",
            )
        if isinstance(msg, (Configure, TrainStart, TrainOpen, SweepStart)):  # each one computes
            wait = None if self.bucket is None else self.bucket.take()
            if wait is not None:
                rate, burst = self.settings.compute_rate, self.settings.compute_burst
                return await self.send_error("rate_limited", ratelimit.message(rate, burst, wait))
        if isinstance(msg, Configure):
            return await self.configure(msg)
        if isinstance(msg, TRAIN_MESSAGES):
            return await self.dispatch_training(msg)
        if self.run is None:
            return await self.send_error("not_configured", f"{msg.type}: send a configure message first")
        if isinstance(msg, Play):
            return await self.play(msg.rate, msg.direction)
        if isinstance(msg, Pause):  # always answered with a state, playing or not
            await self.stop_player()
            return await self.send_state()
        if isinstance(msg, Seek) and msg.t > self.run.T - 1:
            return await self.send_error(
                "invalid_message", f"t: {msg.t} is outside the allowed range 0 .. {self.run.T - 1}", "t"
            )
        was_playing = await self.stop_player()
        if isinstance(msg, Step):
            self.t = min(max(self.t + msg.delta, 0), self.run.T - 1)
        elif isinstance(msg, Seek):
            self.t = msg.t
        elif isinstance(msg, Reset):
            self.t = 0
        if was_playing:
            await self.send_state()
        await self.send_frame()

    # -- configure --------------------------------------------------------------------------------
    async def configure(self, msg: Configure) -> None:
        await self.compute_and_show(msg.config, self.compute or engine.get_run, msg.config)

    async def compute_and_show(
        self, config, fn: Callable[..., engine.Run], *args, trained: engine.Trained | None = None
    ) -> None:
        """A run of ``config`` (``fn(*args)``) computed and put on display: the player stopped, then
        the memory budget, the server's compute queue, a compute a newer configure cancels, ready."""
        if await self.stop_player():
            await self.send_state()
        await self.send_json(Progress(fraction=0.0).model_dump())
        if not self.computes.take():
            return await self.send_error(
                "busy",
                f"the server is computing {self.computes.size} runs already (GATEFLOW_MAX_QUEUED_COMPUTES); "
                "try again in a few seconds",
            )
        try:
            run = await self.compute_run(fn, *args, config=config)
            if run is None:
                return None  # superseded by a newer configure, or the socket closed
        except engine.MemoryFull as err:
            return await self.send_error("busy", str(err))
        except engine.Cancelled:
            return None
        except engine.EngineError as err:
            return await self.send_error("invalid_config", str(err), err.field)
        except Exception as err:
            log.exception("compute failed")
            return await self.send_error(
                "internal", f"the run could not be computed: {type(err).__name__}: {err}"
            )
        finally:
            self.computes.give()
        await self.show(run, trained)

    async def show(self, run: engine.Run, trained: engine.Trained | None = None) -> None:
        """A new run on display: ready, the bulk block, the frame at t = 0; a teacher's, to the room
        (with the checkpoint weights it shows, when ``trained``)."""
        self.run, self.t = run, 0
        await self.send_json(run.ready_json)
        await self.ws.send_bytes(run.bulk_bytes())
        await self.send_frame(publish=False)
        if self.teaching:
            config = run.config.model_dump(mode="json")
            weights = None
            if trained is not None:
                data = await asyncio.get_running_loop().run_in_executor(self.executor, trained.to_bytes)
                weights = {**run.trained, "weights": await self.hub.put_weights(self.member, data)}
            await self.publish(
                {"config": config, "trained": weights, "run_id": run.run_id, "t": 0, "playing": False}
            )

    # -- classroom rooms (app/rooms.py) -----------------------------------------------------------------
    @property
    def teaching(self) -> bool:
        return self.member is not None and self.member.role == "teacher"

    async def join_room(self, code: str, token: str | None) -> bool:
        """Into the room asked for in the URL; an error message and a close when it cannot be."""
        if self.hub is None:
            await self.send_error("unknown_room", "room: this server has no classroom rooms", "room")
            await self.ws.close(4404)
            return False
        try:
            member, state = await self.hub.join(code, token)
        except rooms.RoomError as err:
            await self.send_error(err.code, err.message, err.field)
            await self.ws.close(err.close)
            return False
        self.member = member
        await self.send_room_status()
        if member.role == "student":
            member.offer(state)
        self._room_task = asyncio.create_task(self._follow(member))
        return True

    async def leave_room(self) -> None:
        task, self._room_task = self._room_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        member, self.member = self.member, None
        if member is not None and self.hub is not None:
            with contextlib.suppress(Exception):  # the broker may be gone
                await self.hub.leave(member)

    async def send_room_status(self) -> None:
        m = self.member
        await self.send_json(
            RoomStatus(
                room=m.code,
                role=m.role,
                following=m.following or m.role == "teacher",
                followers=m.followers if m.followers is not None else self.hub.followers(m.code),
                join_url=self.join_url,
            ).model_dump()
        )

    def cursor(self) -> dict:
        return {"t": self.t, "playing": self.playing, "direction": self.direction, "rate": self.rate}

    async def publish(self, changes: dict) -> None:
        """The teacher's new run or cursor, to every follower."""
        if await self.hub.update(self.member, changes) is None:
            self.member.end("the room has ended")

    async def dispatch_room(self, msg) -> None:
        m = self.member
        if m is None:
            return await self.send_error(
                "not_in_room", f"{msg.type}: this socket is in no room (/ws?room=CODE)"
            )
        if isinstance(msg, (RoomViewMessage, RoomEnd)) and m.role != "teacher":
            return await self.send_error(
                "not_teacher", f"{msg.type}: only the teacher controls room {m.code}; students follow"
            )
        if isinstance(msg, (RoomDetach, RoomFollow)) and m.role != "student":
            return await self.send_error("invalid_message", f"{msg.type}: the teacher always leads the room")
        if isinstance(msg, RoomViewMessage):
            if self.run is not None and msg.t > self.run.T - 1:
                return await self.send_error(
                    "invalid_message", f"t: {msg.t} is outside the allowed range 0 .. {self.run.T - 1}", "t"
                )
            await self.stop_player()  # the page plays: the server's cursor follows it
            self.t, self.direction, self.rate = msg.t, msg.direction, msg.rate
            view = msg.view.model_dump(by_alias=True, exclude_none=True)
            return await self.publish({**self.cursor(), "playing": msg.playing, "view": view})
        if isinstance(msg, RoomEnd):
            return await self.hub.end(m.code, "the teacher ended the class")
        if isinstance(msg, RoomDetach):
            m.following, m.latest, m.training = False, None, []
            return await self.send_room_status()
        try:  # RoomFollow: the room's state now, whatever was seen before
            state = await self.hub.load(m.code)
        except rooms.RoomError as err:
            return await self.send_error(err.code, err.message, err.field)
        await self.stop_player()
        await self.stop_job()
        m.following, m.seen, m.resync, m.training = True, -1, True, []  # the training log read again too
        await self.send_room_status()
        m.offer(state)

    async def _follow(self, member: rooms.Member) -> None:
        """The room's news for this socket: the teacher's training messages and latest state (a
        student's), the count (the teacher's), the end."""
        try:
            while True:
                await member.wake.wait()
                member.wake.clear()
                if member.ended is not None:
                    await self.send_json(RoomEnded(room=member.code, reason=member.ended).model_dump())
                    self.member, self._room_task = None, None
                    await self.hub.leave(member)
                    return
                if member.followers is not None and member.role == "teacher":
                    await self.send_room_status()
                    member.followers = None
                if member.role != "student" or not member.following:
                    continue
                await self.send_room_training(member)
                state, member.latest = member.latest, None
                if state is not None:
                    await self.apply_room_state(member, state)
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the client went away; serve() leaves the room

    async def apply_room_state(self, member: rooms.Member, state: dict) -> None:
        """Show the teacher's state: the run first when it is new to this socket (its config read only
        then: a state that moves the cursor costs a comparison), then the cursor."""
        run, trained = self.run, state.get("trained")
        shown = run is not None and run is member.run
        if not shown or state["config"] != member.config or trained != member.trained:
            config = RunConfig.model_validate_json(orjson.dumps(state["config"]))
            try:
                if trained is None:
                    run = await self.hub.shared_run(config.model_dump_json(), partial(self._room_run, config))
                else:
                    compute = partial(self._room_trained_run, config)
                    run = await self.hub.trained_run(member.code, config, trained["weights"], compute)
                    if run is None:
                        return  # replaced by newer weights already: their state is on its way
            except engine.MemoryFull as err:
                return await self.send_error("busy", str(err))
            except engine.EngineError as err:
                return await self.send_error("invalid_config", str(err), err.field)
            if not member.following:
                return  # detached while it was computed
            self.run, member.run, member.config, member.trained = run, run, state["config"], trained
            await self.send_json(run.ready_json)
            await self.ws.send_bytes(run.bulk_bytes())
        self.t = min(int(state.get("t", 0)), run.T - 1)
        await self.send_json({**rooms.room_message(member.code, state), "run_id": run.run_id, "t": self.t})

    async def _room_run(self, config: RunConfig, trained: engine.Trained | None = None) -> engine.Run:
        budget = self.settings.memory_budget_mb * 2**20
        return await engine.admitted_run(config, budget, self.executor, trained)

    async def _room_trained_run(self, config: RunConfig, weights: bytes) -> engine.Run:
        """The teacher's checkpoint, on this worker: its weights read, then the run as for any config."""
        loop = asyncio.get_running_loop()
        trained = await loop.run_in_executor(self.executor, engine.Trained.from_bytes, weights)
        return await self._room_run(config, trained)

    async def send_room_training(self, member: rooms.Member) -> None:
        """The teacher's training messages waiting for this student, in order; the room's training log
        instead when this socket has none of it yet, fell behind, or missed one."""
        while member.following and (member.resync or member.training):
            entries, member.training = member.training, []
            if member.resync or (entries and entries[0]["v"] > member.train_v + 1):
                member.resync = False
                snapshot, log_entries = await self.hub.load_training(member.code)
                if (snapshot is None or snapshot["message"]["type"] == "sweep") and self._train_shown:
                    await self.send_json(_reset_message(snapshot["message"]["id"] if snapshot else 0))
                base = [snapshot] if snapshot is not None else []
                member.train_v = 0
                entries = [*base, *log_entries, *entries]
            for entry in entries:
                if entry["v"] <= member.train_v:
                    continue  # in the log already
                if member.train_v and entry["v"] > member.train_v + 1:
                    member.resync = True  # one is missing: read the log again
                    break
                member.train_v = entry["v"]
                self._train_shown = True
                await self.send_json(entry["message"])

    # -- training -------------------------------------------------------------------------------
    async def dispatch_training(self, msg) -> None:
        if isinstance(msg, (TrainStart, SweepStart)):
            return await self.start_job(msg)
        job = self.job
        if isinstance(msg, TrainReset):
            await self.stop_job()
            return await self.send_training(_reset_message(self._jobs))
        if isinstance(job, training.SweepJob) and isinstance(msg, TrainPause):
            await self.stop_driver()  # the sweep's last message says "stopped"
            return None
        if not isinstance(job, training.TrainJob):
            doing = "this session's job is a length sweep" if job is not None else "there is no training"
            return await self.send_error("not_training", f"{msg.type}: {doing}; send train_start first")
        if isinstance(msg, TrainPause):
            if await self.stop_driver():
                return  # the driver's last message says "paused"
            return await self.send_training(job.delta(self._job_status(job)))
        if isinstance(msg, TrainSet):
            async with self._job_lock:  # between two chunks
                if "lr" in msg.model_fields_set and msg.lr is not None:
                    job.set_lr(msg.lr)
                if "clip" in msg.model_fields_set:
                    job.set_clip(msg.clip)
                if "steps" in msg.model_fields_set and msg.steps is not None:
                    job.set_budget(msg.steps)
            if not self.training_running:
                await self.send_training(job.delta(self._job_status(job)))
            return
        if isinstance(msg, TrainOpen):
            return await self.open_checkpoint(job, msg.step)
        if isinstance(msg, TrainResume):
            if job.step >= job.train.steps:
                return await self.send_training(
                    job.delta("done", f"the budget of {job.train.steps} steps is reached: raise it to go on")
                )
            await self.start_driver(job.train.steps)
            return None
        if isinstance(msg, TrainStep):
            most = self.settings.max_train_steps
            if job.step + msg.steps > most:
                return await self.send_error(
                    "invalid_message",
                    f"steps: {msg.steps} more would pass the training limit of {most} steps "
                    f"({job.step} done); allowed here: 0 .. {most - job.step}",
                )
            await self.start_driver(job.step + msg.steps)
            return None

    async def start_job(self, msg: TrainStart | SweepStart) -> None:
        await self.stop_job()
        self._jobs += 1
        loop = asyncio.get_running_loop()
        try:
            if isinstance(msg, SweepStart):
                make = partial(training.SweepJob, self._jobs, msg.config, msg.train, msg.sweep)
            else:
                make = partial(training.TrainJob, self._jobs, msg.config, msg.train)
            job = await loop.run_in_executor(self.train_executor, make)
        except ValueError as err:
            error = engine.engine_error(err)
            field = error.field
            if field in TrainSettings.model_fields:
                field = f"train.{field}"
            return await self.send_error("invalid_config", str(error), field)
        self.job = job
        if isinstance(job, training.SweepJob):
            if not await self.start_driver(0):
                await self.send_training(job.update("stopped"))
            return None
        if not await self.start_driver(min(msg.now or job.train.steps, job.train.steps)):
            await self.send_training(job.delta("paused"))  # the job exists: resume it when a slot is free
        return None

    async def start_driver(self, target: int) -> bool:
        """Run the job toward ``target`` (its first message carries reset: true); False when busy."""
        await self.stop_driver()
        if not self.train_slots.take():
            n = self.train_slots.size
            await self.send_error(
                "busy",
                f"the server is already running {n} training{'s' if n > 1 else ''} (its limit, "
                "GATEFLOW_MAX_TRAININGS); try again in a moment",
            )
            return False
        self._stop_driver = False
        if isinstance(self.job, training.TrainJob):
            self.job.retry = True
        self._driver = asyncio.create_task(self._drive(self.job, target))
        return True

    @property
    def training_running(self) -> bool:
        return self._driver is not None and not self._driver.done()

    async def stop_driver(self) -> bool:
        """Stop the running chunks after the current one; True if a driver was running."""
        driver, self._driver = self._driver, None
        if driver is None or driver.done():
            return False
        self._stop_driver = True
        await driver
        return True

    async def stop_job(self) -> None:
        await self.stop_driver()
        self.job = None

    def _job_status(self, job: training.TrainJob) -> str:
        if job.all_diverged:
            return "diverged"
        return "done" if job.step >= job.train.steps else "paused"

    async def _drive(self, job, target: int) -> None:
        loop = asyncio.get_running_loop()
        chunk = self.settings.train_chunk_seconds
        sweep = isinstance(job, training.SweepJob)
        last_sent = loop.time()
        try:
            while not self._stop_driver:
                finished = job.done if sweep else job.step >= target or job.all_diverged
                if finished:
                    break
                async with self._job_lock:
                    if sweep:
                        await loop.run_in_executor(self.train_executor, job.advance, chunk)
                    else:
                        await loop.run_in_executor(self.train_executor, job.advance, target, chunk)
                if loop.time() - last_sent >= PROGRESS_SECONDS:
                    last_sent = loop.time()
                    if sweep:
                        await self.send_training(job.update("running"))
                    else:
                        await self.send_training(job.delta("running", job.divergence_message()))
            if sweep:
                await self.send_training(job.update("done" if job.done else "stopped"))
            else:
                job.keep()  # where it stopped stays a checkpoint when training goes on
                await self.send_training(job.delta(self._job_status(job), job.divergence_message()))
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the client went away; serve() stops the job
        except Exception as err:
            log.exception("training failed")
            await self.send_error("internal", f"training stopped: {type(err).__name__}: {err}")
        finally:
            self.train_slots.give()

    async def open_checkpoint(self, job: training.TrainJob, step: int) -> None:
        """Every view shows the weights of the checkpoint at ``step`` (each cell's last at or before it)."""
        loop = asyncio.get_running_loop()
        async with self._job_lock:
            weights = await loop.run_in_executor(self.executor, job.weights_at, step)
        trained = engine.Trained(job.id, step, weights)
        await self.compute_and_show(job.config, engine.trained_run, job.config, trained, trained=trained)

    # -- the player -------------------------------------------------------------------------------
    async def play(self, rate: float, direction: int) -> None:
        await self.stop_player()
        self.rate, self.direction = float(rate), direction
        end = self.run.T - 1 if direction == 1 else 0
        if self.t == end:  # at the end already: start over from the other end
            self.t = self.run.T - 1 - end
            await self.send_frame()
        self._player = Player(self)
        await self.send_state()

    async def stop_player(self) -> bool:
        """Stop playing; True if it was playing (not yet stopped at an end)."""
        player, self._player = self._player, None
        if player is None:
            return False
        was_playing = not player.done()
        await player.stop()
        return was_playing


ROOM_MESSAGES = (RoomViewMessage, RoomEnd, RoomDetach, RoomFollow)
TRAIN_MESSAGES = (TrainStart, TrainPause, TrainResume, TrainStep, TrainReset, TrainSet, TrainOpen, SweepStart)


def _reset_message(job_id: int) -> dict:
    """The TrainUpdate after train_reset: nothing to show."""
    return TrainUpdate(
        id=job_id,
        status="reset",
        reset=True,
        step=0,
        budget=0,
        seconds=0.0,
        steps_per_second=None,
        config=None,
        settings=None,
        task=None,
        cells=[],
        checkpoints=[],
    ).model_dump(mode="json")


class Player:
    """Sends the session's frames at start + k / rate, k = 1, 2, ..., until an end or ``stop``.

    Stopping cancels the task only while it sleeps; a send in progress is let finish, so a frame is
    never cut and frames leave in tick order.
    """

    def __init__(self, session: Session):
        self.session = session
        self.stopped = False
        self.sleeping = False
        self.task = asyncio.create_task(self._run())

    def done(self) -> bool:
        return self.task.done()

    async def _run(self) -> None:
        s = self.session
        loop = asyncio.get_running_loop()
        start, k = loop.time(), 0
        end = s.run.T - 1 if s.direction == 1 else 0
        try:
            while s.t != end and not self.stopped:
                k += 1
                delay = start + k / s.rate - loop.time()
                if delay > 0:
                    self.sleeping = True
                    await asyncio.sleep(delay)
                    self.sleeping = False
                if self.stopped:
                    return
                s.t += s.direction
                await s.send_frame()
            await s.send_json(State(t=s.t, playing=False, rate=s.rate, direction=s.direction).model_dump())
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the client went away; the receive loop ends the session

    async def stop(self) -> None:
        self.stopped = True
        if self.sleeping:
            self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            if not self.task.cancelled():  # we ourselves are being cancelled
                raise
