"""Settings of one deployment, from command-line options and ``POPULACE_*`` variables.

Every setting the code reads is a field here, read from the environment in one place; the
README's table lists each variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATABASE = "populace.db"
SQLITE_SYNCHRONOUS_MODES = ("NORMAL", "FULL", "EXTRA")


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
    redis_url: str | None = None
    # The Fernet key that encrypts secrets at rest; generated once and kept in the database
    # when unset.
    secret_key: str | None = None
    # SQLite's durability: NORMAL survives a process kill, FULL a power loss too.
    sqlite_synchronous: str = "NORMAL"
    # PostgreSQL connections kept per process (connections beyond it are closed on return).
    pg_pool_size: int = 32

    def __post_init__(self) -> None:
        if self.sqlite_synchronous not in SQLITE_SYNCHRONOUS_MODES:
            raise ValueError(
                "POPULACE_SQLITE_SYNCHRONOUS must be one of " + ", ".join(SQLITE_SYNCHRONOUS_MODES)
            )

    @classmethod
    def from_environment(cls, database_url: str | None = None) -> Config:
        env = os.environ
        return cls(
            database_url=database_url or env.get("POPULACE_DATABASE_URL") or DEFAULT_DATABASE,
            token_lifetime_seconds=int(env.get("POPULACE_TOKEN_LIFETIME_SECONDS", "3600")),
            admin_environment_id=env.get("POPULACE_ADMIN_ENVIRONMENT_ID") or None,
            admin_client_id=env.get("POPULACE_ADMIN_CLIENT_ID") or None,
            admin_client_secret=env.get("POPULACE_ADMIN_CLIENT_SECRET") or None,
            rate_limit=int(env.get("POPULACE_RATE_LIMIT", "0")),
            redis_url=env.get("POPULACE_REDIS_URL") or None,
            secret_key=env.get("POPULACE_SECRET_KEY") or None,
            sqlite_synchronous=env.get("POPULACE_SQLITE_SYNCHRONOUS", "NORMAL").upper(),
            pg_pool_size=int(env.get("POPULACE_PG_POOL_SIZE", "32")),
        )
