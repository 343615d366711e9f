"""The tokens a user's sign-on yields: RS256 access and ID tokens with PingOne's claims, and
the user claims that scopes release (in the ID token and at ``/as/userinfo``)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import jwt

from populace.auth.keys import KeyRing

# The completed sign-on policy (``acr``) and how the user proved who they are (``amr``):
# populace signs users on with a password under the predefined Single_Factor policy.
SIGN_ON_POLICY = "Single_Factor"
PASSWORD_METHOD = "pwd"


@dataclass(frozen=True, slots=True)
class Signed:
    """Who a token speaks for, as both tokens of one issue share it."""

    issuer: str
    audience: str  # the management API's base URL: populace's resource server
    client_id: str
    environment_id: str
    organization_id: str
    user_id: str
    session_id: str
    scope: str
    authenticated_at: int  # epoch seconds
    issued_at: int
    lifetime_seconds: int


def _sign(keys: KeyRing, claims: dict[str, Any], typ: str | None = None) -> str:
    key = keys.current
    headers = {"kid": key.kid, **({"typ": typ} if typ else {})}
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers=headers)


def access_token(keys: KeyRing, signed: Signed, jti: str) -> str:
    claims = {
        "client_id": signed.client_id,
        "iss": signed.issuer,
        "jti": jti,
        "iat": signed.issued_at,
        "exp": signed.issued_at + signed.lifetime_seconds,
        "aud": [signed.audience],
        "scope": signed.scope,
        "sub": signed.user_id,
        "sid": signed.session_id,
        "auth_time": signed.authenticated_at,
        "acr": SIGN_ON_POLICY,
        "env": signed.environment_id,
        "org": signed.organization_id,
    }
    return _sign(keys, claims, "at+jwt")


def _half_hash(value: str) -> str:
    """OIDC's ``at_hash``: the left half of the SHA-256 of the token, base64url."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def id_token(
    keys: KeyRing, signed: Signed, user: Any, access: str, nonce: str | None, region: str | None
) -> str:
    claims = {
        "iss": signed.issuer,
        "sub": signed.user_id,
        "aud": signed.client_id,
        "iat": signed.issued_at,
        "exp": signed.issued_at + signed.lifetime_seconds,
        "auth_time": signed.authenticated_at,
        "acr": SIGN_ON_POLICY,
        "amr": [PASSWORD_METHOD],
        "at_hash": _half_hash(access),
        "sid": signed.session_id,
        "env": signed.environment_id,
        "org": signed.organization_id,
        **({"nonce": nonce} if nonce else {}),
        **({"p1.region": region} if region else {}),
        **user_claims(user, signed.scope.split()),
    }
    return _sign(keys, claims)


def _address(profile: dict[str, Any]) -> dict[str, str]:
    address = profile.get("address") or {}
    names = {
        "street_address": "streetAddress",
        "locality": "locality",
        "region": "region",
        "postal_code": "postalCode",
        "country": "countryCode",
    }
    return {claim: address[key] for claim, key in names.items() if address.get(key)}


def user_claims(user: Any, scopes: list[str]) -> dict[str, Any]:
    """The claims the standard OIDC scopes release about a user, those it has."""
    profile = user.profile or {}
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        given, family = user.name_given, user.name_family
        name = user.name_formatted or " ".join(part for part in (given, family) if part)
        claims.update(
            preferred_username=user.username,
            given_name=given,
            family_name=family,
            middle_name=user.name_middle,
            name=name or None,
            nickname=profile.get("nickname"),
            locale=profile.get("locale"),
            zoneinfo=profile.get("timezone"),
            updated_at=user.updated_at // 1000,
        )
    if "email" in scopes:
        claims.update(email=user.email, email_verified=bool(user.email_verified))
    if "phone" in scopes:
        claims["phone_number"] = profile.get("primaryPhone") or profile.get("mobilePhone")
    if "address" in scopes:
        claims["address"] = _address(profile) or None
    return {claim: value for claim, value in claims.items() if value is not None}
