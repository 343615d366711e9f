"""HTTP: populace's own control API under ``/_populace``: health, reset, snapshots, export and
import, seeds, the test clock, fault rules and seeded ids. Every
call but the two health checks needs an Organization Admin's token. No part of PingOne's API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from populace import __version__
from populace.auth.roles import Permission as P
from populace.control import behaviour, rules, seed, store
from populace.control.wire import (
    Clock,
    ClockBody,
    FaultRule,
    FaultRuleBody,
    Health,
    Ids,
    IdsBody,
    RecentRequests,
    SeedReport,
    Snapshot,
    SnapshotBody,
    StateDocument,
    TableContent,
    fault_json,
    snapshot_json,
)
from populace.errors import ErrorBody, invalid_data, invalid_request
from populace.http.dispatch import Call, services
from populace.http.lists import Listing
from populace.http.request import header, read_body
from populace.http.responses import json_response
from populace.http.router import CONTROL_API, ApiRouter
from populace.wire import iso_ms, now_ms

router = ApiRouter("Emulator: control", prefix=CONTROL_API)
# Served even when the control API is off: probes need no power over the directory.
health_router = ApiRouter("Emulator: health", prefix=CONTROL_API)

SNAPSHOTS = "/snapshots"
SNAPSHOT = SNAPSHOTS + "/{name}"
IMPORT_BYTES = 1024 * 1024 * 1024  # a whole directory, far past the 1 MiB of other bodies
SEED_BYTES = 16 * 1024 * 1024


@health_router.raw("GET", "/health", response=Health, authenticated=False, errors={})
async def health(_request: Request) -> Response:
    """Is the process up (no database work)."""
    return json_response(Health("UP", __version__))


@health_router.raw("GET", "/ready", response=Health, authenticated=False, errors={503: ErrorBody})
async def ready(request: Request) -> Response:
    """Is the process up and its database reachable (503 when it is not)."""
    await services(request).db.ping()
    return json_response(Health("READY", __version__))


@router.post("/reset", P.EMULATOR_CONTROL)
async def reset(call: Call[None]) -> None:
    """Go back to the bootstrap state (same organization, environment, application, secret)."""
    await rules.reset(call.conn, call.services.config, call.services.box)
    # A clean slate: no fault rules, the real time.
    await behaviour.remove_faults(call.conn, call.services.emulation, None)
    await behaviour.reset_clock(call.conn, call.services.emulation)


router.listing(SNAPSHOTS, Listing("snapshots", snapshot_json, store.SNAPSHOTS), P.EMULATOR_CONTROL)


@router.post(SNAPSHOTS, P.EMULATOR_CONTROL)
async def create_snapshot(call: Call[SnapshotBody]) -> Snapshot:
    """Keep the directory's whole state under a name."""
    return snapshot_json(call.urls, await rules.take(call.conn, call.body.name))


@router.get(SNAPSHOT, P.EMULATOR_CONTROL)
async def read_snapshot(call: Call[None]) -> Snapshot:
    """Read a snapshot."""
    return snapshot_json(call.urls, await rules.read(call.conn, call.param("name")))


@router.post(SNAPSHOT + "/restore", P.EMULATOR_CONTROL)
async def restore_snapshot(call: Call[None]) -> None:
    """Make the directory what the snapshot holds, at once for every process."""
    await rules.restore(call.conn, call.param("name"))


@router.delete(SNAPSHOT, P.EMULATOR_CONTROL)
async def delete_snapshot(call: Call[None]) -> None:
    """Delete a snapshot."""
    await rules.delete(call.conn, call.param("name"))


@router.get("/export", P.EMULATOR_CONTROL, no_store=True, own_writes=True)
async def export_state(call: Call[None]) -> StateDocument:
    """The whole directory as a JSON document (``secrets=omit`` leaves secrets out)."""
    wanted = call.request.query_params.get("secrets", "encrypted")
    if wanted not in ("encrypted", "omit"):
        raise invalid_request("secrets is encrypted (the default) or omit.")
    secrets = wanted == "encrypted"
    revision, tables = await rules.export(call.services.db, secrets=secrets)
    return StateDocument(
        revision=revision,
        tables={name: TableContent(**content) for name, content in tables.items()},
        populace=__version__,
        exported_at=iso_ms(now_ms()),
    )


@router.post("/import", P.EMULATOR_CONTROL, max_body=IMPORT_BYTES)
async def import_state(call: Call[StateDocument]) -> None:
    """Make the directory what an exported document holds, in one transaction."""
    body = call.body
    tables = {name: {"columns": t.columns, "rows": t.rows} for name, t in body.tables.items()}
    await rules.import_state(call.conn, call.services.box, body.revision, tables)


@router.post("/seed", P.EMULATOR_CONTROL, own_writes=True, status=200, max_body=SEED_BYTES)
async def apply_seed(call: Call[None]) -> SeedReport:
    """Apply a seed file (YAML or JSON, as the body): environments, populations, groups,
    users, applications and role assignments, each created where missing."""
    text = await read_body(call.request, SEED_BYTES)
    try:
        report = await seed.apply(
            call.request.app, header(call.request, b"authorization") or "", seed.parse(text)
        )
    except seed.SeedError as error:
        raise invalid_data("INVALID_VALUE", "seed", str(error)) from None
    return SeedReport(report.created, report.unchanged)


# --- the test clock, fault rules and ids ----------------------------------------------------


def _clock(offset_ms: int) -> Clock:
    return Clock(iso_ms(now_ms()), offset_ms / 1000)


@router.get("/clock", P.EMULATOR_CONTROL)
async def read_clock(call: Call[None]) -> Clock:
    """The deployment's time, and how far the test clock has moved it."""
    return _clock(call.services.emulation.clock_offset_ms)


@router.post("/clock", P.EMULATOR_CONTROL, status=200)
async def advance_clock(call: Call[ClockBody]) -> Clock:
    """Move the deployment's clock (tokens, codes, flows, passwords expire by it)."""
    emulation = call.services.emulation
    offset = await behaviour.advance_clock(call.conn, emulation, call.body.advance_seconds)
    return _clock(offset)


@router.delete("/clock", P.EMULATOR_CONTROL)
async def reset_clock(call: Call[None]) -> None:
    """Back to the real time."""
    await behaviour.reset_clock(call.conn, call.services.emulation)


FAULTS = "/faults"
FAULT = FAULTS + "/{faultID}"

router.listing(FAULTS, Listing("faults", fault_json, store.FAULTS), P.EMULATOR_CONTROL)


@router.post(FAULTS, P.EMULATOR_CONTROL)
async def add_fault(call: Call[FaultRuleBody]) -> FaultRule:
    """Add a fault rule: matching requests get an error or a delay."""
    row = await behaviour.add_fault(call.conn, call.services.emulation, call.body)
    return fault_json(call.urls, row)


@router.get(FAULT, P.EMULATOR_CONTROL)
async def read_fault(call: Call[None]) -> FaultRule:
    """Read a fault rule (``remaining``: the uses it has left)."""
    return fault_json(call.urls, await behaviour.read_fault(call.conn, call.param("faultID")))


@router.delete(FAULT, P.EMULATOR_CONTROL)
async def remove_fault(call: Call[None]) -> None:
    """Remove a fault rule."""
    await behaviour.remove_faults(call.conn, call.services.emulation, call.param("faultID"))


@router.delete(FAULTS, P.EMULATOR_CONTROL)
async def clear_faults(call: Call[None]) -> None:
    """Remove every fault rule."""
    await behaviour.remove_faults(call.conn, call.services.emulation, None)


@router.put("/ids", P.EMULATOR_CONTROL)
async def seed_ids(call: Call[IdsBody]) -> Ids:
    """Draw the ids of new objects from a sequence seeded with ``seed`` (this process's)."""
    behaviour.seed_ids(call.services.emulation, call.body.seed)
    return Ids(call.body.seed)


@router.delete("/ids", P.EMULATOR_CONTROL)
async def random_ids(call: Call[None]) -> None:
    """Random ids again."""
    behaviour.seed_ids(call.services.emulation, None)


@router.get("/requests", P.EMULATOR_CONTROL, no_store=True)
async def recent_requests(call: Call[None]) -> RecentRequests:
    """The last requests this process served, newest first: method, path (never the query),
    status, duration and Correlation-Id. Each process keeps its own."""
    served = list(reversed(call.services.recent))
    return RecentRequests(served, len(served))
