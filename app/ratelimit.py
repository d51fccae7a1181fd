"""How often and how much clients may ask of the server: token buckets for computations
(GATEFLOW_COMPUTE_RATE, _BURST), open connections, and slots for the jobs running at once.

A WebSocket session has its own bucket (configure, train_start, train_open, sweep_start); POST
/api/trace has one per client address, the last ``ADDRESSES`` of them kept. A bucket holds up to
``burst`` tokens and refills at ``rate`` a second; a request takes one or is told how long to wait.
Per session rather than per address on the socket: a class behind one NAT or Docker's port mapping
shares an address, not a session. Loopback clients (the teacher's own browser and notebooks on the
machine that runs the server) are not limited.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from .share import is_loopback

ADDRESSES = 4096


def exempt(host: str | None) -> bool:
    """A loopback client: the machine the server runs on."""
    return is_loopback(host or "")


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.last = float(burst), clock()

    def take(self) -> float | None:
        """Take a token: None if there was one, else the seconds until there is."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


class AddressLimiter:
    """One bucket per client address, the least recently seen forgotten past ADDRESSES."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, address: str) -> float | None:
        if exempt(address):
            return None
        bucket = self._buckets.pop(address, None) or TokenBucket(self.rate, self.burst)
        self._buckets[address] = bucket
        while len(self._buckets) > ADDRESSES:
            self._buckets.popitem(last=False)
        return bucket.take()


def message(rate: float, burst: int, wait: float) -> str:
    return (
        f"too many computations: at most {burst} at once, then {rate:g} a second "
        f"(GATEFLOW_COMPUTE_RATE, GATEFLOW_COMPUTE_BURST); try again in {max(wait, 0.1):.1f} s"
    )


class Connections:
    """Open WebSocket sessions, in all and per client address (loopback not counted per address):
    ``admit`` says why one more is refused, or None and counts it; ``release`` when it ends."""

    def __init__(self, total: int, per_address: int):
        self.total, self.per_address = total, per_address
        self.open = 0
        self.by_address: dict[str, int] = {}

    def admit(self, address: str) -> str | None:
        if self.open >= self.total:
            return (
                f"the server has {self.open} connections, its limit (GATEFLOW_MAX_CONNECTIONS); "
                "try again later"
            )
        mine = self.by_address.get(address, 0)
        if not exempt(address) and mine >= self.per_address:
            return (
                f"{mine} connections from {address} already, the limit per address "
                "(GATEFLOW_MAX_CONNECTIONS_PER_ADDRESS); close a tab, or try again later"
            )
        self.open += 1
        self.by_address[address] = mine + 1
        return None

    def release(self, address: str) -> None:
        self.open = max(0, self.open - 1)
        left = self.by_address.get(address, 1) - 1
        if left > 0:
            self.by_address[address] = left
        else:
            self.by_address.pop(address, None)


class Slots:
    """How many jobs of a kind may run at once on the whole server (trainings: GATEFLOW_MAX_TRAININGS,
    computes: GATEFLOW_MAX_QUEUED_COMPUTES); used from the event loop only."""

    def __init__(self, size: int):
        self.size, self.used = size, 0

    def take(self) -> bool:
        if self.used >= self.size:
            return False
        self.used += 1
        return True

    def give(self) -> None:
        self.used = max(0, self.used - 1)
