"""The server's settings, read once from the environment (prefix ``GATEFLOW_``).

No other module reads ``os.environ``: everything configurable is a field here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEFLOW_")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # the default of RunConfig.device, reported by /healthz; "cuda" on a machine without one stops the start
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    max_hidden_size: int = Field(128, ge=1, le=4096)
    max_layers: int = Field(3, ge=1, le=8)
    max_seq_len: int = Field(500, ge=2, le=100_000)
    max_run_elements: int = Field(131072, ge=1)  # seq_len * hidden_size * num_layers * dirs
    max_message_bytes: int = Field(65536, ge=256)  # a WebSocket message (python -m app: ws_max_size)
    max_body_bytes: int = Field(4 * 2**20, ge=1024)  # an HTTP request body: 413 past it, unread
    max_upload_bytes: int = Field(16 * 2**20, ge=1024)  # a model's weights file (POST /api/weights)
    max_play_rate: float = Field(60.0, gt=0.5, le=1000.0)
    torch_threads: int = Field(1, ge=1, le=256)
    workers: int = Field(2, ge=1, le=64)  # threads that compute runs, off the event loop
    # cells of one run computed side by side while no other run is (engine.set_cell_threads); 1: never
    cell_threads: int = Field(2, ge=1, le=64)
    # configures queued or computing on the whole server (one per session at most): past it, "busy"
    max_queued_computes: int = Field(32, ge=1, le=10_000)
    # computations one client may ask for (app/ratelimit.py): a burst, then so many a second
    compute_rate: float = Field(2.0, gt=0.0, le=10_000.0)
    compute_burst: int = Field(20, ge=1, le=100_000)
    # open WebSocket sessions: in all, and per client address (the server's own machine not counted)
    max_connections: int = Field(1000, ge=1, le=1_000_000)
    max_connections_per_address: int = Field(100, ge=1, le=1_000_000)
    cache_size: int = Field(32, ge=0, le=4096)  # runs kept by config; 0 disables the cache
    # bytes every run held may take (the cache, every session's run on display, and every run being
    # computed, from the moment it is admitted): engine.reserve. 384: with the process's own ~300 MB
    # (torch, numpy) and two computes' working memory the server stays near 1 GB (bench/server.py --memory)
    memory_budget_mb: int = Field(384, ge=1, le=1_000_000)
    # Training (app/training.py): trainings running at once on the whole server, and one training's bounds
    max_trainings: int = Field(2, ge=1, le=64)
    max_train_steps: int = Field(20_000, ge=1, le=200_000)  # a training's step budget
    max_train_batch: int = Field(256, ge=1, le=4096)
    train_chunk_seconds: float = Field(0.1, gt=0.0, le=10.0)  # work between two progress messages
    # the training threads' nice value (Linux): 19, the lowest priority, lets stepping sessions go first
    train_niceness: int = Field(19, ge=0, le=19)
    # Who may open the server (app/security.py): extra Host names and WebSocket origins, comma-separated,
    # on top of loopback and the server's own address; "*" allows any. A request with another Host
    # header gets 400 (DNS rebinding); a WebSocket whose Origin is another site's gets 403.
    allowed_hosts: str = ""  # e.g. "gateflow.school.example,teacher-laptop.local"
    allowed_origins: str = ""  # e.g. "https://gateflow.school.example" (a proxy that rewrites Host)
    ws_deflate: bool = False  # WebSocket permessage-deflate (python -m app); float32 frames barely compress
    # Classroom rooms (app/rooms.py): "" keeps them in this process; redis://host:port/db shares them
    # between workers and machines through Redis pub/sub
    broker_url: str = ""
    # server processes behind one port (python -m app); more than one needs broker_url, so that a room
    # made on one process is found from the others
    processes: int = Field(1, ge=1, le=64)
    max_rooms: int = Field(100, ge=1, le=100_000)  # rooms open at once (across workers, with Redis)
    max_room_students: int = Field(1000, ge=1, le=100_000)  # students following one room
    room_idle_seconds: float = Field(4 * 3600.0, gt=0.0, le=7 * 86400.0)  # no teacher change: the room ends
    room_check_seconds: float = Field(2.0, gt=0.0, le=600.0)  # how often a worker checks its rooms are alive


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
