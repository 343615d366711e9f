"""Wire format shared by every resource: ids, timestamps, JSON bodies and HAL links.

Request and response shapes are msgspec Structs; the same Structs feed the OpenAPI document
(:mod:`populace.openapi`), so the documented shape is the shape the handlers use.
"""

from __future__ import annotations

import re
import time
from typing import Any, TypeVar

import msgspec

from populace import emulation
from populace.errors import ApiError, invalid_data, invalid_request

T = TypeVar("T")

# The largest request body (and line of an import file): one object is never near this.
MAX_BODY_BYTES = 1024 * 1024

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType


class Ref(msgspec.Struct):
    """``{"id": "..."}``, PingOne's way to point at another object."""

    id: str


class Link(msgspec.Struct):
    href: str


Links = dict[str, Link]


class Resource(msgspec.Struct, kw_only=True, rename="camel"):
    """What every PingOne object opens with. Subclasses inherit camelCase on the wire: their
    attributes are snake_case, their JSON keys PingOne's."""

    links: Links = msgspec.field(name="_links")
    id: str


class InEnvironment(Resource):
    """An object that lives in an environment."""

    environment: Ref


class NamedInEnvironment(InEnvironment, kw_only=True):
    """An object of an environment that people name and describe."""

    name: str
    description: str | UnsetType = UNSET


class Urls:
    """Builds the ``_links`` of a response from the base URL the client used, so links point
    back the way the client came. Renderers take one; they need nothing else from HTTP."""

    __slots__ = ("base",)

    def __init__(self, base: str) -> None:
        self.base = base

    def api(self, path: str) -> Link:
        return Link(href=f"{self.base}/v1/{path}")

    def environment(self, environment_id: str, path: str = "") -> Link:
        return self.api(f"environments/{environment_id}{path}")

    def control(self, path: str) -> Link:
        """A link into populace's own control API (``/_populace``)."""
        return Link(href=f"{self.base}/_populace/{path}")


# Ids and time come from the deployment's emulation (the control API's seed and clock).
new_id = emulation.new_id
now_ms = emulation.now_ms


# A page's rows were mostly written in the same few seconds (an import writes thousands a
# second): each second is formatted once, kept among the last few thousand; milliseconds come
# from a table. A list renders two times a row: this is ~3x the speed of formatting each.
_SECONDS: dict[int, str] = {}
SECONDS_KEPT = 4096
_MILLIS = [f".{millis:03d}Z" for millis in range(1000)]


def iso_ms(epoch_ms: int) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, e.g. ``2022-02-07T22:17:16.241Z``."""
    seconds, millis = divmod(epoch_ms, 1000)
    text = _SECONDS.get(seconds)
    if text is None:
        if len(_SECONDS) >= SECONDS_KEPT:
            _SECONDS.clear()
        text = _SECONDS[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return text + _MILLIS[millis]


_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def is_uuid(value: str) -> bool:
    return bool(_UUID_RE.match(value))


_encoder = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


# msgspec reports the failing field as a JSON path: "... - at `$.passwordPolicy.id`".
_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _target_from_path(path: str) -> str | None:
    """``$.alternativeIdentifiers[2]`` becomes ``alternativeIdentifiers``: PingOne's targets
    name fields, not array slots."""
    cleaned = re.sub(r"\[\d+\]", "", path).lstrip(".")
    return cleaned or None


_decoders: dict[type, msgspec.json.Decoder[Any]] = {}
# "\u0000" in a JSON string, unless its backslash is itself escaped.
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def decode_body(body: bytes, struct: type[T]) -> T:
    """Decode and type-check a JSON request body into ``struct``.

    Unknown and read-only fields are not in the request structs, so msgspec skips them: they
    are ignored, never applied. Type errors name the field in the detail's ``target``.
    """
    if not body.strip():
        raise invalid_request("The request body is empty; a JSON object is required.")
    try:
        # msgspec passes invalid UTF-8 inside strings through; the database would not.
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_request("The request body is not valid UTF-8.") from None
    if _ESCAPED_NUL.search(body):
        # PostgreSQL cannot store NUL in text; no PingOne field has a use for it.
        raise invalid_data("INVALID_VALUE", None, "Strings must not contain NUL characters.")
    decoder = _decoders.get(struct)
    if decoder is None:
        decoder = _decoders[struct] = msgspec.json.Decoder(struct)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _validation_error(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise invalid_request(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise invalid_request("The request body is nested too deeply.") from None


def _validation_error(text: str) -> ApiError:
    match = _PATH_RE.search(text)
    target = _target_from_path(match.group("path")) if match else None
    message = _PATH_RE.sub("", text)
    missing = re.match(r"Object missing required field `(?P<field>[^`]+)`", message)
    if missing:
        field = missing.group("field")
        target = f"{target}.{field}" if target else field
        return invalid_data("REQUIRED_VALUE", target, f"'{target}' is required.")
    if target is None and message.startswith("Expected `object`"):
        return invalid_request("The request body must be a JSON object.")
    return invalid_data("INVALID_VALUE", target, f"Invalid value for '{target}': {message}.")
