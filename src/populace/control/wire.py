"""The control API on the wire (populace's own, not PingOne's)."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.http.access import Served
from populace.wire import UNSET, Resource, UnsetType, Urls, iso_ms


class Health(msgspec.Struct):
    status: str  # "UP" (the process answers), "READY" (and its database does)
    version: str


class SnapshotBody(msgspec.Struct):
    name: str


class Snapshot(Resource, kw_only=True):
    name: str
    revision: str  # the schema revision it was taken at
    size: int  # bytes it takes, compressed
    created_at: str


def snapshot_json(urls: Urls, row: Any) -> Snapshot:
    return Snapshot(
        links={
            "self": urls.control(f"snapshots/{row.name}"),
            "restore": urls.control(f"snapshots/{row.name}/restore"),
        },
        id=row.id,
        name=row.name,
        revision=row.revision,
        size=row.size,
        created_at=iso_ms(row.created_at),
    )


class TableContent(msgspec.Struct):
    columns: list[str]
    rows: list[list[Any]]


class StateDocument(msgspec.Struct, rename="camel"):
    """The whole directory as JSON (``GET /_populace/export``, ``POST /_populace/import``):
    each table's rows as they are stored (times in epoch milliseconds, application secrets
    encrypted with the deployment's key, or null when left out)."""

    revision: str  # the schema revision: a document imports into the same one
    tables: dict[str, TableContent]
    populace: str = ""  # the version that exported it
    exported_at: str = ""


class SeedReport(msgspec.Struct):
    created: int  # objects, memberships and role assignments made
    unchanged: int  # those that were there already


class FaultRuleBody(msgspec.Struct, rename="camel"):
    """A fault rule: requests matching ``method`` (or ``*``) and ``path`` (a glob, e.g.
    ``/v1/environments/*/users``) are answered ``status`` (429, 500 or 503, in PingOne's
    envelope) or delayed ``latencyMs``; with a ``probability``, or for the next ``count``
    requests, or (neither) every time."""

    path: str
    method: str = "*"
    status: int | None = None
    latency_ms: int | None = None
    probability: float | None = None
    count: int | None = None


class FaultRule(Resource, kw_only=True):
    method: str
    path: str
    status: int | UnsetType = UNSET
    latency_ms: int | UnsetType = UNSET
    probability: float | UnsetType = UNSET
    remaining: int | UnsetType = UNSET  # uses left, for a rule given a count
    created_at: str


def _given(value: Any) -> Any:
    return UNSET if value is None else value


def fault_json(urls: Urls, row: Any) -> FaultRule:
    return FaultRule(
        links={"self": urls.control(f"faults/{row.id}")},
        id=row.id,
        method=row.method,
        path=row.path,
        status=_given(row.status),
        latency_ms=_given(row.latency_ms),
        probability=_given(row.probability),
        remaining=_given(row.remaining),
        created_at=iso_ms(row.created_at),
    )


class ClockBody(msgspec.Struct, rename="camel"):
    advance_seconds: int


class Clock(msgspec.Struct, rename="camel"):
    """The deployment's time: the system's plus ``offsetSeconds``."""

    now: str
    offset_seconds: float


class IdsBody(msgspec.Struct):
    seed: int


class Ids(msgspec.Struct):
    seed: int


class RecentRequests(msgspec.Struct):
    """The last requests this process served, newest first (the console's live view)."""

    requests: list[Served]
    count: int
