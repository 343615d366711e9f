"""Routes that describe themselves: each resource registers its operations with the structs it
decodes and encodes, and ``/openapi.json`` is built from exactly those structs."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]

_ERROR_STATUSES = {
    400: "Invalid data",
    401: "Missing or invalid access token",
    403: "The actor lacks a role for this resource",
    404: "Not found",
    413: "Body too large",
    415: "Unsupported media type",
}


class ErrorDetail(msgspec.Struct, omit_defaults=True):
    code: str
    message: str
    target: str | None = None
    innerError: dict[str, Any] | None = None


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """PingOne's error envelope."""

    id: str
    code: str
    message: str
    details: list[ErrorDetail] | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    endpoint: Endpoint
    summary: str
    request: type | None
    response: type | None
    status: int
    authenticated: bool
    list_of: str | None  # the _embedded key when the response is a page of `response`
    form: bool


@dataclass(slots=True)
class ApiRouter:
    """One resource's operations."""

    tag: str
    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        request: type | None = None,
        response: type | None = None,
        status: int = 200,
        authenticated: bool = True,
        list_of: str | None = None,
        form: bool = False,
    ) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            self.operations.append(
                Operation(
                    method,
                    path,
                    endpoint,
                    summary,
                    request,
                    response,
                    status,
                    authenticated,
                    list_of,
                    form,
                )
            )
            return endpoint

        return register

    def routes(self) -> list[Route]:
        """One Starlette route per path, so a wrong method gets 405 with an ``Allow`` header
        that lists every method the path supports."""
        by_path: dict[str, dict[str, Endpoint]] = {}
        for op in self.operations:
            by_path.setdefault(op.path, {})[op.method] = op.endpoint
        return [_route(path, handlers) for path, handlers in by_path.items()]


def _route(path: str, handlers: dict[str, Endpoint]) -> Route:
    if len(handlers) == 1:
        ((method, endpoint),) = handlers.items()
        return Route(path, endpoint, methods=[method])
    if "GET" in handlers:
        handlers = {**handlers, "HEAD": handlers["GET"]}

    async def dispatch(request: Request) -> Response:
        return await handlers[request.method](request)

    return Route(path, dispatch, methods=list(handlers))


def _page_struct(item: type, key: str) -> type:
    embedded = msgspec.defstruct(f"{item.__name__}Embedded", [(key, list[item])])  # type: ignore[valid-type]
    return msgspec.defstruct(
        f"{item.__name__}Page",
        [
            ("_links", dict[str, dict[str, str]]),
            ("_embedded", embedded),
            ("count", int | None, None),
            ("size", int, 0),
        ],
    )


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    if op.list_of:
        params += [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            {"name": "filter", "in": "query", "schema": {"type": "string"}},
        ]
    return params


def build_document(routers: list[ApiRouter], version: str) -> dict[str, Any]:
    structs: list[type] = [ErrorBody]
    shapes: dict[tuple[str, str], tuple[type | None, type | None]] = {}
    for router in routers:
        for op in router.operations:
            response = (
                _page_struct(op.response, op.list_of) if op.list_of and op.response else op.response
            )
            shapes[(op.path, op.method)] = (op.request, response)
            structs += [t for t in (op.request, response) if t is not None]
    schemas, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    by_type = dict(zip(structs, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for router in routers:
        for op in router.operations:
            request, response = shapes[(op.path, op.method)]
            entry: dict[str, Any] = {
                "tags": [router.tag],
                "summary": op.summary,
                "operationId": op.endpoint.__name__,
                "parameters": _parameters(op),
                "responses": {},
            }
            if request is not None:
                media = "application/x-www-form-urlencoded" if op.form else "application/json"
                entry["requestBody"] = {
                    "required": True,
                    "content": {media: {"schema": by_type[request]}},
                }
            ok: dict[str, Any] = {"description": "Success"}
            if response is not None:
                ok["content"] = {"application/json": {"schema": by_type[response]}}
            entry["responses"][str(op.status)] = ok
            error = {"content": {"application/json": {"schema": by_type[ErrorBody]}}}
            for status, text in _ERROR_STATUSES.items():
                if status in (401, 403) and not op.authenticated:
                    continue
                entry["responses"][str(status)] = {"description": text, **error}
            if op.authenticated:
                entry["security"] = [{"bearer": []}]
            paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "populace", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
