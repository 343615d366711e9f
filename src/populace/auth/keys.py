"""RS256 signing keys: generated once, kept (encrypted) in the database, shared by every process.

Tokens therefore survive a restart, and any ``populace serve`` of the deployment verifies a
token another one issued.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import insert, select

from populace.auth.secrets import SecretBox
from populace.storage.database import Connection
from populace.storage.schema import signing_keys
from populace.wire import new_id, now_ms


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    public_key: rsa.RSAPublicKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.public_key))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return jwk


class KeyRing:
    """The deployment's signing keys; the newest one signs, all of them verify."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.current = keys[-1]
        self._by_kid = {key.kid: key for key in keys}

    def get(self, kid: str) -> SigningKey | None:
        return self._by_kid.get(kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self._by_kid.values()]}


def _load(kid: str, pem: str) -> SigningKey:
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return SigningKey(kid, private, private.public_key())


async def load_key_ring(conn: Connection, box: SecretBox) -> KeyRing:
    """Load the keys, generating the first one on a new deployment."""
    rows = (
        await conn.execute(
            select(signing_keys.c.kid, signing_keys.c.private_key).order_by(
                signing_keys.c.created_at
            )
        )
    ).all()
    if not rows:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        kid = new_id()
        await conn.execute(
            insert(signing_keys).values(kid=kid, private_key=box.seal(pem), created_at=now_ms())
        )
        return KeyRing([SigningKey(kid, private, private.public_key())])
    return KeyRing([_load(row.kid, box.open(row.private_key)) for row in rows])
