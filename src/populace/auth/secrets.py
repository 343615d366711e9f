"""Client secrets and signing keys at rest: encrypted with the deployment key, never plaintext.

PingOne lets an authorized admin read a Worker app's secret back, so a one-way hash cannot
serve (see docs/compatibility.md). The deployment key comes from ``POPULACE_SECRET_KEY`` or,
when that is not set, is generated once and kept in the database so every process of a
deployment shares it.
"""

from __future__ import annotations

import hmac
import secrets as _random

from cryptography.fernet import Fernet, InvalidToken

from populace.storage import settings
from populace.storage.database import Connection

_SETTING = "secret_key"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._dummy = self.seal(new_client_secret())

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise RuntimeError(
                "a stored secret does not decrypt with this deployment's key "
                "(was POPULACE_SECRET_KEY changed?)"
            ) from None

    def matches(self, sealed: str | None, candidate: str) -> bool:
        """Constant-time comparison of a presented secret with a stored one. With no stored
        secret (an unknown client) the same work is done against a dummy, so the time taken
        does not tell whether a client exists."""
        if sealed is None:
            self._compare(self._dummy, candidate)
            return False
        return self._compare(sealed, candidate)

    def _compare(self, sealed: str, candidate: str) -> bool:
        return hmac.compare_digest(self.open(sealed).encode(), candidate.encode())


def new_client_secret() -> str:
    # PingOne's secrets are 64 URL-safe characters.
    return _random.token_urlsafe(48)


async def load_secret_box(conn: Connection, configured: str | None) -> SecretBox:
    """The deployment's key: the configured one, or the database's (created once)."""
    if configured:
        return SecretBox(configured.encode())
    stored = await settings.get(conn, _SETTING)
    if stored is None:
        stored = Fernet.generate_key().decode()
        await settings.put(conn, _SETTING, stored)
    return SecretBox(stored.encode())


async def stored_secret_box(conn: Connection, configured: str | None) -> SecretBox | None:
    """The deployment's key without creating one (None: neither configured nor stored)."""
    stored = configured or await settings.get(conn, _SETTING)
    return None if stored is None else SecretBox(stored.encode())
