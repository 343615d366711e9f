"""The access log: one line per request, and the logging set-up of a serving process.

A line holds the method, the path (never the query, which may carry people's data), the
status, the duration, the response's Correlation-Id and the client id of an authenticated
caller; never a token, a secret or a body. ``text`` lines are for people, ``json`` lines
(``--log-format json``) for log collectors.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import deque
from typing import Any

import msgspec
from starlette.types import Scope

ACCESS = logging.getLogger("populace.access")
CLIENT_ID = "populace.client_id"  # where the scope keeps who the caller proved to be
USER_ID = "populace.user_id"  # and the user, for a user's token
_FIELDS = ("method", "path", "status", "duration_ms", "correlation_id", "client_id")


# The console's live view: the last requests a process served (each process keeps its own).
RECENT_REQUESTS = 200
CONSOLE_CALLS = "/console/api"  # the console's calls of the API, remembered as the API's


class Served(msgspec.Struct, rename="camel"):
    """One request as the console's live view shows it: never a query, a body or a token."""

    at: int  # epoch milliseconds
    method: str
    path: str
    status: int
    duration_ms: float
    correlation_id: str


def remember(
    recent: deque[Served], scope: Scope, status: int, duration: float, correlation_id: str
) -> None:
    """Keep the request for the live view; the console's own pages and the view's own polls
    are left out (they would crowd out what the view is for)."""
    path: str = scope["path"]
    if path.startswith(CONSOLE_CALLS + "/"):
        path = path[len(CONSOLE_CALLS) :]
    if path == "/console" or path.startswith("/console/") or path == "/_populace/requests":
        return
    at = int(time.time() * 1000)
    recent.append(
        Served(at, scope["method"], path, status, round(duration * 1000, 2), correlation_id)
    )


def identify(scope: Scope, client_id: str, user_id: str | None = None) -> None:
    """Record the caller's client id (and user) for the request's access line."""
    scope[CLIENT_ID] = client_id
    scope[USER_ID] = user_id


def record(scope: Scope, status: int, duration: float, correlation_id: str) -> None:
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    fields = {
        "method": scope["method"],
        # Escaped: a decoded %0A must not start a line of its own in a text log.
        "path": scope["path"].encode("unicode_escape").decode("ascii"),
        "status": status,
        "duration_ms": round(duration * 1000, 2),
        "correlation_id": correlation_id,
        "client_id": scope.get(CLIENT_ID),
        "user_id": scope.get(USER_ID),
    }
    ACCESS.info(
        "%s %s %s %.2fms %s %s",
        *("-" if fields[name] is None else fields[name] for name in _FIELDS),
        extra={"access": fields},
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and an access line's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "access", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def configure(log_format: str, level: str, access_log: bool) -> None:
    """populace's loggers on stderr, in the chosen format (a serving process; tests and
    embedders keep their own logging)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("populace")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(level.upper() if level.upper() != "TRACE" else "DEBUG")
    ACCESS.setLevel(logging.INFO if access_log else logging.WARNING)
