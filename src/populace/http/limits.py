"""A request rate limit per client, shared by every process of a deployment.

Fixed one-second windows: a client may make ``limit`` requests in each second; the next one
gets 429 ``REQUEST_LIMITED`` with ``Retry-After``. The counter lives in Redis when
``POPULACE_REDIS_URL`` is set, else in the database, never in process memory, so N processes
do not give a client N times the limit. Off unless ``POPULACE_RATE_LIMIT`` is set.
"""

from __future__ import annotations

import time
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from starlette.types import ASGIApp, Receive, Scope, Send

from populace.auth.actors import bearer_claims
from populace.errors import ApiError, Detail
from populace.http.responses import error_response
from populace.services import Services
from populace.storage.database import Database
from populace.storage.schema import rate_windows

_CLEANUP_EVERY = 1000


class Counter(Protocol):
    async def hit(self, client_id: str, window: int) -> int:
        """Count one request of ``client_id`` in ``window``; return the count so far."""


class DatabaseCounter:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert = sqlite_insert if db.is_sqlite else pg_insert
        self._hits = 0

    async def hit(self, client_id: str, window: int) -> int:
        statement = (
            self._insert(rate_windows)
            .values(client_id=client_id, window=window, count=1)
            .on_conflict_do_update(
                index_elements=["client_id", "window"],
                set_={"count": rate_windows.c.count + 1},
            )
            .returning(rate_windows.c.count)
        )
        async with self._db.write() as conn:
            count = int((await conn.execute(statement)).scalar_one())
            self._hits += 1
            if self._hits % _CLEANUP_EVERY == 0:
                await conn.execute(delete(rate_windows).where(rate_windows.c.window < window - 60))
        return count


class RedisCounter:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)

    async def hit(self, client_id: str, window: int) -> int:
        key = f"populace:rate:{client_id}:{window}"
        pipeline = self._redis.pipeline(transaction=True)
        pipeline.incr(key)
        pipeline.expire(key, 5)
        count, _ = await pipeline.execute()
        return int(count)


class RateLimiter:
    def __init__(self, limit: int, counter: Counter) -> None:
        self.limit = limit
        self._counter = counter

    async def check(self, client_id: str) -> None:
        now = time.time()
        window = int(now)
        if await self._counter.hit(client_id, window) > self.limit:
            retry_after = max(1, int(window + 1 - now + 0.999))
            raise ApiError(
                429,
                "REQUEST_LIMITED",
                "The request could not be completed. Too many requests.",
                [
                    Detail(
                        "LIMIT_EXCEEDED",
                        f"At most {self.limit} requests per second are allowed for this client.",
                        inner_error={"retryAfter": retry_after, "quotaLimit": self.limit},
                    )
                ],
                headers={"Retry-After": str(retry_after)},
            )


class RateLimitMiddleware:
    """The limit on the management API (the ``/v1`` mount), keyed by the bearer token's client,
    before any handler opens a transaction. Requests without a valid token pass on to get
    their 401."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services = scope["app"].state.services
        limiter = services.limiter
        if limiter is not None and scope["type"] == "http":
            client_id = _client_id(scope, services)
            if client_id is not None:
                try:
                    await limiter.check(client_id)
                except ApiError as error:
                    await error_response(error)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _client_id(scope: Scope, services: Services) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            try:
                return bearer_claims(value.decode("latin-1"), services.verifier).client_id
            except ApiError:
                return None
    return None


def rate_limiter(limit: int, redis_url: str | None, db: Database) -> RateLimiter | None:
    if limit <= 0:
        return None
    return RateLimiter(limit, RedisCounter(redis_url) if redis_url else DatabaseCounter(db))
