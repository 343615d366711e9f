"""HTTP: PingOne's flows API (``/{envID}/flows/{flowID}``), the end user's channel through a
sign-on: no bearer token (the flow's id is the capability), each action picked by its
``Content-Type``. A browser cannot send these media types across sites without CORS, which
populace does not grant, so the actions cannot be forged from another site's page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from populace.errors import ApiError, ErrorBody
from populace.http.dispatch import services
from populace.http.request import read_json
from populace.http.responses import NO_STORE, json_response
from populace.http.router import ApiRouter
from populace.oauth import browser, signon
from populace.oauth.browser import auth_base
from populace.oauth.wire import FLOW_MEDIA, Flow, PasswordChange, UsernamePassword, flow_json

router = ApiRouter("Sign-on flows", prefix="/{envID}/flows")

FLOW = "/{flowID}"
MAX_BODY = 16 * 1024
ERRORS = {400: ErrorBody, 404: ErrorBody, 415: ErrorBody, 429: ErrorBody, 503: ErrorBody}


def flow_response(request: Request, flow: Any) -> Flow:
    return flow_json(auth_base(request, flow.environment_id), flow)


async def _answer(request: Request, step: signon.Step) -> Response:
    flow = step.flow
    response = json_response(flow_response(request, flow), headers=NO_STORE)
    if step.session_token is not None:
        browser.set_session_cookie(request, response, flow.environment_id, step.session_token)
    return response


@router.raw("GET", FLOW, response=Flow, authenticated=False, errors=ERRORS)
async def read_flow(request: Request) -> Response:
    """Read a sign-on flow: its status and the actions it takes next."""
    params = request.path_params
    flow = await signon.read_flow(services(request).db, params["envID"], params["flowID"])
    return await _answer(request, signon.Step(flow))


def flow_at(request: Request, flow_id: str) -> signon.FlowAt:
    svc = services(request)
    return signon.FlowAt(
        svc.db,
        svc.hasher,
        svc.organization_id,
        request.path_params["envID"],
        flow_id,
        request.cookies.get(browser.SESSION_COOKIE),
    )


async def throttled(request: Request, step: Callable[[], Awaitable[signon.Step]]) -> signon.Step:
    """A credentials step, under the per-address throttle of failed authentications (the
    token endpoint's): guessing across many users from one address meets it, as guessing one
    user's password meets that password's lockout."""
    svc = services(request)
    address = request.client.host if request.client else ""
    if svc.throttle is not None:
        await svc.throttle.check(address)
    try:
        return await step()
    except ApiError as error:
        wrong = error.details and error.details[0].code == "INVALID_CREDENTIALS"
        if wrong and svc.throttle is not None:
            await svc.throttle.failed(address)
        raise


def _action(name: str, body: type | None = None) -> dict[str, Any]:
    """The declaration of a flow action, chosen by its media type."""
    media_type = FLOW_MEDIA.format(name)
    return {"body": body, "response": Flow, "authenticated": False, "errors": ERRORS,
            "media_type": media_type}  # fmt: skip


@router.raw("POST", FLOW, **_action("usernamePassword.check", UsernamePassword))
async def check_username_password(request: Request) -> Response:
    """Sign on with a username and password (sets the ST session cookie when it completes)."""
    body = await read_json(request, UsernamePassword, MAX_BODY)
    at = flow_at(request, request.path_params["flowID"])
    step = await throttled(
        request, lambda: signon.check_username_password(at, body.username, body.password)
    )
    return await _answer(request, step)


@router.raw("POST", FLOW, **_action("password.reset", PasswordChange))
async def change_password(request: Request) -> Response:
    """Change a password that must change (or has expired), then complete the sign-on."""
    body = await read_json(request, PasswordChange, MAX_BODY)
    at = flow_at(request, request.path_params["flowID"])
    step = await throttled(
        request, lambda: signon.change_password(at, body.current_password, body.new_password)
    )
    return await _answer(request, step)


@router.raw("POST", FLOW, **_action("session.reset"))
async def reset_session(request: Request) -> Response:
    """Start the flow over (sign on as someone else)."""
    params = request.path_params
    flow = await signon.restart(services(request).db, params["envID"], params["flowID"])
    return await _answer(request, signon.Step(flow))
