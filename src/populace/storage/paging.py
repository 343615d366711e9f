"""Listable rows, paged with keyset cursors: tables (:class:`TableRows`, declared by the store
that owns the table) and fixed in-memory catalogs (:class:`CatalogRows`).

Every listed table has an index on ``(<parent>, created_at, id)``; a page is the next ``limit``
rows after (or before) the cursor's ``(created_at, id)``. Unlike offsets, this stays correct
while other clients insert and delete: a row that existed when paging began is seen exactly
once, whatever happens around it.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy import Connection as SyncConnection

from populace.errors import ApiError, invalid_data, not_found
from populace.filters import Fields
from populace.storage.database import Connection
from populace.storage.prepared import Prepared
from populace.wire import is_uuid

# (backwards?, created_at, id)
Cursor = tuple[bool, int, str]


def encode_cursor(backwards: bool, created_at: int, row_id: str) -> str:
    raw = msgspec.json.encode([1 if backwards else 0, created_at, row_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        direction, created_at, row_id = msgspec.json.decode(raw, type=tuple[int, int, str])
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise _bad_cursor() from None
    # Refuse what no cursor of ours holds, before it reaches the database.
    if not (0 <= created_at < 2**63 and is_uuid(row_id)):
        raise _bad_cursor()
    return bool(direction), created_at, row_id


def _bad_cursor() -> ApiError:
    return invalid_data("INVALID_VALUE", "cursor", "'cursor' is not a valid cursor.")


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Any]
    next_cursor: str | None
    prev_cursor: str | None


def _page(rows: list[Any], limit: int, cursor: Cursor | None) -> Page:
    """Cut ``limit + 1`` rows fetched in the cursor's direction into a page and its cursors."""
    backwards = cursor is not None and cursor[0]
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    if not rows:
        return Page(rows, None, None)
    first, last = rows[0], rows[-1]
    has_next = more if not backwards else True
    has_prev = cursor is not None and (more if backwards else True)
    return Page(
        rows,
        encode_cursor(False, last.created_at, last.id) if has_next else None,
        encode_cursor(True, first.created_at, first.id) if has_prev else None,
    )


# A request's own values are bound when its statements run, under these names (a filter's
# values under its own): the statements themselves are the same for every request of a shape.
_AT, _AFTER, _SIZE, _LIMIT_TO = "cursor_at", "cursor_id", "page_size", "limit_to"


def _key_parameter(name: str) -> str:
    return f"key_{name}"


def page_statement(
    query: Select[Any],
    created_at: ColumnElement[int],
    row_id: ColumnElement[str],
    backwards: bool | None,
) -> Select[Any]:
    """``query`` one page at a time: from the start (``backwards`` None), or the rows after
    (before) a cursor's ``(created_at, id)``; the cursor and the page size are bound."""
    at: BindParameter[int] = bindparam(_AT)
    after: BindParameter[str] = bindparam(_AFTER)
    if backwards is True:
        query = query.where(or_(created_at < at, and_(created_at == at, row_id < after)))
    elif backwards is False:
        query = query.where(or_(created_at > at, and_(created_at == at, row_id > after)))
    order = (created_at.desc(), row_id.desc()) if backwards else (created_at, row_id)
    return query.order_by(*order).limit(bindparam(_SIZE, type_=Integer))


def fetch_page(
    sync: SyncConnection,
    statement: Prepared,
    values: Mapping[str, Any],
    limit: int,
    cursor: Cursor | None,
) -> Page:
    """One page: ``statement`` (a :func:`page_statement` for the cursor's direction) run with
    the request's ``values``, the cursor's and the page size added."""
    bound = {**values, _SIZE: limit + 1}
    if cursor is not None:
        bound[_AT], bound[_AFTER] = cursor[1], cursor[2]
    return _page(statement.rows_on(sync, bound), limit, cursor)


def count_statement(query: Select[Any]) -> Select[Any]:
    """How many rows ``query`` selects, counted there."""
    return query.with_only_columns(func.count(), maintain_column_froms=True)


@dataclass(slots=True)
class _Statements:
    """A list's statements for one shape: its pages by cursor direction (made as first
    needed) and its count."""

    condition: ColumnElement[bool] | None  # kept alive: the cache key holds its id
    query: Select[Any]
    count: Prepared
    pages: dict[bool | None, Prepared] = field(default_factory=dict)


# Statements kept per list: a list's statements for a shape (its filter's compiled condition,
# whether a partial actor's limit applies) are built once and reused, every value bound when
# they run, so SQLAlchemy derives each one's cache key once, not on every request (measured:
# ~8% of a filtered user list's CPU). Each entry keeps its condition, so the condition's id in
# the key cannot be reused by another while the entry lives.
STATEMENTS_KEPT = 256


def page_of(rows: Sequence[Any], limit: int, cursor: Cursor | None) -> Page:
    """The same paging over a fixed catalog held in memory (rows with ``created_at`` and
    ``id``), so such a list answers ``limit`` and ``cursor`` exactly as a table does."""
    ordered = sorted(rows, key=lambda row: (row.created_at, row.id))
    if cursor is None:
        return _page(ordered[: limit + 1], limit, None)
    backwards, at, after_id = cursor
    if backwards:
        before = [row for row in ordered if (row.created_at, row.id) < (at, after_id)]
        return _page(list(reversed(before))[: limit + 1], limit, cursor)
    after = [row for row in ordered if (row.created_at, row.id) > (at, after_id)]
    return _page(after[: limit + 1], limit, cursor)


@dataclass(frozen=True, slots=True)
class PageQuery:
    """One page asked of a row source."""

    ids: Mapping[str, str]  # the request's ids: path parameters and ``organization``
    limit_to: frozenset[str] | None  # a partial actor's limit
    condition: ColumnElement[bool] | None  # the compiled filter
    size: int
    cursor: Cursor | None
    with_count: bool
    values: Mapping[str, Any] = field(default_factory=dict)  # the filter's bound values


class RowSource(Protocol):
    @property
    def filters(self) -> Fields | None: ...

    async def page(self, conn: Connection, wanted: PageQuery) -> tuple[Page, int | None]: ...


@dataclass(frozen=True, slots=True)
class TableRows:
    """Rows of one table, keyed by the request's ids (``keys`` maps a path parameter, or
    ``organization`` for the actor's organization, to the column that must equal it)."""

    table: Table
    keys: Mapping[str, ColumnElement[str]]
    filters: Fields | None = None
    # The column a partial actor's limit restricts (a population id, an environment id).
    limited_by: ColumnElement[str] | None = None
    # A lookup of the parent object by the same ids: no row means the list is 404. A parent
    # of a partial list selects its own ``limited_by`` column: a parent outside a partial
    # actor's limit is 404 as well (its list would tell what the actor may not see).
    parent: Prepared | None = None
    # Rows of ``table`` that have a row in another table (a membership, a nesting): that
    # table, and how its rows join this one's. ``extra`` columns come along (from either).
    through: tuple[Table, ColumnElement[bool]] | None = None
    extra: tuple[ColumnElement[Any], ...] = ()
    always: tuple[ColumnElement[bool], ...] = ()  # conditions every listed row meets
    # An unfiltered list's count from a counter kept exact (users: their populations'
    # ``userCount``), instead of counting every row on every page.
    unfiltered_count: Callable[[Connection, PageQuery], Awaitable[int]] | None = None

    _statements: OrderedDict[tuple[int | None, bool], _Statements] = field(
        default_factory=OrderedDict, compare=False, repr=False
    )

    def _select(self, condition: ColumnElement[bool] | None, limited: bool) -> Select[Any]:
        """The list's rows that meet ``condition``: the request's ids and a partial actor's
        limit are bound when it runs (:meth:`_values`)."""
        where = [column == bindparam(_key_parameter(name)) for name, column in self.keys.items()]
        where += self.always
        if limited:
            assert self.limited_by is not None, "a partial list declares the column it limits"
            where.append(self.limited_by.in_(bindparam(_LIMIT_TO, expanding=True)))
        if condition is not None:
            where.append(condition)
        query = select(self.table, *self.extra)
        if self.through is not None:
            query = query.join(*self.through)
        return query.where(*where)

    def _values(self, ids: Mapping[str, str], limit_to: frozenset[str] | None) -> dict[str, Any]:
        values: dict[str, Any] = {_key_parameter(name): ids[name] for name in self.keys}
        if limit_to is not None:
            values[_LIMIT_TO] = sorted(limit_to)
        return values

    def _kept(self, condition: ColumnElement[bool] | None, limited: bool) -> _Statements:
        key = (None if condition is None else id(condition), limited)
        kept = self._statements.get(key)
        if kept is not None and kept.condition is condition:
            self._statements.move_to_end(key)
            return kept
        query = self._select(condition, limited)
        kept = self._statements[key] = _Statements(
            condition, query, Prepared(count_statement(query))
        )
        if len(self._statements) > STATEMENTS_KEPT:
            self._statements.popitem(last=False)
        return kept

    async def page(self, conn: Connection, wanted: PageQuery) -> tuple[Page, int | None]:
        if self.parent is not None:
            await self._parent_within_reach(conn, wanted)
        kept = self._kept(wanted.condition, wanted.limit_to is not None)
        backwards = None if wanted.cursor is None else wanted.cursor[0]
        statement = kept.pages.get(backwards)
        if statement is None:
            columns = self.table.c
            page_query = page_statement(kept.query, columns.created_at, columns.id, backwards)
            statement = kept.pages[backwards] = Prepared(page_query)
        values = {**self._values(wanted.ids, wanted.limit_to), **wanted.values}
        kept_count = wanted.condition is None and self.unfiltered_count is not None
        counted = wanted.with_count and not kept_count

        def page_and_count(sync: SyncConnection) -> tuple[Page, int | None]:
            # Both statements in one call: a costly list's run in one worker thread's turn.
            page = fetch_page(sync, statement, values, wanted.size, wanted.cursor)
            return page, kept.count.rows_on(sync, values)[0][0] if counted else None

        page, count = await conn.run_sync(page_and_count)
        if wanted.with_count and kept_count:
            assert self.unfiltered_count is not None
            count = await self.unfiltered_count(conn, wanted)
        return page, count

    async def find(self, conn: Connection, ids: Mapping[str, str], item_id: str) -> Row[Any] | None:
        """One item of the list, by its id, read alone."""
        query = self._select(self.table.c.id == bindparam("item_id"), limited=False)
        values = {**self._values(ids, None), "item_id": item_id}
        return (await conn.execute(query, values)).first()

    async def _parent_within_reach(self, conn: Connection, wanted: PageQuery) -> None:
        assert self.parent is not None
        row = await self.parent.first(conn, **wanted.ids)
        if row is None or (wanted.limit_to is not None and row.limited_by not in wanted.limit_to):
            raise not_found()


@dataclass(frozen=True, slots=True)
class CatalogRows:
    """A fixed catalog held in memory (the roles), paged exactly as a table is."""

    rows: Sequence[Any]
    filters: Fields | None = None

    async def page(self, conn: Connection, wanted: PageQuery) -> tuple[Page, int | None]:
        page = page_of(self.rows, wanted.size, wanted.cursor)
        return page, len(self.rows) if wanted.with_count else None
