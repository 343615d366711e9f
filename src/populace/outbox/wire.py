"""Outbox messages on the wire (populace's own control API, not PingOne's)."""

from __future__ import annotations

from typing import Any

from populace.wire import UNSET, InEnvironment, Ref, UnsetType, Urls, iso_ms


class Message(InEnvironment, kw_only=True):
    user: Ref
    type: str
    recipient: str
    content: dict[str, Any]
    created_at: str
    expires_at: str | UnsetType = UNSET


def message_json(urls: Urls, row: Any) -> Message:
    path = f"environments/{row.environment_id}/messages/{row.id}"
    return Message(
        links={"self": urls.control(path)},
        id=row.id,
        environment=Ref(row.environment_id),
        user=Ref(row.user_id),
        type=row.type,
        recipient=row.recipient,
        content=row.content,
        created_at=iso_ms(row.created_at),
        expires_at=UNSET if row.expires_at is None else iso_ms(row.expires_at),
    )
