"""HTTP: ``/_populace/environments/{envID}/messages``, what populace would have delivered
(PingOne e-mails a recovery code; populace keeps it here for the tests that need it). An
Organization Admin's token reads it; it is no part of PingOne's API."""

from __future__ import annotations

from populace.auth.roles import Permission as P
from populace.errors import found, not_found
from populace.http.dispatch import Call
from populace.http.lists import Listing
from populace.http.router import CONTROL_API, ApiRouter
from populace.outbox import store
from populace.outbox.wire import Message, message_json

router = ApiRouter("Emulator: outbox", prefix=CONTROL_API)

MESSAGES = "/environments/{envID}/messages"
MESSAGE = MESSAGES + "/{messageID}"

router.listing(MESSAGES, Listing("messages", message_json, store.MESSAGES), P.EMULATOR_CONTROL)


@router.get(MESSAGE, P.EMULATOR_CONTROL)
async def read_message(call: Call[None]) -> Message:
    """Read a message populace would have delivered."""
    row = await store.get(call.conn, call.access.environment, call.param("messageID"))
    return message_json(call.urls, found(row))


@router.delete(MESSAGE, P.EMULATOR_CONTROL)
async def delete_message(call: Call[None]) -> None:
    """Delete a message (a test that read it clears the mailbox)."""
    if not await store.remove(call.conn, call.access.environment, call.param("messageID")):
        raise not_found()
