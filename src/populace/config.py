"""Settings of one deployment, from command-line options and ``POPULACE_*`` variables.

Every setting the code reads is a field here, read from the environment in one place; the
README's table lists each variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

DEFAULT_DATABASE = "populace.db"
_PUBLIC_URL = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)
SQLITE_SYNCHRONOUS_MODES = ("NORMAL", "FULL", "EXTRA")
OFF = ("0", "false", "no", "off")  # a switch variable that turns something off


@dataclass(frozen=True, slots=True)
class Config:
    database_url: str = DEFAULT_DATABASE
    token_lifetime_seconds: int = 3600
    # Fix the bootstrap values so scripts know them in advance; generated when unset.
    admin_environment_id: str | None = None
    admin_client_id: str | None = None
    admin_client_secret: str | None = None
    # Requests per second per client; 0 turns the limit off.
    rate_limit: int = 0
    # Failed token-endpoint client authentications a minute per source address; 0: no limit.
    token_failure_limit: int = 30
    redis_url: str | None = None
    # The Fernet key that encrypts secrets at rest; generated once and kept in the database
    # when unset.
    secret_key: str | None = None
    # SQLite's durability: NORMAL survives a process kill, FULL a power loss too.
    sqlite_synchronous: str = "NORMAL"
    # SQLite virtual-machine steps one list's statement may take (about 10 s of work): past it
    # the list is refused with 400, so one client's costly filter cannot hold the database.
    sqlite_read_budget: int = 100_000_000
    # PostgreSQL connections kept per process (connections beyond it are closed on return).
    pg_pool_size: int = 32
    # How long a client may take to send a request's head, and then its body.
    read_timeout_seconds: float = 30.0
    # The base of links, token issuers and discovery ("https://id.example.com"); unset, the
    # Host the client used (which must then be a well-formed host[:port]).
    public_url: str | None = None
    # argon2id's cost for password hashes: "standard" (3 passes over 64 MiB), or "cheap" for
    # test suites that set thousands of passwords.
    password_hash_cost: str = "standard"
    # populace's own control API (/_populace: reset, snapshots, the outbox). `populace serve`
    # turns it on when it listens on a loopback address only, or when told to (--control).
    control_api: bool = True
    # Logs of a serving process: "text" or "json" lines on stderr; populace's own level; an
    # access line per request (at INFO, whatever the level).
    log_format: str = "text"
    log_level: str = "warning"
    access_log: bool = True

    def __post_init__(self) -> None:
        if self.sqlite_synchronous not in SQLITE_SYNCHRONOUS_MODES:
            raise ValueError(
                "POPULACE_SQLITE_SYNCHRONOUS must be one of " + ", ".join(SQLITE_SYNCHRONOUS_MODES)
            )
        if self.log_format not in ("text", "json"):
            raise ValueError(f"POPULACE_LOG_FORMAT must be text or json, got {self.log_format!r}")
        if self.public_url is not None and not _PUBLIC_URL.fullmatch(self.public_url):
            raise ValueError(
                f"the public URL must look like https://host[:port], got {self.public_url!r}"
            )

    @classmethod
    def from_environment(cls, database_url: str | None = None) -> Config:
        """The settings from ``POPULACE_*`` variables; ValueError naming the variable for any
        that does not parse."""
        env = os.environ

        def parsed(name: str, default: str, kind: Callable[[str], T], what: str) -> T:
            value = env.get(name, default)
            try:
                return kind(value)
            except ValueError:
                raise ValueError(f"{name} must be {what}, got {value!r}") from None

        def whole(name: str, default: str) -> int:
            return parsed(name, default, int, "a whole number")

        return cls(
            database_url=database_url or env.get("POPULACE_DATABASE_URL") or DEFAULT_DATABASE,
            token_lifetime_seconds=whole("POPULACE_TOKEN_LIFETIME_SECONDS", "3600"),
            admin_environment_id=env.get("POPULACE_ADMIN_ENVIRONMENT_ID") or None,
            admin_client_id=env.get("POPULACE_ADMIN_CLIENT_ID") or None,
            admin_client_secret=env.get("POPULACE_ADMIN_CLIENT_SECRET") or None,
            rate_limit=whole("POPULACE_RATE_LIMIT", "0"),
            token_failure_limit=whole("POPULACE_TOKEN_FAILURE_LIMIT", "30"),
            redis_url=env.get("POPULACE_REDIS_URL") or None,
            secret_key=env.get("POPULACE_SECRET_KEY") or None,
            sqlite_synchronous=env.get("POPULACE_SQLITE_SYNCHRONOUS", "NORMAL").upper(),
            pg_pool_size=whole("POPULACE_PG_POOL_SIZE", "32"),
            sqlite_read_budget=whole("POPULACE_SQLITE_READ_BUDGET", "100000000"),
            public_url=(env.get("POPULACE_PUBLIC_URL") or "").rstrip("/") or None,
            read_timeout_seconds=parsed(
                "POPULACE_READ_TIMEOUT_SECONDS", "30", float, "a number of seconds"
            ),
            password_hash_cost=env.get("POPULACE_PASSWORD_HASH_COST", "standard").lower(),
            control_api=env.get("POPULACE_CONTROL_API", "1").lower() not in OFF,
            log_format=env.get("POPULACE_LOG_FORMAT", "text").lower(),
            log_level=env.get("POPULACE_LOG_LEVEL", "warning").lower(),
            access_log=env.get("POPULACE_ACCESS_LOG", "1").lower() not in OFF,
        )
