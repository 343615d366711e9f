"""HTTP: read an environment's password policies and themes."""

from __future__ import annotations

from populace.auth.roles import Permission as P
from populace.configuration import store
from populace.configuration.wire import PasswordPolicy, Theme, password_policy_json, theme_json
from populace.errors import found
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter

router = ApiRouter("Configuration")

POLICIES = "/environments/{envID}/passwordPolicies"
THEMES = "/environments/{envID}/themes"

router.listing(
    POLICIES,
    Listing("passwordPolicies", password_policy_json, store.POLICIES),
    P.CONFIGURATION_READ,
)
router.listing(THEMES, Listing("themes", theme_json, store.THEMES), P.CONFIGURATION_READ)


@router.get(POLICIES + "/{policyID}", P.CONFIGURATION_READ)
async def read_password_policy(call: Call[None]) -> PasswordPolicy:
    """Read a password policy."""
    row = await store.get_policy(call.conn, call.access.environment, call.param("policyID"))
    return password_policy_json(call.urls, found(row))


@router.get(THEMES + "/{themeID}", P.CONFIGURATION_READ)
async def read_theme(call: Call[None]) -> Theme:
    """Read a theme."""
    row = await store.get_theme(call.conn, call.access.environment, call.param("themeID"))
    return theme_json(call.urls, found(row))
