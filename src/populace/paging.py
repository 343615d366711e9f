"""Keyset paging with opaque cursors, and PingOne's list envelope.

Every listed table has an index on ``(environment_id, created_at, id)``; a page is the next
``limit`` rows after (or before) the cursor's ``(created_at, id)``. Unlike offsets, this stays
correct while other clients insert and delete: a row that existed when paging began is seen
exactly once, whatever happens around it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec
from sqlalchemy import ColumnElement, Row, Select, and_, or_
from starlette.requests import Request

from populace.errors import ApiError, invalid_data
from populace.storage.database import Connection
from populace.wire import Link, is_uuid


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    cursor: tuple[bool, int, str] | None  # (backwards?, created_at, id)
    filter: str | None


def _last(request: Request, name: str) -> str | None:
    """The last non-empty value of a query parameter: tolerates ``?&limit=1&limit=2``."""
    values = [v for v in request.query_params.getlist(name) if v != ""]
    return values[-1] if values else None


def page_request(request: Request, *, default_limit: int, max_limit: int) -> PageRequest:
    raw_limit = _last(request, "limit")
    limit = default_limit
    if raw_limit is not None:
        digits = raw_limit.strip()
        if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
            raise invalid_data(
                "INVALID_VALUE", "limit", "'limit' must be a whole number of at least 1."
            )
        # PingOne may return fewer items than asked; clients read 'size'.
        limit = min(int(raw_limit), max_limit)
    raw_cursor = _last(request, "cursor")
    cursor = decode_cursor(raw_cursor) if raw_cursor is not None else None
    return PageRequest(limit, cursor, _last(request, "filter"))


def encode_cursor(backwards: bool, created_at: int, row_id: str) -> str:
    raw = msgspec.json.encode([1 if backwards else 0, created_at, row_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[bool, int, str]:
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
    rows: Sequence[Row[Any]]
    next_cursor: str | None
    prev_cursor: str | None


async def fetch_page(
    conn: Connection,
    query: Select[Any],
    created_at: ColumnElement[int],
    row_id: ColumnElement[str],
    page: PageRequest,
) -> Page:
    """Run ``query`` (already filtered to what the caller may see) one page at a time."""
    backwards = page.cursor is not None and page.cursor[0]
    if page.cursor is not None:
        _, at, after_id = page.cursor
        if backwards:
            query = query.where(or_(created_at < at, and_(created_at == at, row_id < after_id)))
        else:
            query = query.where(or_(created_at > at, and_(created_at == at, row_id > after_id)))
    order = (created_at.desc(), row_id.desc()) if backwards else (created_at, row_id)
    rows = list((await conn.execute(query.order_by(*order).limit(page.limit + 1))).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    if backwards:
        rows.reverse()
    if not rows:
        return Page(rows, None, None)
    first, last = rows[0], rows[-1]
    has_next = more if not backwards else True
    has_prev = page.cursor is not None and (more if backwards else True)
    return Page(
        rows,
        encode_cursor(False, last.created_at, last.id) if has_next else None,
        encode_cursor(True, first.created_at, first.id) if has_prev else None,
    )


def page_links(request: Request, page: Page) -> dict[str, Link]:
    """``self`` is the request as made; ``next``/``prev`` repeat it with another cursor."""
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor" and v != ""]
    links = {"self": Link(href=str(request.url))}
    for rel, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)):
        if cursor is not None:
            links[rel] = Link(href=f"{base}?{urlencode([*kept, ('cursor', cursor)])}")
    return links


def list_body(
    request: Request, resource: str, items: list[Any], page: Page, count: int | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "_links": page_links(request, page),
        "_embedded": {resource: items},
    }
    if count is not None:
        body["count"] = count
    body["size"] = len(items)
    return body
