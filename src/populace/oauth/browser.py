"""What the authorization server says to a browser: its cookies (the session, ST; the flow
binding, PF) and answers delivered at a client's redirect URI by ``response_mode``."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from populace.http.request import base_url
from populace.http.responses import NO_STORE

SESSION_COOKIE = "ST"  # PingOne's name: clients and the getting-started guide send it back
FLOW_COOKIE = "PF"  # binds a flow the hosted page drives to the browser that began it
SESSION_SECONDS = 30 * 86_400


def auth_base(request: Request, environment_id: str) -> str:
    """Where an environment's flows, sign-on page and authorization server live."""
    return f"{base_url(request)}/{environment_id}"


def _secure(request: Request) -> bool:
    return base_url(request).startswith("https://")


def set_session_cookie(
    request: Request, response: Response, environment_id: str, token: str
) -> None:
    """PingOne's ST cookie: ``SameSite=None; Secure`` over https. Browsers drop such a cookie
    on plain http, so there it is ``SameSite=Lax`` (enough for redirects back to populace)."""
    secure = _secure(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path=f"/{environment_id}",
        secure=secure,
        httponly=True,
        samesite="none" if secure else "lax",
    )


def clear_session_cookie(request: Request, response: Response, environment_id: str) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=f"/{environment_id}", secure=_secure(request), httponly=True
    )


def flow_cookie(flow_id: str) -> str:
    """One cookie per flow: sign-ons begun in two tabs of one browser do not clash."""
    return f"{FLOW_COOKIE}-{flow_id}"


def set_flow_cookie(
    request: Request, response: Response, environment_id: str, flow_id: str, key: str
) -> None:
    response.set_cookie(
        flow_cookie(flow_id),
        key,
        max_age=15 * 60,
        path=f"/{environment_id}",
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )


def _with(uri: str, separator: str, params: dict[str, str]) -> str:
    joiner = separator if separator not in uri else "&"
    return f"{uri}{joiner}{urlencode(params)}"


def deliver(request_params: Mapping[str, Any], params: Mapping[str, str | None]) -> Response:
    """Send ``params`` (a code, or an error) to the client's redirect URI the way the
    authorize request asked: in the query, in the fragment, or as an auto-posted form."""
    uri = request_params["redirect_uri"]
    answer = {key: value for key, value in params.items() if value is not None}
    if request_params.get("state") is not None:
        answer["state"] = request_params["state"]
    if not answer:
        return RedirectResponse(uri, 302, headers=NO_STORE)
    mode = request_params.get("response_mode") or "query"
    if mode == "form_post":
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in answer.items()
        )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing on'
            '</title></head><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{html.escape(uri)}">{fields}'
            '<noscript><button type="submit">Continue</button></noscript></form></body></html>'
        )
        return HTMLResponse(page, headers=NO_STORE)
    location = _with(uri, "#", answer) if mode == "fragment" else _with(uri, "?", answer)
    return RedirectResponse(location, 302, headers=NO_STORE)
