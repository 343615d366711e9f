"""The ASGI application: routes of every resource, PingOne's error envelope, Correlation-Id."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from populace import __version__, emulation
from populace.applications.api import router as applications_router
from populace.assignments.api import router as assignments_router
from populace.auth.keys import load_key_ring
from populace.auth.secrets import load_secret_box
from populace.auth.tokens import TokenVerifier
from populace.bootstrap import AdminCredentials, bootstrap
from populace.config import Config
from populace.configuration.api import router as configuration_router
from populace.console.api import routes as console_routes
from populace.control import behaviour
from populace.control.api import health_router
from populace.control.api import router as control_router
from populace.environments.api import router as environments_router
from populace.errors import (
    ApiError,
    OAuthError,
    invalid_request,
    method_not_allowed,
    not_found,
    service_unavailable,
    unexpected,
)
from populace.groups.api import router as groups_router
from populace.http import access
from populace.http.fallback import Fallback, pingone_operations
from populace.http.faults import FaultMiddleware
from populace.http.limits import RateLimitMiddleware, limits
from populace.http.openapi import build_document
from populace.http.responses import error_response, json_response
from populace.http.router import CONTROL_API, MANAGEMENT_API, ApiRouter, routes
from populace.oauth.api import router as oauth_router
from populace.oauth.flows import router as flows_router
from populace.oauth.page import router as sign_on_page_router
from populace.organizations.api import router as organizations_router
from populace.outbox.api import router as outbox_router
from populace.passwords.api import router as passwords_router
from populace.passwords.hashing import Hasher
from populace.populations.api import router as populations_router
from populace.roles.api import router as roles_router
from populace.services import Services
from populace.storage.database import Database, DatabaseUnavailable
from populace.storage.migrate import deployment_lock, upgrade
from populace.users.api import router as users_router

log = logging.getLogger("populace")

# Starlette tries routes in order: the busiest resources come first.
ROUTERS: list[ApiRouter] = [
    populations_router,
    users_router,
    passwords_router,
    groups_router,
    oauth_router,
    flows_router,
    sign_on_page_router,
    environments_router,
    configuration_router,
    applications_router,
    assignments_router,
    organizations_router,
    roles_router,
    outbox_router,
    control_router,
    health_router,
]
AUTHORIZATION_SERVER = "/{envID}/as"
FLOWS = "/{envID}/flows"
SIGN_ON_PAGE = "/{envID}/signon"


async def start(config: Config) -> tuple[Services, AdminCredentials]:
    """Migrate, bootstrap and load keys: everything a process needs before it serves."""
    db = Database.from_config(config)
    async with deployment_lock(db):
        await upgrade(db)
        async with db.write() as conn:
            box = await load_secret_box(conn, config.secret_key)
            keys = await load_key_ring(conn, box)
            admin = await bootstrap(conn, config, box)
        if db.is_sqlite:  # PostgreSQL keeps its statistics by itself
            await db.refresh_statistics()
    limiter, throttle = limits(config.rate_limit, config.token_failure_limit, config.redis_url, db)
    verifier = TokenVerifier(keys)
    hasher = Hasher(config.password_hash_cost)
    services = Services(
        config, db, box, keys, verifier, admin.organization_id, hasher, limiter, throttle
    )
    return services, admin


_PROCESS_BITS = os.urandom(8).hex()
_sequence = itertools.count()


def correlation_id() -> str:
    """A UUID-shaped id, unique across processes (60 random bits per process) and requests (a
    counter): ten times cheaper than uuid4, which needs a system call per response."""
    n = next(_sequence)
    p = _PROCESS_BITS
    return f"{p[:8]}-{p[8:12]}-4{p[12:15]}-a{n >> 48 & 0xFFF:03x}-{n & 0xFFFFFFFFFFFF:012x}"


class CorrelationId:
    """The outermost layer: a ``Correlation-Id`` header on every response, 500s included, and
    the request's access line (``http/access.py``); paths with a NUL byte are answered 404
    here.

    Starlette renders an unexpected exception with our 500 handler and then re-raises it so the
    server can log it; it has been logged already, so here it ends.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        answered: dict[str, Any] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["id"], answered["status"] = correlation_id(), message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"correlation-id", answered["id"].encode()))
                message["headers"] = headers
            await send(message)

        if "\x00" in scope["path"]:
            # No resource has a NUL in its path, and PostgreSQL cannot even compare one.
            response = error_response(not_found())
            await response(scope, receive, send_with_id)
            return
        services: Services | None = getattr(self.app.state, "services", None)  # type: ignore[attr-defined]
        try:
            if services is None:  # starting: no deployment to emulate yet
                await self.app(scope, receive, send_with_id)
            else:
                with emulation.current(services.emulation):
                    await self.app(scope, receive, send_with_id)
        except Exception:
            log.debug("unexpected error already answered with 500", exc_info=True)
        finally:
            if answered:
                elapsed = time.perf_counter() - started
                access.record(scope, answered["status"], elapsed, answered["id"])
                if services is not None:
                    access.remember(
                        services.recent, scope, answered["status"], elapsed, answered["id"]
                    )


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError | OAuthError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405, in PingOne's envelope."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(not_found())
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return error_response(method_not_allowed(request.method, allowed))
    return error_response(invalid_request(str(exc.detail), status=exc.status_code))


async def _database_error(request: Request, exc: Exception) -> Response:
    """A database that cannot be reached is the service being unavailable, not a bug: 503
    with Retry-After. Broken connections have left the pool, so the service recovers by
    itself when the database is back."""
    unavailable = isinstance(exc, DatabaseUnavailable | OSError | TimeoutError) or (
        isinstance(exc, DBAPIError)
        and (isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated)
    )
    if unavailable:
        log.warning("database unavailable: %s", type(exc).__name__)
        return error_response(service_unavailable())
    return await _unexpected(request, exc)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return error_response(unexpected())


async def _openapi(request: Request) -> Response:
    document: dict[str, Any] = request.app.state.openapi
    return json_response(document)


_DOCS_PAGE = (Path(__file__).parent / "http" / "docs.html").read_bytes()


async def _docs(_request: Request) -> Response:
    """Browsable API docs: one page that renders /openapi.json, with no asset from elsewhere."""
    return Response(_DOCS_PAGE, media_type="text/html; charset=utf-8")


def surfaces(control_api: bool = True) -> list[BaseRoute]:
    """Each surface is a Mount with its own middleware: the management API (rate-limited per
    client; what it does not serve falls back to 405, 501 or 404), the authorization server
    of each environment with its flows API and hosted sign-on page, and populace's own
    control API (when it is off, only its health
    checks: every other path under it is 404)."""
    served = routes(ROUTERS, MANAGEMENT_API)
    fallback = Fallback(served, pingone_operations())
    return [
        Mount(
            MANAGEMENT_API,
            routes=[*served, fallback.route()],
            middleware=[Middleware(RateLimitMiddleware)],
        ),
        Mount(AUTHORIZATION_SERVER, routes=routes(ROUTERS, AUTHORIZATION_SERVER)),
        Mount(FLOWS, routes=routes(ROUTERS, FLOWS)),
        Mount(SIGN_ON_PAGE, routes=routes(ROUTERS, SIGN_ON_PAGE)),
        Mount(CONTROL_API, routes=routes(ROUTERS if control_api else [health_router], CONTROL_API)),
        *console_routes(),
        Route("/openapi.json", _openapi, methods=["GET"]),
        Route("/docs", _docs, methods=["GET"]),
    ]


async def _keep_emulation_fresh(services: Services) -> None:
    """Copy the test clock and fault rules other processes set (``control/behaviour.py``)."""
    while True:
        try:
            async with services.db.read() as conn:
                await behaviour.refresh(conn, services.emulation)
        except Exception:  # the database is away: keep what is known, try again
            log.debug("could not refresh the emulation settings", exc_info=True)
        await asyncio.sleep(emulation.REFRESH_SECONDS)


def _settle_heap() -> None:
    """What start-up made (modules, SQLAlchemy's tables and statements, the routes: about a
    hundred thousand objects) lives as long as the process: moved out of the collector's
    reach, so a full collection no longer walks it. On this machine each such walk took 70 ms
    of a request's time; it now walks only what serving has made since."""
    gc.collect()
    gc.freeze()


def build_app(services: Services | None = None, config: Config | None = None) -> ASGIApp:
    """The application. With ``services`` it serves at once (tests); otherwise its lifespan
    starts them from ``config`` (``populace serve``)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is None:
            started, _ = await start(settings)
            app.state.services = started
        refreshing = asyncio.create_task(_keep_emulation_fresh(app.state.services))
        _settle_heap()
        yield
        refreshing.cancel()
        await app.state.services.db.dispose()

    settings = services.config if services is not None else config or Config.from_environment()
    app = Starlette(
        routes=surfaces(settings.control_api),
        middleware=[Middleware(FaultMiddleware)],
        lifespan=lifespan,
        exception_handlers={
            ApiError: _api_error,
            OAuthError: _api_error,
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
    return CorrelationId(app)


def create_app() -> ASGIApp:
    """Factory for uvicorn workers: configuration comes from ``POPULACE_*`` variables."""
    config = Config.from_environment()
    access.configure(config.log_format, config.log_level, config.access_log)
    return build_app(config=config)
