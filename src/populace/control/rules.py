"""The control API's rules: reset to the bootstrap state, and named snapshots of the whole
directory. Each runs in the caller's one transaction, so a restore is seen whole or not at all,
by every process on the database."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError, StatementError

from populace import bootstrap
from populace.applications import store as application_store
from populace.auth.secrets import SecretBox, new_client_secret
from populace.config import Config
from populace.control import state, store
from populace.errors import constraint_violation, found, invalid_data, invalid_request, not_found
from populace.organizations import store as organization_store
from populace.storage import journal, settings
from populace.storage.database import Connection, Database, unique_or
from populace.storage.schema import licenses, organizations
from populace.wire import new_id, now_ms

APPLICATIONS, ORGANIZATIONS = "applications", "organizations"

# Names go in paths (``/_populace/snapshots/{name}``) as they are.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


async def reset(conn: Connection, config: Config, box: SecretBox) -> None:
    """Back to the state of a first start: the organization and its license, an
    Administrators environment and its Worker application, with the same ids and secret."""
    organization_id = found(await organization_store.the_organization_id(conn))
    environment_id, client_id = await settings.admin_application(conn)
    application = await application_store.get(conn, environment_id, client_id)
    if application is not None:
        secret = box.open(application.client_secret)
    elif config.admin_client_secret:  # gone, but its secret is known: made again with it
        secret = config.admin_client_secret
    else:  # a new secret nobody could read would leave the deployment without administrator
        raise constraint_violation(
            "The bootstrap application no longer exists, so a reset could not give its "
            "credentials back: run `populace admin recover` first."
        )
    await state.hold(conn, exclusive=True)
    await journal.rebase(conn, None)
    await conn.run_sync(lambda sync: state.clear(sync, keep=(organizations, licenses)))
    await bootstrap.install_admin(conn, box, organization_id, environment_id, client_id, secret)


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise invalid_data(
            "INVALID_VALUE",
            "name",
            "A snapshot's name is 1 to 128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit.",
        )
    return name


def _taken() -> Any:
    return invalid_data("UNIQUENESS_VIOLATION", "name", "A snapshot with this name exists.")


async def take(conn: Connection, name: str) -> Any:
    """Keep the directory's state under ``name`` (a name in use is refused)."""
    if await store.get(conn, _checked_name(name)) is not None:
        raise _taken()
    await state.hold(conn, exclusive=False)
    content = await conn.run_sync(state.capture)
    values = {
        "id": new_id(),
        "name": name,
        "revision": await state.revision(conn),
        "size": len(content),
        "created_at": now_ms(),
    }
    with unique_or("name", _taken):
        snapshot = await store.insert_snapshot(conn, values, content)
    await journal.rebase(conn, snapshot.id)  # the directory is this snapshot, as of now
    return snapshot


async def read(conn: Connection, name: str) -> Any:
    return found(await store.get(conn, name))


async def restore(conn: Connection, name: str) -> None:
    """The directory becomes what the snapshot holds, at once for every process."""
    snapshot = found(await store.get(conn, name))
    current = await state.revision(conn)
    if snapshot.revision != current:
        raise invalid_request(
            f"The snapshot was taken at schema revision {snapshot.revision}; the database is "
            f"at {current}. Take it again."
        )
    await state.hold(conn, exclusive=True)
    # The last snapshot taken or restored: only the rows changed since go back.
    if await journal.base(conn) == snapshot.id and await journal.rewind(conn):
        return
    content = found(await store.content(conn, snapshot.id))  # deleted meanwhile: 404
    await journal.rebase(conn, None)  # replacing every row is not journaled
    await conn.run_sync(lambda sync: state.replace(sync, content))
    await journal.rebase(conn, snapshot.id)


async def delete(conn: Connection, name: str) -> None:
    snapshot = found(await store.get(conn, name))
    if await journal.base(conn) == snapshot.id:
        await journal.rebase(conn, None)  # a journal nothing can restore any more
    if not await store.remove(conn, name):
        raise not_found()


async def export(db: Database, *, secrets: bool) -> tuple[str, state.Tables]:
    """The schema revision and the directory's rows, read in one transaction (holding the
    tables, so they are one moment's state); without ``secrets``, applications' secrets are
    null."""

    async def read(conn: Connection) -> tuple[str, state.Tables]:
        await state.hold(conn, exclusive=False)
        return await state.revision(conn), await conn.run_sync(state.read_tables)

    # A write transaction, for the table locks; run (retried) as a write that lost a race is.
    revision, tables = await db.run(read, writes=True)
    if not secrets:
        applications = tables[APPLICATIONS]
        position = applications["columns"].index("client_secret")
        for row in applications["rows"]:
            row[position] = None
    return revision, tables


async def import_state(
    conn: Connection, box: SecretBox, revision: str, tables: state.Tables
) -> None:
    """The directory becomes the document's tables, in one transaction. An application whose
    secret was left out keeps the one it has here, or gets a new one."""
    current = await state.revision(conn)
    if revision != current:
        raise invalid_request(
            f"The document was exported at schema revision {revision}; the database is at "
            f"{current}."
        )
    found = state.problems(tables)
    if found:
        raise invalid_data("INVALID_VALUE", "tables", "; ".join(found[:10]))
    await _same_organization(conn, tables[ORGANIZATIONS])
    _secrets_open(box, tables[APPLICATIONS])
    await state.hold(conn, exclusive=True)
    await journal.rebase(conn, None)
    await _fill_secrets(conn, box, tables.get(APPLICATIONS))
    try:
        await conn.run_sync(lambda sync: state.write_tables(sync, tables))
    except (IntegrityError, StatementError) as error:
        raise invalid_data(
            "INVALID_VALUE",
            "tables",
            f"The rows do not hold together: {type(error.orig or error).__name__}.",
        ) from None


async def _same_organization(conn: Connection, organizations: Any) -> None:
    """A document imports into the deployment it came from: every process keeps its
    organization's id, and the bootstrap application is recorded in this deployment."""
    ours = await organization_store.the_organization_id(conn)
    position = organizations["columns"].index("id")
    theirs = [row[position] for row in organizations["rows"]]
    if theirs != [ours]:
        raise invalid_data(
            "INVALID_VALUE",
            "tables",
            f"The document's organization is {', '.join(map(str, theirs)) or 'missing'}; this "
            f"deployment's is {ours}. A document imports into the deployment it came from.",
        )


def _secrets_open(box: SecretBox, applications: Any) -> None:
    """Every secret of the document opens with this deployment's key (one that does not
    would make its application's token requests fail later, not now)."""
    position = applications["columns"].index("client_secret")
    for row in applications["rows"]:
        if row[position] is not None:
            try:
                box.open(row[position])
            except RuntimeError:
                raise invalid_data(
                    "INVALID_VALUE",
                    "tables",
                    "An application's secret does not decrypt with this deployment's key: "
                    "export with ?secrets=omit, or import where POPULACE_SECRET_KEY is the same.",
                ) from None


async def _fill_secrets(conn: Connection, box: SecretBox, applications: Any) -> None:
    if not applications:
        return
    columns = applications["columns"]
    environment, identity, secret = (
        columns.index(name) for name in ("environment_id", "id", "client_secret")
    )
    for row in applications["rows"]:
        if row[secret] is None:
            kept = await application_store.get(conn, row[environment], row[identity])
            row[secret] = kept.client_secret if kept else box.seal(new_client_secret())
