"""Cooperative cancellation of a long computation, asked for from outside the engine.

    event = threading.Event()
    with cancel.scope(event):      # in the thread that computes
        net.trace(x)               # raises cancel.Cancelled at its next check once event is set

The engine checks between layers and directions of the forward sweep, the reverse sweep and the
Jacobian sweep, so a trace stops within one layer-direction's work. A thread with no scope is never
cancelled. The web app sets the event when the socket closes or a newer request supersedes this one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Cancelled(Exception):
    """Whoever asked for the computation no longer wants it."""


_local = threading.local()


@contextmanager
def scope(event: threading.Event | None) -> Iterator[None]:
    previous = getattr(_local, "event", None)
    _local.event = event
    try:
        yield
    finally:
        _local.event = previous


class Linked(threading.Event):
    """An event that also counts as set when ``parent`` is: stops one part of a computation (a helper
    thread's share) without touching the rest, and stops with all of it."""

    def __init__(self, parent: threading.Event | None):
        super().__init__()
        self.parent = parent

    def is_set(self) -> bool:
        return super().is_set() or (self.parent is not None and self.parent.is_set())


def current() -> threading.Event | None:
    """This thread's cancel event (None: never cancelled), to hand to a scope in a helper thread."""
    return getattr(_local, "event", None)


def check() -> None:
    """Raise Cancelled if this thread's computation has been cancelled."""
    event = getattr(_local, "event", None)
    if event is not None and event.is_set():
        raise Cancelled("cancelled: the result is no longer wanted")
