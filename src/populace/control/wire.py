"""The control API on the wire (populace's own, not PingOne's)."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.wire import Resource, Urls, iso_ms


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
