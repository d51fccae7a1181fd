"""One WebSocket connection: its current run, its cursor, and the player that animates it.

Messages are handled one at a time, in order. A configure is computed off the event loop; every bad
input gets an ``error`` message and leaves the socket and the previous run as they were. The player
is a task that sends frames at start + k / rate (no drift) and is stopped by an event, never
cancelled mid-send, so frames always leave in the order of their ticks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor

import orjson
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import engine
from .schemas import (
    CLIENT_MESSAGE,
    CLIENT_TYPES,
    Configure,
    Error,
    Pause,
    Play,
    Progress,
    Reset,
    Seek,
    State,
    Step,
    describe_errors,
)
from .settings import Settings

log = logging.getLogger("gateflow.session")


class Session:
    def __init__(
        self,
        websocket: WebSocket,
        settings: Settings,
        executor: Executor | None = None,
        compute: Callable[..., engine.Run] | None = None,
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

    # -- sending ----------------------------------------------------------------------------------
    async def send_json(self, message: dict | bytes) -> None:
        await self.ws.send_text((message if isinstance(message, bytes) else orjson.dumps(message)).decode())

    async def send_error(self, code: str, message: str, field: str | None = None) -> None:
        await self.send_json(Error(code=code, message=message, field=field).model_dump())

    async def send_frame(self) -> None:
        await self.ws.send_bytes(self.run.frame_bytes(self.t))

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
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self.handle(message)
        except (WebSocketDisconnect, OSError):
            pass  # the client went away mid-send
        finally:
            await self.stop_player()

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
        kind = payload.get("type")
        if kind not in CLIENT_TYPES:
            return await self.send_error(
                "unknown_type", f"type: {kind!r} is not one of {', '.join(CLIENT_TYPES)}", "type"
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
        if kind == "configure" and len(loc) > 2 and loc[1] == "config":
            first = describe_errors(errors, strip=2)[0]
            return await self.send_error("invalid_config", first["msg"], first["field"])
        first = describe_errors(errors, strip=1)[0]
        await self.send_error("invalid_message", first["msg"], first["field"])

    async def dispatch(self, msg) -> None:
        if isinstance(msg, Configure):
            return await self.configure(msg)
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
        if await self.stop_player():
            await self.send_state()
        await self.send_json(Progress(fraction=0.0).model_dump())
        loop = asyncio.get_running_loop()
        try:
            run = await loop.run_in_executor(self.executor, self.compute or engine.get_run, msg.config)
        except engine.EngineError as err:
            return await self.send_error("invalid_config", str(err), err.field)
        except Exception as err:
            log.exception("compute failed")
            return await self.send_error(
                "internal", f"the run could not be computed: {type(err).__name__}: {err}"
            )
        self.run, self.t = run, 0
        await self.send_json(run.ready_json)
        await self.ws.send_bytes(run.bulk_bytes())
        await self.send_frame()

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
