"""Rules for what the control API changes about how populace behaves, rather than what it
holds: the test clock, fault rules and a seeded id sequence. The clock and the rules are kept
in the database (every process applies them) and copied into the deployment's
:class:`~populace.emulation.Emulation`: at once by the process that changed them, and by every
other one within ``REFRESH_SECONDS`` (:func:`refresh`)."""

from __future__ import annotations

import random
import time
from typing import Any

from populace.control import store
from populace.control.wire import FaultRuleBody
from populace.emulation import Emulation, FaultRule
from populace.errors import found, invalid_data
from populace.storage import settings
from populace.storage.database import Connection
from populace.wire import new_id, now_ms

METHODS = ("*", "GET", "POST", "PUT", "PATCH", "DELETE")
STATUSES = (429, 500, 503)
MAX_LATENCY_MS = 30_000
# Ten years either way: far enough for any expiry, near enough to stay a valid date.
MAX_CLOCK_SECONDS = 10 * 366 * 86_400


def _rule(row: Any) -> FaultRule:
    return FaultRule(
        row.id, row.method, row.path, row.status, row.latency_ms, row.probability, row.remaining
    )


async def refresh(conn: Connection, emulation: Emulation) -> None:
    """Copy the database's clock and fault rules into this process's emulation."""
    started = time.monotonic()
    offset = await settings.clock_offset_ms(conn)
    emulation.refreshed(started, offset, tuple(_rule(row) for row in await store.faults(conn)))


def _bad(target: str, message: str) -> Exception:
    return invalid_data("INVALID_VALUE", target, message)


async def advance_clock(conn: Connection, emulation: Emulation, seconds: int) -> int:
    """Move the clock ``seconds`` ahead (back, when negative); the new offset in ms."""
    offset = await settings.clock_offset_ms(conn) + seconds * 1000
    if abs(offset) > MAX_CLOCK_SECONDS * 1000:
        raise _bad("advanceSeconds", "The clock may move at most ten years from the real time.")
    await settings.set_clock_offset_ms(conn, offset)
    emulation.own_change(clock_offset_ms=offset)
    return offset


async def reset_clock(conn: Connection, emulation: Emulation) -> None:
    await settings.set_clock_offset_ms(conn, 0)
    emulation.own_change(clock_offset_ms=0)


def _checked(body: FaultRuleBody) -> dict[str, Any]:
    if body.method not in METHODS:
        raise _bad("method", f"'method' is one of {', '.join(METHODS)}.")
    if not body.path.startswith("/") or len(body.path) > 1024:
        raise _bad("path", "'path' is a pattern of a path, starting with '/'.")
    if body.path.startswith("/_populace"):
        raise _bad("path", "The control API itself cannot be given faults.")
    if (body.status is None) == (body.latency_ms is None):
        raise _bad("status", "A rule answers a 'status' or adds 'latencyMs', one of the two.")
    if body.status is not None and body.status not in STATUSES:
        raise _bad("status", "'status' is 429, 500 or 503.")
    if body.latency_ms is not None and not 1 <= body.latency_ms <= MAX_LATENCY_MS:
        raise _bad("latencyMs", f"'latencyMs' is 1 to {MAX_LATENCY_MS}.")
    if body.probability is not None and body.count is not None:
        raise _bad("count", "A rule applies with a 'probability' or a 'count', not both.")
    if body.probability is not None and not 0 < body.probability <= 1:
        raise _bad("probability", "'probability' is more than 0 and at most 1.")
    if body.count is not None and body.count < 1:
        raise _bad("count", "'count' is at least 1.")
    return {
        "method": body.method,
        "path": body.path,
        "status": body.status,
        "latency_ms": body.latency_ms,
        "probability": body.probability,
        "remaining": body.count,
    }


async def add_fault(conn: Connection, emulation: Emulation, body: FaultRuleBody) -> Any:
    row = await store.insert_fault(conn, {**_checked(body), "id": new_id(), "created_at": now_ms()})
    emulation.own_change(faults=(*emulation.faults, _rule(row)))
    return row


async def read_fault(conn: Connection, fault_id: str) -> Any:
    return found(await store.fault(conn, fault_id))


async def remove_faults(conn: Connection, emulation: Emulation, fault_id: str | None) -> None:
    """Remove one rule (404 when there is none), or all of them."""
    if fault_id is not None:
        found(await store.fault(conn, fault_id))
    await store.delete_faults(conn, fault_id)
    kept = tuple(rule for rule in emulation.faults if fault_id is not None and rule.id != fault_id)
    emulation.own_change(faults=kept)


def seed_ids(emulation: Emulation, seed: int | None) -> None:
    """Draw this process's ids from a sequence seeded with ``seed`` (None: random again)."""
    emulation.ids = None if seed is None else random.Random(seed)
