"""HTTP: /v1/roles, the catalog of roles an application can be assigned."""

from __future__ import annotations

from typing import Any

from populace.auth import roles
from populace.errors import found
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import ApiRouter
from populace.storage.paging import CatalogRows
from populace.wire import Ref, Resource, Urls

router = ApiRouter("Roles")


class Role(Resource, kw_only=True):
    name: str
    description: str
    applicable_to: list[str]
    permissions: list[Ref]


def role_json(urls: Urls, role: Any) -> Role:
    assert isinstance(role, roles.Role)
    return Role(
        links={"self": urls.api(f"roles/{role.id}")},
        id=role.id,
        name=role.name,
        description=role.description,
        applicable_to=sorted(scope.value for scope in role.scopes),
        permissions=[Ref(p.value) for p in sorted(role.permissions) if p.pingone],
    )


router.listing("/roles", Listing("roles", role_json, CatalogRows(tuple(roles.ROLES.values()))))


@router.get("/roles/{roleID}")
async def read_role(call: Call[None]) -> Role:
    """Read a role."""
    return role_json(call.urls, found(roles.ROLES.get(call.param("roleID"))))
