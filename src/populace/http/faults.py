"""The control API's fault rules at work: a request a rule matches is answered 429, 500 or 503
in PingOne's envelope, or delayed, before populace handles it. PingOne's SDKs retry on these
answers; this is how their users test that. Paths under ``/_populace`` are never faulted, so
the rules can always be cleared."""

from __future__ import annotations

import asyncio
import random

from starlette.types import ASGIApp, Receive, Scope, Send

from populace.control import store
from populace.emulation import FaultRule
from populace.errors import ApiError, request_limited, service_unavailable, unexpected
from populace.http.responses import error_response
from populace.services import Services

CONTROL = "/_populace"


def _error(status: int) -> ApiError:
    if status == 429:
        return request_limited("A fault rule of populace's control API answered 429.", 1)
    return service_unavailable(1) if status == 503 else unexpected()


class FaultMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services | None = getattr(scope["app"].state, "services", None)
        if scope["type"] != "http" or services is None or not services.emulation.faults:
            await self.app(scope, receive, send)
            return
        rule = await _applying(services, scope["method"], scope["path"])
        if rule is not None and rule.status is not None:
            await error_response(_error(rule.status))(scope, receive, send)
            return
        if rule is not None and rule.latency_ms is not None:
            await asyncio.sleep(rule.latency_ms / 1000)
        await self.app(scope, receive, send)


async def _applying(services: Services, method: str, path: str) -> FaultRule | None:
    """The first rule that matches and applies this time (by its probability, or while its
    count lasts: the count is spent in the database, shared by every process)."""
    if path.startswith(CONTROL):
        return None
    for rule in services.emulation.faults:
        if not rule.matches(method, path):
            continue
        if rule.probability is not None and random.random() >= rule.probability:
            continue
        if rule.remaining is not None:
            async with services.db.write() as conn:
                if not await store.spend_fault(conn, rule.id):
                    continue
        return rule
    return None
