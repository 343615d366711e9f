"""Role assignments on the wire."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.auth.roles import ScopeType
from populace.wire import InEnvironment, Ref, Urls, iso_ms

# The path under an environment of each kind of subject, and the link naming it.
_HOLDERS = {"application": "applications", "user": "users", "group": "groups"}


class Scope(msgspec.Struct):
    type: ScopeType
    id: str


class RoleAssignmentBody(msgspec.Struct):
    role: Ref
    scope: Scope


class RoleAssignment(InEnvironment, kw_only=True):
    role: Ref
    scope: Scope
    read_only: bool
    created_at: str


def role_assignment_json(urls: Urls, view: Any) -> RoleAssignment:
    """A role assignment as one actor sees it (``assignments.rules.AssignmentView``)."""
    row, kind = view.row, view.subject.kind
    holder = f"/{_HOLDERS[kind]}/{view.subject.id}"
    return RoleAssignment(
        links={
            "self": urls.environment(row.environment_id, f"{holder}/roleAssignments/{row.id}"),
            kind: urls.environment(row.environment_id, holder),
            "role": urls.api(f"roles/{row.role_id}"),
        },
        id=row.id,
        role=Ref(row.role_id),
        scope=Scope(ScopeType(row.scope_type), row.scope_id),
        environment=Ref(row.environment_id),
        read_only=view.read_only,
        created_at=iso_ms(row.created_at),
    )
