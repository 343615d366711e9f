"""HTTP: the hosted sign-on page (``/{envID}/signon/?flowId=...``), where an authorize request
without ``response_mode=pi.flow`` sends the browser. A plain HTML form, no script and no asset
from elsewhere, that drives the same flow rules as the flows API.

The form is bound to the browser that began the flow: the flow keeps the digest of the PF
cookie set with the authorize redirect, and every form carries a token derived from it. A page
of another site can neither read that token nor send the cookie with a cross-site POST
(``SameSite=Lax``), so it cannot sign a browser on or off through this form."""

from __future__ import annotations

import hashlib
import hmac
import html
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from populace.errors import ApiError
from populace.http.dispatch import services
from populace.http.request import read_body
from populace.http.responses import NO_STORE
from populace.http.router import ApiRouter
from populace.oauth import browser, signon
from populace.oauth.flows import flow_at, throttled

router = ApiRouter("Hosted sign-on page", prefix="/{envID}/signon")


class SignOnForm(msgspec.Struct, rename="camel"):
    """The page's form (documentation: the handler reads the form itself)."""

    flow_id: str
    csrf: str
    username: str | None = None
    password: str | None = None
    current_password: str | None = None
    new_password: str | None = None


HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto; padding: 0 1rem; }}
label {{ display: block; margin-top: 1rem; }}
input {{ width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }}
button {{ margin-top: 1.5rem; padding: .6rem 1.2rem; font-size: 1rem; }}
[role=alert] {{ color: #a00; border: 1px solid #a00; padding: .5rem; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{intro}</p>
{alert}
<form method="post" action="">
<input type="hidden" name="flowId" value="{flow_id}">
<input type="hidden" name="csrf" value="{csrf}">
{fields}
<button type="submit">{button}</button>
</form>
</main>
</body>
</html>
"""

_SIGN_ON_FIELDS = """<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required value="{username}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>"""

_CHANGE_FIELDS = """<label for="currentPassword">Current password</label>
<input id="currentPassword" name="currentPassword" type="password"
 autocomplete="current-password" required>
<label for="newPassword">New password</label>
<input id="newPassword" name="newPassword" type="password" autocomplete="new-password" required>"""


def _csrf(browser_key: str, flow_id: str) -> str:
    return hmac.new(browser_key.encode(), flow_id.encode(), hashlib.sha256).hexdigest()


def _page(
    flow: Any,
    browser_key: str,
    error: str | None,
    status: int,
    username: str | None = None,
) -> Response:
    escape = html.escape
    app_name = flow.request.get("app_name", "")
    changing = flow.status in signon.CHANGING
    if changing:
        title, button, fields = "Change your password", "Change password", _CHANGE_FIELDS
        intro = "Your password must change before you continue."
    else:
        title, button = "Sign on", "Sign on"
        typed = username or flow.request.get("login_hint") or ""
        fields = _SIGN_ON_FIELDS.format(username=escape(typed))
        intro = f"Sign on to continue to {escape(app_name)}." if app_name else "Sign on."
    alert = f'<p role="alert">{escape(error)}</p>' if error else ""
    body = _PAGE.format(
        title=title,
        intro=intro,
        alert=alert,
        flow_id=escape(flow.id),
        csrf=_csrf(browser_key, flow.id),
        fields=fields,
        button=button,
    )
    return HTMLResponse(body, status, headers=HEADERS)


def _message(status: int, text: str) -> Response:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign on</title>'
        f'</head><body><main><h1>Sign on</h1><p role="alert">{html.escape(text)}</p>'
        "</main></body></html>"
    )
    return HTMLResponse(body, status, headers=HEADERS)


async def _bound_flow(request: Request, flow_id: str) -> tuple[Any, str] | Response:
    """The flow, and the browser's key, when this browser began it."""
    environment_id = request.path_params["envID"]
    try:
        flow = await signon.read_flow(services(request).db, environment_id, flow_id)
    except ApiError:
        return _message(404, "This sign-on has expired. Go back to the application to start again.")
    key = request.cookies.get(browser.flow_cookie(flow.id))
    if key is None or not signon.browser_matches(flow, key):
        return _message(403, "This sign-on was not started in this browser.")
    return flow, key


@router.raw(
    "GET",
    "/",
    authenticated=False,
    errors={},
    pages={
        200: "The sign-on form",
        403: "The flow was begun in another browser",
        404: "The flow has ended",
    },
)
async def sign_on_page(request: Request) -> Response:
    """The sign-on page of a flow."""
    bound = await _bound_flow(request, request.query_params.get("flowId", ""))
    if isinstance(bound, Response):
        return bound
    flow, key = bound
    return _page(flow, key, None, 200)


def _error_text(error: ApiError) -> str:
    detail = error.details[0] if error.details else None
    if detail is not None and detail.code == "PASSWORD_LOCKED_OUT":
        seconds = (detail.inner_error or {}).get("secondsUntilUnlock")
        return f"Too many failed attempts: the password is locked for {seconds} more seconds."
    return detail.message if detail is not None else error.message


async def _step(request: Request, flow: Any, form: dict[str, str]) -> signon.Step:
    at = flow_at(request, flow.id)
    if flow.status in signon.CHANGING:
        current, new = form.get("currentPassword", ""), form.get("newPassword", "")
        return await throttled(request, lambda: signon.change_password(at, current, new))
    username, password = form.get("username", ""), form.get("password", "")
    return await throttled(request, lambda: signon.check_username_password(at, username, password))


@router.raw(
    "POST",
    "/",
    body=SignOnForm,
    authenticated=False,
    form=True,
    errors={},
    pages={
        200: "The next step's form",
        400: "The form again, with what was wrong",
        403: "The form is not this browser's",
        404: "The flow has ended",
        429: "The form again: too many attempts at once",
    },
    redirects={303: "To resume, the sign-on completed"},
)
async def submit(request: Request) -> Response:
    """The page's form: credentials, or a new password; completed, the browser resumes."""
    try:
        form = dict(parse_qsl((await read_body(request, limit=16 * 1024)).decode()))
    except (UnicodeDecodeError, ValueError):
        return _message(400, "The form could not be read.")
    bound = await _bound_flow(request, form.get("flowId", ""))
    if isinstance(bound, Response):
        return bound
    flow, key = bound
    if not hmac.compare_digest(form.get("csrf", "").encode(), _csrf(key, flow.id).encode()):
        return _message(403, "This form did not come from this sign-on page.")
    try:
        step = await _step(request, flow, form)
    except ApiError as error:
        typed = form.get("username")
        return _page(flow, key, _error_text(error), error.status, typed)
    if step.flow.status != signon.COMPLETED:
        return _page(step.flow, key, None, 200)
    resume_url = f"{browser.auth_base(request, flow.environment_id)}/as/resume?flowId={flow.id}"
    response = RedirectResponse(resume_url, 303, headers=NO_STORE)
    if step.session_token is not None:
        browser.set_session_cookie(request, response, flow.environment_id, step.session_token)
    return response
