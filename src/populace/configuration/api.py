"""HTTP: an environment's password policies (read, create, replace, delete) and themes (read)."""

from __future__ import annotations

from populace.auth.roles import Permission as P
from populace.configuration import rules, store
from populace.configuration.wire import (
    PasswordPolicy,
    PasswordPolicyBody,
    Theme,
    password_policy_json,
    theme_json,
)
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


POLICY = POLICIES + "/{policyID}"


@router.post(POLICIES, P.CONFIGURATION_UPDATE)
async def create_password_policy(call: Call[PasswordPolicyBody]) -> PasswordPolicy:
    """Create a password policy."""
    row = await rules.create_policy(call.conn, call.access, call.body)
    return password_policy_json(call.urls, row)


@router.get(POLICY, P.CONFIGURATION_READ)
async def read_password_policy(call: Call[None]) -> PasswordPolicy:
    """Read a password policy."""
    row = await rules.read_policy(call.conn, call.access, call.param("policyID"))
    return password_policy_json(call.urls, row)


@router.put(POLICY, P.CONFIGURATION_UPDATE)
async def replace_password_policy(call: Call[PasswordPolicyBody]) -> PasswordPolicy:
    """Replace a password policy."""
    row = await rules.replace_policy(call.conn, call.access, call.param("policyID"), call.body)
    return password_policy_json(call.urls, row)


@router.delete(POLICY, P.CONFIGURATION_UPDATE)
async def delete_password_policy(call: Call[None]) -> None:
    """Delete a password policy (not the default one, nor one a population uses)."""
    await rules.delete_policy(call.conn, call.access, call.param("policyID"))


@router.get(THEMES + "/{themeID}", P.CONFIGURATION_READ)
async def read_theme(call: Call[None]) -> Theme:
    """Read a theme."""
    row = await store.get_theme(call.conn, call.access.environment, call.param("themeID"))
    return theme_json(call.urls, found(row))
