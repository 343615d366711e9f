"""The undo journal: since the last snapshot taken or restored (the *base*), the version of
every directory row from before its first change. Triggers in the database keep it, so it
holds every process's writes and every cascade; restoring the base then puts back only the
rows that changed: the cost of what a test did, not of the directory's size.

The ``state_undo`` table is this module's; the base is a key of ``settings`` (read by the
triggers: nothing is journaled while no snapshot is the base). SQLite has no row-to-JSON, so
its triggers name every column and are installed again whenever a migration runs
(``storage/migrate.py``); PostgreSQL's one trigger function takes whole rows."""

from __future__ import annotations

from sqlalchemy import Table, delete, text
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.exc import IntegrityError

from populace.storage import settings
from populace.storage.database import Connection
from populace.storage.schema import DIRECTORY, state_undo

_NAME = "populace_journal"  # the triggers' (and PostgreSQL's function's) name or prefix
_ACTIVE = f"EXISTS (SELECT 1 FROM settings WHERE key = '{settings.STATE_BASE}')"

# PostgreSQL: one function for every table; a trigger's arguments name its key's columns.
# json, not jsonb: a JSON column's text comes back as it was, its keys in their order.
_PG_FUNCTION_BODY = f"""
DECLARE
  image json;
  row_key text;
BEGIN
  IF NOT {_ACTIVE} THEN
    RETURN NULL;
  END IF;
  image := to_json(CASE WHEN TG_OP = 'INSERT' THEN NEW ELSE OLD END);
  SELECT json_agg(image -> k.name ORDER BY k.position)::text INTO row_key
    FROM unnest(TG_ARGV) WITH ORDINALITY AS k(name, position);
  INSERT INTO state_undo (table_name, row_key, old_row)
    VALUES (TG_TABLE_NAME, row_key, CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE image::text END)
    ON CONFLICT DO NOTHING;
  RETURN NULL;
END
"""


def _key(table: Table) -> list[str]:
    return [str(column.name) for column in table.primary_key.columns]


def _sqlite_triggers(sync: SyncConnection) -> dict[str, str]:
    """Every trigger SQLite needs, by name: three a table, each naming every column."""
    triggers, q = {}, sync.dialect.identifier_preparer.quote
    for table in DIRECTORY:
        name = str(table.name)
        image = ", ".join(f"'{c.name}', OLD.{q(c.name)}" for c in table.columns)
        for event, row, old_row in (
            ("INSERT", "NEW", "NULL"),
            ("UPDATE", "OLD", f"json_object({image})"),
            ("DELETE", "OLD", f"json_object({image})"),
        ):
            key = "json_array(" + ", ".join(f"{row}.{q(c)}" for c in _key(table)) + ")"
            trigger = f"{_NAME}_{name}_{event.lower()}"
            # Not INSERT OR IGNORE: a triggering INSERT OR REPLACE would impose its own policy.
            triggers[trigger] = (
                f"CREATE TRIGGER {trigger} AFTER {event} ON {q(name)} WHEN {_ACTIVE} BEGIN "
                f"INSERT INTO state_undo (table_name, row_key, old_row) "
                f"SELECT '{name}', {key}, {old_row} WHERE NOT EXISTS (SELECT 1 FROM state_undo "
                f"WHERE table_name = '{name}' AND row_key = {key}); END"
            )
    return triggers


def install(sync: SyncConnection) -> None:
    """Make the triggers what this version needs (nothing is done when they are)."""
    if sync.dialect.name == "sqlite":
        _install_sqlite(sync)
    else:
        _install_postgresql(sync)


def _install_sqlite(sync: SyncConnection) -> None:
    wanted = _sqlite_triggers(sync)
    found: dict[str, str] = dict(
        sync.exec_driver_sql(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '{_NAME}%'"
        ).all()
    )
    for name, sql in found.items():
        if wanted.get(name) != sql:
            sync.exec_driver_sql(f"DROP TRIGGER {name}")
    for name, sql in wanted.items():
        if found.get(name) != sql:
            sync.exec_driver_sql(sql)


def _install_postgresql(sync: SyncConnection) -> None:
    body = sync.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = :name"), {"name": _NAME})
    if body != _PG_FUNCTION_BODY:
        sync.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION {_NAME}() RETURNS trigger LANGUAGE plpgsql "
            f"AS $body${_PG_FUNCTION_BODY}$body$"
        )
    triggers = sync.execute(
        text(
            "SELECT c.relname, t.tgargs FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = :name"
        ),
        {"name": _NAME},
    )
    found = {str(table): bytes(arguments).split(b"\0")[:-1] for table, arguments in triggers}
    for table in DIRECTORY:
        name, key = str(table.name), _key(table)
        if found.get(name) != [column.encode() for column in key]:
            arguments = ", ".join(f"'{column}'" for column in key)
            sync.exec_driver_sql(
                f"CREATE OR REPLACE TRIGGER {_NAME} AFTER INSERT OR UPDATE OR DELETE ON "
                f"{sync.dialect.identifier_preparer.quote(name)} FOR EACH ROW "
                f"EXECUTE FUNCTION {_NAME}({arguments})"
            )


def uninstall(sync: SyncConnection) -> None:
    """Drop the triggers (before a migration changes the tables they name)."""
    if sync.dialect.name == "sqlite":
        names = sync.exec_driver_sql(
            f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '{_NAME}%'"
        ).scalars()
        for name in list(names):
            sync.exec_driver_sql(f"DROP TRIGGER {name}")
    else:
        sync.exec_driver_sql(f"DROP FUNCTION IF EXISTS {_NAME}() CASCADE")  # and its triggers


async def base(conn: Connection) -> str | None:
    """The snapshot the journal counts from, if any."""
    return await settings.state_base(conn)


async def rebase(conn: Connection, snapshot_id: str | None) -> None:
    """The directory is now exactly this snapshot (None: no snapshot, and nothing is journaled
    until one is taken or restored)."""
    await conn.execute(delete(state_undo))
    await settings.set_state_base(conn, snapshot_id)


async def rewind(conn: Connection) -> bool:
    """Put back every row that changed since the base, in the caller's transaction, holding the
    directory. False, with nothing changed, when the rows cannot go back one by one (two rows
    that swapped a unique name): the caller then restores the whole snapshot."""
    snapshot_id = await base(conn)
    await settings.set_state_base(conn, None)  # putting rows back is not itself journaled
    if await conn.run_sync(_put_back):
        await rebase(conn, snapshot_id)
        return True
    await settings.set_state_base(conn, snapshot_id)
    return False


def _put_back(sync: SyncConnection) -> bool:
    touched = set(sync.exec_driver_sql("SELECT DISTINCT table_name FROM state_undo").scalars())
    sync.exec_driver_sql("SAVEPOINT populace_rewind")
    try:
        for table, statement in _statements(sync):
            if table in touched:  # a test touches a few tables: the others need nothing
                sync.exec_driver_sql(statement)
    except IntegrityError:
        sync.exec_driver_sql("ROLLBACK TO SAVEPOINT populace_rewind")
        return False
    sync.exec_driver_sql("RELEASE SAVEPOINT populace_rewind")
    return True


_STATEMENTS: dict[str, list[tuple[str, str]]] = {}  # by dialect: made once, sent as they are


def _statements(sync: SyncConnection) -> list[tuple[str, str]]:
    dialect = str(sync.dialect.name)
    if dialect not in _STATEMENTS:
        _STATEMENTS[dialect] = _rewind_statements(sync)
    return _STATEMENTS[dialect]


def _rewind_statements(sync: SyncConnection) -> list[tuple[str, str]]:
    """By table: rows created since the base go, children first; rows from before it come
    back as they were, parents first (updated in place, so no cascade reaches their
    children)."""
    q = sync.dialect.identifier_preparer.quote
    removals, returns = [], []
    for table in DIRECTORY:
        name, key = str(table.name), ", ".join(q(column) for column in _key(table))
        journaled = f"FROM state_undo u WHERE u.table_name = '{name}'"
        if sync.dialect.name == "sqlite":
            parts = [f"json_extract(u.row_key, '$[{i}]')" for i in range(len(_key(table)))]
            values = [f"json_extract(u.old_row, '$.{c.name}')" for c in table.columns]
            source = journaled
        else:
            parts = [f"(u.row_key::json) ->> {i}" for i in range(len(_key(table)))]
            values = [f"r.{q(c.name)}" for c in table.columns]
            source = (
                f"FROM state_undo u CROSS JOIN LATERAL json_populate_record(NULL::{q(name)}, "
                f"u.old_row::json) AS r WHERE u.table_name = '{name}'"
            )
        removals.append(
            (
                name,
                f"DELETE FROM {q(name)} WHERE ({key}) IN "
                f"(SELECT {', '.join(parts)} {journaled} AND u.old_row IS NULL)",
            )
        )
        others = [q(c.name) for c in table.columns if not c.primary_key]
        update = ", ".join(f"{c} = excluded.{c}" for c in others)
        returns.append(
            (
                name,
                f"INSERT INTO {q(name)} ({', '.join(q(c.name) for c in table.columns)}) "
                f"SELECT {', '.join(values)} {source} AND u.old_row IS NOT NULL "
                f"ON CONFLICT ({key}) " + (f"DO UPDATE SET {update}" if others else "DO NOTHING"),
            )
        )
    return removals[::-1] + returns
