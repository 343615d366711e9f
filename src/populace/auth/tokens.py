"""Access tokens: RS256 JWTs shaped like PingOne's client_credentials tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from populace.auth.keys import KeyRing
from populace.emulation import now_seconds
from populace.errors import unauthorized

# Clock skew tolerated between the processes of a deployment.
LEEWAY_SECONDS = 5
_CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Claims:
    client_id: str
    environment_id: str
    organization_id: str
    expires_at: int
    # A user's sign-on token: the user (``sub``) and the token's id (``jti``), by which a
    # revoked token or an ended grant is known.
    user_id: str | None = None
    token_id: str | None = None

    @property
    def caller(self) -> str:
        """Whose allowance a request spends: the application's, or one of its users' own."""
        return self.client_id if self.user_id is None else f"{self.client_id}/{self.user_id}"


def issue_token(
    keys: KeyRing,
    *,
    client_id: str,
    environment_id: str,
    organization_id: str,
    issuer: str,
    audience: str,
    lifetime_seconds: int,
) -> str:
    now = int(now_seconds())
    claims = {
        "client_id": client_id,
        "iss": issuer,
        "iat": now,
        "exp": now + lifetime_seconds,
        "aud": [audience],
        "scope": "",
        "env": environment_id,
        "org": organization_id,
    }
    key = keys.current
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


class TokenVerifier:
    """Verifies bearer tokens; a verified token is remembered until it expires.

    RS256 verification costs tens of microseconds, more than the rest of a cached read: the
    cache holds only tokens whose signature checked out, keyed by the whole token string, and an
    entry is never used past its ``exp``.
    """

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys
        self._verified: dict[str, Claims] = {}

    def verify(self, token: str) -> Claims:
        claims = self._verified.get(token)
        if claims is not None and claims.expires_at > now_seconds():
            return claims
        claims = self._verify_signature(token)
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify_signature(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("The access token is malformed.") from None
        key = self._keys.get(str(header.get("kid", "")))
        if header.get("alg") != "RS256" or key is None:
            raise unauthorized("The access token is not signed by this deployment.")
        try:
            # The signature here; the times below, once their types are known to be right
            # (PyJWT would take "exp": "99999999999" as a number).
            payload = jwt.decode(
                token,
                key.public_key,
                algorithms=["RS256"],
                options={
                    "require": ["exp", "iat", "client_id", "env", "org"],
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise unauthorized("The access token is invalid.") from None
        return _checked_claims(payload)


def _is_time(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_claims(payload: dict[str, Any]) -> Claims:
    """Claims of the right types, within their times (with :data:`LEEWAY_SECONDS` of skew)."""
    if not all(isinstance(payload[k], str) for k in ("client_id", "env", "org")):
        raise unauthorized("The access token is invalid.")
    user_id, token_id = payload.get("sub"), payload.get("jti")
    if user_id is not None and not (isinstance(user_id, str) and isinstance(token_id, str)):
        raise unauthorized("The access token is invalid.")
    times = [payload["exp"], payload["iat"], payload.get("nbf", 0)]
    if not all(_is_time(value) for value in times):
        raise unauthorized("The access token's times are not whole numbers of seconds.")
    now = now_seconds()
    if payload["exp"] <= now - LEEWAY_SECONDS:
        raise unauthorized("The access token has expired.")
    if payload["iat"] > now + LEEWAY_SECONDS or payload.get("nbf", 0) > now + LEEWAY_SECONDS:
        raise unauthorized("The access token was issued in the future.")
    return Claims(
        payload["client_id"], payload["env"], payload["org"], payload["exp"], user_id, token_id
    )
