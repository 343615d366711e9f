"""Declarations: each resource lists its operations once, with everything the dispatcher and
the OpenAPI document need, and nothing else::

    router = ApiRouter("Populations")

    @router.post("/environments/{envID}/populations", Permission.POPULATION_CREATE)
    async def create_population(call: Call[PopulationBody]) -> Population:
        \"\"\"Create a population.\"\"\"
        ...

    router.listing("/environments/{envID}/populations", POPULATIONS,
                   Permission.POPULATION_READ, partial=True)

The handler's types are the declaration: ``Call[PopulationBody]`` is the body the dispatcher
decodes (``Call[None]``: none), the return annotation the struct it encodes (``None``: 204),
the docstring's first line the summary. Statuses follow the method (POST 201, DELETE 204,
else 200). An endpoint that must read the request itself (the token endpoint's form body) is
declared with :meth:`ApiRouter.raw` and takes the Starlette ``Request``.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from populace.auth.roles import Permission
from populace.errors import invalid_request
from populace.wire import MAX_BODY_BYTES

if TYPE_CHECKING:
    from populace.http.dispatch import Call
    from populace.http.lists import Listing

Handler = Callable[["Call[Any]"], Awaitable[Any]]
Endpoint = Callable[[Request], Awaitable[Response]]
_PARAMETER = re.compile(r"{(\w+)}")
_STATUS = {"POST": 201, "DELETE": 204}
MANAGEMENT_API = "/v1"
CONTROL_API = "/_populace"  # populace's own control API: never under /v1


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # the full path, prefix included
    summary: str
    operation_id: str
    handler: Handler | None = None
    raw: Endpoint | None = None
    listing: Listing | None = None
    body: type | None = None
    response: type | None = None
    status: int = 200
    permission: Permission | None = None
    authenticated: bool = True
    # Actors whose grants cover only some populations (or, organization-wide, some
    # environments) may call it; the rule or the list limits them to those.
    partial: bool = False
    no_store: bool = False  # the response carries a secret or a token
    form: bool = False  # the documented body is form-encoded
    # The Content-Type that selects this operation among others on the same path and method
    # (PingOne's password operations); None: the one operation there, taking JSON.
    media_type: str | None = None
    # The handler opens its own write transactions (it must commit a failure before
    # answering it, or hash with no transaction open); the dispatcher gives it a reader.
    own_writes: bool = False
    # Work on the decoded body done before any transaction opens (hashing a new user's
    # password); the handler finds its result in ``call.prepared``.
    prepare: Callable[[Any, Any], Awaitable[Any]] | None = None
    # The error statuses it answers, with their body's struct; None: the management API's.
    errors: Mapping[int, type] | None = None
    max_body: int = MAX_BODY_BYTES  # bytes of body it reads at most (413 past them)
    # Answers that are not JSON, by status: HTML pages, and redirects (a Location, no
    # body), which the authorization server sends a browser.
    pages: Mapping[int, str] | None = None
    redirects: Mapping[int, str] | None = None

    @property
    def parameters(self) -> list[str]:
        return _PARAMETER.findall(self.path)

    @property
    def check_environment(self) -> bool:
        """Does the guard confirm the environment exists? Only where nothing else will: an
        operation on the collection itself (create, list). One that looks up an object of the
        environment answers 404 for a missing object either way."""
        return self.parameters == ["envID"] and not self.path.endswith("}")

    @property
    def reads(self) -> bool:
        return self.method == "GET"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _summary(function: Callable[..., Any]) -> str:
    doc = (function.__doc__ or "").strip()
    assert doc, f"{function.__name__}: its docstring's first line is the operation's summary"
    return doc.splitlines()[0].rstrip(".")


def _shapes(handler: Handler) -> tuple[type | None, type | None]:
    """The body and response types a handler declares: ``Call[Body]`` and its return type."""
    hints = typing.get_type_hints(handler)
    (body,) = typing.get_args(hints["call"])
    response = hints["return"]
    none = type(None)
    return (None if body is none else body), (None if response is none else response)


Declare = Callable[[Handler], Handler]


def _verb(method: str) -> Callable[..., Declare]:
    """``router.get(path, permission, **options)`` and its siblings, one per method."""

    def declare(
        router: ApiRouter, path: str, permission: Permission | None = None, **options: Any
    ) -> Declare:
        return router._declare(method, path, permission, options)

    return declare


@dataclass(slots=True)
class ApiRouter:
    """One resource's operations, under one mount (``/v1`` unless told otherwise)."""

    tag: str
    prefix: str = MANAGEMENT_API
    operations: list[Operation] = field(default_factory=list)

    def _declare(
        self, method: str, path: str, permission: Permission | None, options: dict[str, Any]
    ) -> Declare:
        def register(handler: Handler) -> Handler:
            body, response = _shapes(handler)
            self.operations.append(
                Operation(
                    method,
                    self.prefix + path,
                    _summary(handler),
                    handler.__name__,
                    handler=handler,
                    body=body,
                    response=response,
                    permission=permission,
                    **{"status": _STATUS.get(method, 200), **options},
                )
            )
            return handler

        return register

    get = _verb("GET")
    post = _verb("POST")
    put = _verb("PUT")
    patch = _verb("PATCH")
    delete = _verb("DELETE")

    def listing(
        self,
        path: str,
        listing: Listing,
        permission: Permission | None = None,
        *,
        name: str | None = None,
        **options: Any,
    ) -> None:
        """A list served by its declaration alone: the list layer does all of it. ``name``
        (the operation id) defaults to ``list_<key>``."""
        self.operations.append(
            Operation(
                "GET",
                self.prefix + path,
                f"List {listing.key}",
                name or f"list_{_snake(listing.key)}",
                listing=listing,
                response=listing.item,
                permission=permission,
                **options,
            )
        )

    def raw(self, method: str, path: str, **declared: Any) -> Callable[[Endpoint], Endpoint]:
        """An endpoint that takes the request itself; ``declared`` documents its shapes."""

        def register(endpoint: Endpoint) -> Endpoint:
            self.operations.append(
                Operation(
                    method,
                    self.prefix + path,
                    _summary(endpoint),
                    endpoint.__name__,
                    raw=endpoint,
                    **declared,
                )
            )
            return endpoint

        return register


def routes(routers: list[ApiRouter], prefix: str) -> list[BaseRoute]:
    """The Starlette routes of every operation under ``prefix``, one route per path, so a wrong
    method gets 405 with an ``Allow`` header that lists every method the path supports."""
    from populace.http.dispatch import endpoint

    by_path: dict[str, dict[str, dict[str | None, Endpoint]]] = {}
    for router in routers:
        if router.prefix != prefix:
            continue
        for op in router.operations:
            path = op.path.removeprefix(prefix)
            by_media = by_path.setdefault(path, {}).setdefault(op.method, {})
            by_media[op.media_type] = op.raw or endpoint(op)
    return [
        _route(path, {method: _by_media_type(each) for method, each in methods.items()})
        for path, methods in by_path.items()
    ]


def media_type(request: Request) -> str:
    return _plain(request.headers.get("content-type", "").split(";", 1)[0])


def _plain(media: str) -> str:
    """A media type as operations are told apart: PingOne's pages spell some with and some
    without ``+json`` (``password.unlock``), so the suffix does not count."""
    return media.strip().lower().removesuffix("+json")


def _by_media_type(endpoints: dict[str | None, Endpoint]) -> Endpoint:
    """One endpoint, or one chosen by the request's Content-Type. An operation declared
    without a media type takes every other Content-Type (``application/json``, the plain
    create beside ``user.import``); without one, any other is 415."""
    if list(endpoints) == [None]:
        return endpoints[None]
    chosen = {_plain(name): each for name, each in endpoints.items() if name is not None}
    accepted = ", ".join(sorted(name for name in endpoints if name is not None))
    otherwise = endpoints.get(None)

    async def by_media_type(request: Request) -> Response:
        found = chosen.get(media_type(request), otherwise)
        if found is None:
            raise invalid_request(
                f"The request's Content-Type selects the operation; use one of: {accepted}.",
                status=415,
            )
        return await found(request)

    return by_media_type


def _route(path: str, handlers: dict[str, Endpoint]) -> Route:
    if len(handlers) == 1:
        ((method, only),) = handlers.items()
        return Route(path, only, methods=[method])
    if "GET" in handlers:
        handlers = {**handlers, "HEAD": handlers["GET"]}

    async def by_method(request: Request) -> Response:
        return await handlers[request.method](request)

    return Route(path, by_method, methods=list(handlers))
