"""How the control API bends a deployment's behaviour for tests: its clock, its fault rules
and its ids. Each deployment has one :class:`Emulation`; the application makes it the current
one for each request it serves, so :func:`now_ms` and :func:`new_id` need no argument, and two
deployments in one process (a test suite's) keep theirs apart.

What matters across processes (the clock's offset, the fault rules) is kept in the database by
the control API and copied here: at once by the process that changed it, and by every other
process within :data:`REFRESH_SECONDS`."""

from __future__ import annotations

import fnmatch
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

REFRESH_SECONDS = 0.5
# A process's own change is made before its transaction commits: for this long after it, a
# refresh (which may have read the database before the commit) does not overwrite it.
OWN_CHANGE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class FaultRule:
    """Requests matching ``method`` and ``path`` (a glob) are answered ``status``, or delayed
    ``latency_ms``, with a ``probability``, or for the next ``remaining`` of them."""

    id: str
    method: str
    path: str
    status: int | None
    latency_ms: int | None
    probability: float | None
    remaining: int | None

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


@dataclass(slots=True)
class Emulation:
    clock_offset_ms: int = 0
    faults: tuple[FaultRule, ...] = ()
    # A seeded sequence of ids (``PUT /_populace/ids``): this process's, as it serves.
    ids: random.Random | None = field(default=None)
    changed_at: float = float("-inf")  # time.monotonic() of this process's last own change

    def own_change(
        self, *, clock_offset_ms: int | None = None, faults: tuple[FaultRule, ...] | None = None
    ) -> None:
        """This process's own change (the control API's, in this process)."""
        if clock_offset_ms is not None:
            self.clock_offset_ms = clock_offset_ms
        if faults is not None:
            self.faults = faults
        self.changed_at = time.monotonic()

    def refreshed(
        self, started: float, clock_offset_ms: int, faults: tuple[FaultRule, ...]
    ) -> None:
        """What a refresh that began at ``started`` read, unless an own change is too recent
        for that read to have seen it committed."""
        if self.changed_at <= started - OWN_CHANGE_SECONDS:
            self.clock_offset_ms, self.faults = clock_offset_ms, faults


_current: ContextVar[Emulation | None] = ContextVar("populace_emulation", default=None)


@contextmanager
def current(emulation: Emulation) -> Iterator[None]:
    """Serve a request under ``emulation``."""
    token = _current.set(emulation)
    try:
        yield
    finally:
        _current.reset(token)


def now_ms() -> int:
    """Epoch milliseconds on the deployment's clock (the system's, moved by the test clock)."""
    emulation = _current.get()
    offset = 0 if emulation is None else emulation.clock_offset_ms
    return time.time_ns() // 1_000_000 + offset


def now_seconds() -> float:
    return now_ms() / 1000


def new_id() -> str:
    """A version-4 UUID: random, or the next of the seeded sequence."""
    emulation = _current.get()
    if emulation is None or emulation.ids is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=emulation.ids.getrandbits(128), version=4))
