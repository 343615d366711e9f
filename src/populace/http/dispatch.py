"""The dispatcher: the one procedure every declared operation goes through.

For each request: verify the bearer token (no database work), decode the body into the declared
struct, parse the list parameters, open a read transaction (GET) or a write transaction (every
other method), load the actor, ask the guard for the declared permission, call the handler (or
the list layer), commit, and encode what came back with the declared status. Errors are
exceptions all the way up; the application's handlers render them (``errors.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from starlette.requests import Request
from starlette.responses import Response

from populace.auth.actors import bearer_claims, load_actor
from populace.auth.guard import Access, environment_access, organization_access
from populace.auth.tokens import Claims
from populace.errors import forbidden
from populace.http import access
from populace.http.lists import list_request, run_list
from populace.http.request import header, read_json, urls
from populace.http.responses import NO_STORE, json_response
from populace.http.router import Endpoint, Operation
from populace.services import Services
from populace.storage.database import Connection
from populace.wire import Urls

B = TypeVar("B")


@dataclass(slots=True)
class Call(Generic[B]):
    """One call of an operation, as its handler sees it."""

    request: Request
    services: Services
    conn: Connection
    access: Access
    body: B
    urls: Urls
    prepared: Any = None  # what the operation's ``prepare`` made of the body

    def param(self, name: str) -> str:
        """A path parameter (``envID``, ``popID``, ...)."""
        value: str = self.request.path_params[name]
        return value

    def includes(self) -> set[str]:
        """What ``include`` asks for (repeated or comma-separated)."""
        values = self.request.query_params.getlist("include")
        return {part.strip() for value in values for part in value.split(",") if part.strip()}


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def _access(conn: Connection, claims: Claims, op: Operation, request: Request) -> Access:
    actor = await load_actor(conn, claims)
    params = request.path_params
    if op.permission is None:
        return Access(actor, None)
    if "envID" in params:
        return await environment_access(
            conn,
            actor,
            op.permission,
            params["envID"],
            partial=op.partial,
            check_environment=op.check_environment,
            writes=not op.reads and not op.own_writes,
        )
    if "orgID" in params and params["orgID"] != actor.organization_id:
        raise forbidden()
    return organization_access(actor, op.permission, partial=op.partial)


def _respond(op: Operation, result: Any) -> Response:
    if result is None:
        return Response(status_code=204)
    headers = dict(NO_STORE) if op.no_store else {}
    links = getattr(result, "links", None)
    if op.status == 201 and links and "self" in links:
        headers["Location"] = links["self"].href
    return json_response(result, op.status, headers)


class _NoConnection:
    """The connection of a handler that opens its own (``own_writes``): it has none."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("an own_writes handler opens its own reads and writes")


async def _own_writes(
    op: Operation, request: Request, svc: Services, claims: Claims, body: Any
) -> Any:
    """The guard in a short read; then the handler, holding no connection (it hashes, then
    writes in transactions of its own)."""

    async def guard(conn: Connection) -> Access:
        return await _access(conn, claims, op, request)

    access = await svc.db.run(guard, writes=False, costly=False)
    assert op.handler is not None
    conn = cast(Connection, _NoConnection())
    return await op.handler(Call(request, svc, conn, access, body, urls(request)))


def endpoint(op: Operation) -> Endpoint:
    """The Starlette endpoint of one declared operation."""
    assert op.authenticated, "an endpoint without a token is declared raw"

    async def run(request: Request) -> Response:
        svc = services(request)
        claims = bearer_claims(header(request, b"authorization"), svc.verifier)
        access.identify(request.scope, claims.client_id, claims.user_id)
        body: Any = None if op.body is None else await read_json(request, op.body, op.max_body)
        wanted = None if op.listing is None else list_request(request, op.listing)
        prepared = None if op.prepare is None else await op.prepare(svc, body)

        async def work(conn: Connection) -> Any:
            access = await _access(conn, claims, op, request)
            call = Call(request, svc, conn, access, body, urls(request), prepared)
            if op.listing is not None and wanted is not None:
                return await run_list(call, op.listing, wanted)
            assert op.handler is not None
            return await op.handler(call)

        if op.own_writes:
            result = await _own_writes(op, request, svc, claims, body)
        else:
            result = await svc.db.run(work, writes=not op.reads, costly=wanted is not None)
        return _respond(op, result)

    run.__name__ = op.operation_id
    return run
