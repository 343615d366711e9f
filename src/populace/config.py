"""Settings of one deployment, from command-line options and ``POPULACE_*`` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from populace.storage.database import DEFAULT_DATABASE


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
        )
