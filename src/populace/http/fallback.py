"""What the management API answers for a request no declared operation takes.

* A method the path does not support, where populace serves the path: 405 with an ``Allow``
  header that lists every method populace serves there.
* An operation PingOne defines that populace does not serve: 501 ``NOT_IMPLEMENTED``, naming
  the operation, so a user can tell a missing feature from a typo.
* Anything else: 404.

PingOne's operations are listed in ``pingone_operations.txt`` (from Ping's own OpenAPI
document); path parameters match any one segment, whatever they are named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from populace.errors import ApiError, method_not_allowed, not_found
from populace.http.responses import error_response

_OPERATIONS_FILE = Path(__file__).with_name("pingone_operations.txt")


@dataclass(frozen=True, slots=True)
class PingOneOperation:
    method: str
    template: str
    name: str
    pattern: re.Pattern[str]


def _pattern(template: str) -> re.Pattern[str]:
    parts = [r"[^/]+" if p.startswith("{") else re.escape(p) for p in template.split("/")]
    return re.compile("/".join(parts))


def pingone_operations(text: str | None = None) -> list[PingOneOperation]:
    lines = (text if text is not None else _OPERATIONS_FILE.read_text()).splitlines()
    operations = []
    for line in lines:
        if line.strip() and not line.startswith("#"):
            method, template, *name = line.split()
            operations.append(
                PingOneOperation(method, template, name[0] if name else "", _pattern(template))
            )
    return operations


def not_implemented(operation: PingOneOperation) -> ApiError:
    what = f"{operation.method} /v1{operation.template}"
    named = f"{operation.name} ({what})" if operation.name else what
    return ApiError(
        501,
        "NOT_IMPLEMENTED",
        f"The request could not be completed. populace does not implement {named} yet.",
    )


class Fallback:
    """The last route of the management API's mount: it takes every path and method."""

    def __init__(self, served: list[BaseRoute], operations: list[PingOneOperation]) -> None:
        self._served = [route for route in served if isinstance(route, Route)]
        self._operations = operations

    def route(self) -> Route:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return Route("/{rest:path}", self._answer, methods=methods)

    async def _answer(self, request: Request) -> Response:
        path = "/" + request.path_params["rest"]
        allowed = self._served_methods(request)
        for operation in self._operations:
            if operation.method == request.method and operation.pattern.fullmatch(path):
                return error_response(not_implemented(operation))
        if allowed:
            return error_response(method_not_allowed(request.method, ", ".join(sorted(allowed))))
        return error_response(not_found())

    def _served_methods(self, request: Request) -> set[str]:
        """The methods populace serves at the request's path (none: it serves no such path)."""
        scope = {**request.scope, "method": "__none__"}
        methods: set[str] = set()
        for route in self._served:
            match, _ = route.matches(scope)
            if match is Match.PARTIAL and route.methods:
                methods |= route.methods
        return methods
