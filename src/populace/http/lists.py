"""Lists, declared once: which rows, which filters, which column limits a partial actor, page
sizes, ``count``, the renderer. The list layer parses ``limit``, ``cursor`` and ``filter``,
asks the row source for one page and answers PingOne's envelope::

    {"_links": {"self", "next"?, "prev"?}, "_embedded": {<key>: [...]}, "count"?, "size"}

A source that declares no filter fields answers ``filter`` with 400 INVALID_FILTER, and the
OpenAPI document offers ``filter`` only where fields are declared: the document cannot promise
what a list ignores.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request

from populace.errors import invalid_data
from populace.filters import Compiled, FilterScope, filter_condition, invalid_filter
from populace.storage.paging import Cursor, Page, PageQuery, RowSource, decode_cursor
from populace.wire import Link, Urls

if TYPE_CHECKING:
    from populace.auth.guard import Access
    from populace.http.dispatch import Call

# A limit with more digits than this is simply the maximum: int() of thousands of digits is
# slow (and refused past 4,300), so it is never converted.
_MAX_LIMIT_DIGITS = 9


@dataclass(frozen=True, slots=True)
class Listing:
    key: str  # the ``_embedded`` key
    render: Callable[[Urls, Any], Any]  # one row to its struct
    rows: RowSource
    default_limit: int = 100
    max_limit: int = 1000
    count: bool = True
    # Turns a row into what the renderer takes, as the actor may see it (e.g. readOnly).
    view: Callable[[Access, Any], Any] | None = None

    @property
    def item(self) -> type:
        """The struct of one item (the renderer's return type), for the OpenAPI document."""
        item: type = typing.get_type_hints(self.render)["return"]
        return item


@dataclass(frozen=True, slots=True)
class ListRequest:
    limit: int
    cursor: Cursor | None
    filter: Compiled | None
    filter_text: str | None  # compiled again for a partial actor (``FilterScope.limit_to``)


def _last(request: Request, name: str) -> str | None:
    """The last non-empty value of a query parameter: tolerates ``?&limit=1&limit=2``."""
    values = [v for v in request.query_params.getlist(name) if v != ""]
    return values[-1] if values else None


def list_request(request: Request, listing: Listing) -> ListRequest:
    """Parse and check ``limit``, ``cursor`` and ``filter`` before any database work."""
    limit = listing.default_limit
    raw_limit = _last(request, "limit")
    if raw_limit is not None:
        digits = raw_limit.strip().lstrip("0") or "0"
        if not (digits.isascii() and digits.isdigit()) or digits == "0":
            raise invalid_data(
                "INVALID_VALUE", "limit", "'limit' must be a whole number of at least 1."
            )
        # PingOne may return fewer items than asked; clients read 'size'.
        too_long = len(digits) > _MAX_LIMIT_DIGITS
        limit = listing.max_limit if too_long else min(int(digits), listing.max_limit)
    raw_cursor = _last(request, "cursor")
    cursor = decode_cursor(raw_cursor) if raw_cursor is not None else None
    raw_filter = _last(request, "filter")
    condition = None
    if raw_filter is not None:
        fields = listing.rows.filters
        if fields is None:
            raise invalid_filter(f"the {listing.key} collection cannot be filtered")
        condition = filter_condition(raw_filter, fields, FilterScope(request.path_params))
    return ListRequest(limit, cursor, condition, raw_filter)


def page_links(urls: Urls, request: Request, page: Page) -> dict[str, Link]:
    """``self`` is the request as made; ``next``/``prev`` repeat it with another cursor. All
    on the deployment's base URL (the public URL, when one is pinned)."""
    base = urls.base + request.url.path
    query = request.url.query
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor" and v != ""]
    links = {"self": Link(href=f"{base}?{query}" if query else base)}
    for rel, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor)):
        if cursor is not None:
            links[rel] = Link(href=f"{base}?{urlencode([*kept, ('cursor', cursor)])}")
    return links


async def run_list(call: Call[Any], listing: Listing, wanted: ListRequest) -> dict[str, Any]:
    ids = {**call.request.path_params, "organization": call.access.organization_id}
    condition = wanted.filter
    if wanted.filter_text is not None and call.access.limit is not None:
        # Checked before any database work; now the actor is known, its value paths (a
        # user's groups) reach only what it may see.
        assert listing.rows.filters is not None
        scope = FilterScope(call.request.path_params, call.access.limit)
        condition = filter_condition(wanted.filter_text, listing.rows.filters, scope)
    query = PageQuery(
        ids,
        call.access.limit,
        None if condition is None else condition.condition,
        wanted.limit,
        wanted.cursor,
        listing.count,
        {} if condition is None else condition.values,
    )
    page, count = await listing.rows.page(call.conn, query)
    rows = page.rows
    if listing.view is not None:
        rows = [listing.view(call.access, row) for row in rows]
    items = [listing.render(call.urls, row) for row in rows]
    body: dict[str, Any] = {
        "_links": page_links(call.urls, call.request, page),
        "_embedded": {listing.key: items},
    }
    if count is not None:
        body["count"] = count
    body["size"] = len(items)
    return body
