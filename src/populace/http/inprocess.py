"""populace's own application called in-process: an ASGI call with no socket, which meets
the same routes, rules, permissions and errors as a request from outside (seed files and the
console's calls go this way)."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message


@dataclass
class Answer:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)


async def call(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    host: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
    query: bytes = b"",
    client: tuple[str, int] | None = None,
) -> Answer:
    """One request to ``app``: ``headers`` as the caller's (host and length are added), from
    ``client``'s address (the outside caller's, so per-address throttles count it, not us)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": query,
        "headers": [
            (b"host", host.encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": client or ("127.0.0.1", 0), "server": (host, 80),
    }  # fmt: skip
    sent = False
    answer = Answer()

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status, answer.headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive, send)
    return answer
