"""Limits shared by every process of a deployment: a request rate per client, and failed
token-endpoint authentications per source address.

Both count in fixed windows, in Redis when ``POPULACE_REDIS_URL`` is set, else in the database,
never in process memory, so N processes do not allow N times the limit.

* **Per client** (off unless ``POPULACE_RATE_LIMIT`` is set): a client may make ``limit``
  requests in each second; the next gets 429 ``REQUEST_LIMITED`` with ``Retry-After``. The
  management API counts the bearer token's client; the token endpoint counts a client only
  once it has authenticated, so strangers who know a client id cannot spend its allowance,
  and unknown client ids leave no rows.
* **Failed authentications per address** (on by default, ``POPULACE_TOKEN_FAILURE_LIMIT`` a
  minute): past the limit, every token request from that address gets 429 until the minute
  ends, which turns a password-guessing loop into a few guesses a minute.
"""

from __future__ import annotations

import time
from typing import Protocol

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from starlette.types import ASGIApp, Receive, Scope, Send

from populace.auth.actors import bearer_claims
from populace.errors import ApiError, request_limited
from populace.http.responses import error_response
from populace.services import Services
from populace.storage.database import Database
from populace.storage.prepared import Prepared
from populace.storage.schema import rate_windows

_CLEANUP_EVERY = 1000


class Counter(Protocol):
    """Counts events by key in windows named by the epoch second they start at."""

    async def hit(self, key: str, window: int) -> int:
        """Count one event of ``key`` in ``window``; return the count so far."""

    async def peek(self, key: str, window: int) -> int:
        """The count of ``key`` in ``window``, without counting."""


# Every token request and sign-on step peeks: prepared once (``storage/prepared.py``).
_PEEK = Prepared(
    select(rate_windows.c.count).where(
        rate_windows.c.client_id == bindparam("key"), rate_windows.c.window == bindparam("window")
    )
)


class DatabaseCounter:
    """Windows in the ``rate_windows`` table (its only writer)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert = sqlite_insert if db.is_sqlite else pg_insert
        self._hits = 0

    async def hit(self, key: str, window: int) -> int:
        statement = (
            self._insert(rate_windows)
            .values(client_id=key, window=window, count=1)
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
                # A window is named by the second it starts at; none lasts an hour.
                stale = rate_windows.c.window < int(time.time()) - 3600
                await conn.execute(delete(rate_windows).where(stale))
        return count

    async def peek(self, key: str, window: int) -> int:
        async with self._db.read() as conn:
            return int(await _PEEK.scalar(conn, key=key, window=window) or 0)


class RedisCounter:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)

    async def hit(self, key: str, window: int) -> int:
        name = f"populace:rate:{key}:{window}"
        pipeline = self._redis.pipeline(transaction=True)
        pipeline.incr(name)
        pipeline.expire(name, 120)
        count, _ = await pipeline.execute()
        return int(count)

    async def peek(self, key: str, window: int) -> int:
        return int(await self._redis.get(f"populace:rate:{key}:{window}") or 0)


def _limited(limit: int, seconds: int, now: float, what: str) -> ApiError:
    window_end = (int(now) // seconds + 1) * seconds
    retry_after = max(1, int(window_end - now + 0.999))
    return request_limited(what, retry_after, quotaLimit=limit)


class RateLimiter:
    """Requests per client per second."""

    def __init__(self, limit: int, counter: Counter) -> None:
        self.limit = limit
        self._counter = counter

    async def check(self, client_id: str) -> None:
        now = time.time()
        if await self._counter.hit(client_id, int(now)) > self.limit:
            what = f"At most {self.limit} requests per second are allowed for this client."
            raise _limited(self.limit, 1, now, what)


class FailureThrottle:
    """Failed authentications (of clients at the token endpoint, of users signing on) per
    source address per minute."""

    def __init__(self, limit: int, counter: Counter) -> None:
        self.limit = limit
        self._counter = counter

    def _key(self, address: str) -> tuple[str, int]:
        return f"auth-failures:{address}", int(time.time()) // 60 * 60

    async def check(self, address: str) -> None:
        """429 while the address has used up its failures of this minute."""
        if await self._counter.peek(*self._key(address)) >= self.limit:
            what = (
                f"At most {self.limit} failed authentications a minute are allowed from one "
                "address."
            )
            raise _limited(self.limit, 60, time.time(), what)

    async def failed(self, address: str) -> None:
        await self._counter.hit(*self._key(address))


class RateLimitMiddleware:
    """The limit on the management API (the ``/v1`` mount), keyed by the bearer token's caller,
    before any handler opens a transaction. Requests without a valid token pass on to get
    their 401."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services = scope["app"].state.services
        limiter = services.limiter
        if limiter is not None and scope["type"] == "http":
            caller = _caller(scope, services)
            if caller is not None:
                try:
                    await limiter.check(caller)
                except ApiError as error:
                    await error_response(error)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _caller(scope: Scope, services: Services) -> str | None:
    """An application's id, or for a user's token the application's and the user's: a
    user (even with a revoked token) spends only its own allowance, never its application's."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            try:
                return bearer_claims(value.decode("latin-1"), services.verifier).caller
            except ApiError:
                return None
    return None


def limits(
    rate_limit: int, failure_limit: int, redis_url: str | None, db: Database
) -> tuple[RateLimiter | None, FailureThrottle | None]:
    """The deployment's limits (None where switched off), sharing one counter."""
    counter = RedisCounter(redis_url) if redis_url else DatabaseCounter(db)
    return (
        RateLimiter(rate_limit, counter) if rate_limit > 0 else None,
        FailureThrottle(failure_limit, counter) if failure_limit > 0 else None,
    )
