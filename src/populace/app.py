"""The ASGI application: routes of every resource, PingOne's error envelope, Correlation-Id."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from populace import __version__
from populace.applications.api import router as applications_router
from populace.auth.api import router as auth_router
from populace.auth.keys import load_key_ring
from populace.auth.limits import RateLimitMiddleware, rate_limiter
from populace.auth.secrets import load_secret_box
from populace.auth.tokens import TokenVerifier
from populace.bootstrap import AdminCredentials, bootstrap
from populace.config import Config
from populace.configuration.api import router as configuration_router
from populace.environments.api import router as environments_router
from populace.errors import ApiError, OAuthError, invalid_request, not_found, service_unavailable
from populace.openapi import ApiRouter, build_document
from populace.populations.api import router as populations_router
from populace.storage.database import Database, DatabaseUnavailable
from populace.storage.migrate import deployment_lock, upgrade
from populace.users.api import router as users_router
from populace.web import JSONResponse, Services

log = logging.getLogger("populace")

# Starlette tries routes in order: the busiest resources come first.
ROUTERS: list[ApiRouter] = [
    populations_router,
    users_router,
    auth_router,
    environments_router,
    configuration_router,
    applications_router,
]


async def start(config: Config) -> tuple[Services, AdminCredentials]:
    """Migrate, bootstrap and load keys: everything a process needs before it serves."""
    db = Database(config.database_url)
    async with deployment_lock(db):
        await upgrade(db)
        async with db.write() as conn:
            box = await load_secret_box(conn)
            keys = await load_key_ring(conn, box)
            admin = await bootstrap(conn, config, box)
    limiter = rate_limiter(config.rate_limit, config.redis_url, db)
    verifier = TokenVerifier(keys)
    return Services(config, db, box, keys, verifier, admin.organization_id, limiter), admin


_PROCESS_BITS = os.urandom(8).hex()
_sequence = itertools.count()


def correlation_id() -> str:
    """A UUID-shaped id, unique across processes (60 random bits per process) and requests (a
    counter): ten times cheaper than uuid4, which needs a system call per response."""
    n = next(_sequence)
    p = _PROCESS_BITS
    return f"{p[:8]}-{p[8:12]}-4{p[12:15]}-a{n >> 48 & 0xFFF:03x}-{n & 0xFFFFFFFFFFFF:012x}"


class CorrelationId:
    """The outermost layer: a ``Correlation-Id`` header on every response, 500s included;
    paths with a NUL byte are answered 404 here.

    Starlette renders an unexpected exception with our 500 handler and then re-raises it so the
    server can log it; it has been logged already, so here it ends.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"correlation-id", correlation_id().encode()))
                message["headers"] = headers
            await send(message)

        if "\x00" in scope["path"]:
            # No resource has a NUL in its path, and PostgreSQL cannot even compare one.
            response = _error_response(not_found())
            await response(scope, receive, send_with_id)
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.debug("unexpected error already answered with 500", exc_info=True)


class RateLimited:
    """Applies the deployment's rate limit, if one is configured, once services are started."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._limited: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._limited is None:
            services: Services = self.app.state.services
            limiter = services.limiter
            self._limited = (
                self.app
                if limiter is None
                else RateLimitMiddleware(self.app, limiter, services.verifier)
            )
        await self._limited(scope, receive, send)


def _error_response(error: ApiError) -> Response:
    return JSONResponse(error.to_json(), status_code=error.status, headers=error.headers or None)


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_response(exc)


async def _oauth_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="populace"'
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status,
        headers=headers,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405, in PingOne's envelope."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _error_response(not_found())
    if exc.status_code == 405:
        error = ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            f"The request method {request.method} is not supported for this resource.",
            headers=dict(exc.headers or {}),
        )
        return _error_response(error)
    return _error_response(invalid_request(str(exc.detail), status=exc.status_code))


async def _database_error(request: Request, exc: Exception) -> Response:
    """A database that cannot be reached is the service being unavailable, not a bug: 503
    with Retry-After. Broken connections have left the pool, so the service recovers by
    itself when the database is back."""
    unavailable = isinstance(exc, DatabaseUnavailable | OSError | TimeoutError) or (
        isinstance(exc, DBAPIError)
        and (isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated)
    )
    if unavailable:
        log.warning("database unavailable: %s", exc)
        return _error_response(service_unavailable())
    return await _unexpected(request, exc)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return _error_response(
        ApiError(500, "UNEXPECTED_ERROR", "An unexpected error occurred. Try again later.")
    )


async def _openapi(request: Request) -> Response:
    document: dict[str, Any] = request.app.state.openapi
    return JSONResponse(document)


def build_app(services: Services | None = None, config: Config | None = None) -> ASGIApp:
    """The application. With ``services`` it serves at once (tests); otherwise its lifespan
    starts them from ``config`` (``populace serve``)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is None:
            started, _ = await start(config or Config.from_environment())
            app.state.services = started
        yield
        await app.state.services.db.dispose()

    routes: list[Any] = [route for router in ROUTERS for route in router.routes()]
    routes.append(Route("/openapi.json", _openapi, methods=["GET"]))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: _api_error,
            OAuthError: _oauth_error,
            HTTPException: _http_error,
            DBAPIError: _database_error,
            DatabaseUnavailable: _database_error,
            OSError: _database_error,
            TimeoutError: _database_error,
            Exception: _unexpected,
        },
    )
    app.state.openapi = build_document(ROUTERS, __version__)
    if services is not None:
        app.state.services = services
    return CorrelationId(RateLimited(app))


def create_app() -> ASGIApp:
    """Factory for uvicorn workers: configuration comes from ``POPULACE_*`` variables."""
    return build_app(config=Config.from_environment())
