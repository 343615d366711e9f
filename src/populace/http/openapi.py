"""The OpenAPI document, built from the declarations themselves: the structs the dispatcher
decodes and encodes, the statuses it answers, and each list's own parameters."""

from __future__ import annotations

from typing import Any

import msgspec

from populace.errors import ErrorBody
from populace.http.router import ApiRouter, Operation

_DESCRIPTIONS = {
    400: "Invalid data",
    401: "Missing or invalid credentials",
    403: "The actor lacks a role for this resource",
    404: "Not found",
    408: "The request was not received in time",
    413: "Body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    503: "The database is unavailable; retry after Retry-After seconds",
}
# What every management API operation may answer besides success, in PingOne's envelope.
MANAGEMENT_ERRORS: dict[int, type] = dict.fromkeys(_DESCRIPTIONS, ErrorBody)


def _page_struct(op: Operation) -> type:
    listing = op.listing
    assert listing is not None
    item = listing.item
    embedded = msgspec.defstruct(f"{item.__name__}Embedded", [(listing.key, list[item])])  # type: ignore[valid-type]
    fields: list[Any] = [("_links", dict[str, dict[str, str]]), ("_embedded", embedded)]
    if listing.count:
        fields.append(("count", int))
    fields.append(("size", int))
    return msgspec.defstruct(f"{item.__name__}Page", fields)


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in op.parameters
    ]
    listing = op.listing
    if listing is not None:
        limit = {"type": "integer", "minimum": 1, "default": listing.default_limit}
        params += [
            {"name": "limit", "in": "query", "schema": limit},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        ]
        if listing.rows.filters is not None:
            params.append({"name": "filter", "in": "query", "schema": {"type": "string"}})
    return params


def _errors(op: Operation) -> dict[int, type]:
    return dict(MANAGEMENT_ERRORS if op.errors is None else op.errors)


def _browser_answers(op: Operation, responses: dict[str, Any]) -> None:
    """HTML pages (beside a JSON answer of the same status, if any) and redirects."""
    for status, description in (op.pages or {}).items():
        answer = responses.setdefault(str(status), {"description": description})
        html = {"text/html": {"schema": {"type": "string"}}}
        answer["content"] = {**answer.get("content", {}), **html}
    for status, description in (op.redirects or {}).items():
        responses[str(status)] = {
            "description": description,
            "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
        }


def build_document(routers: list[ApiRouter], version: str) -> dict[str, Any]:
    structs: list[type] = []
    shapes: dict[tuple[str, str, str | None], tuple[type | None, type | None]] = {}
    for router in routers:
        for op in router.operations:
            response = _page_struct(op) if op.listing is not None else op.response
            shapes[(op.path, op.method, op.media_type)] = (op.body, response)
            structs += [t for t in (op.body, response, *_errors(op).values()) if t is not None]
    structs = list(dict.fromkeys(structs))
    schemas, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    by_type = dict(zip(structs, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for router in routers:
        for op in router.operations:
            request, response = shapes[(op.path, op.method, op.media_type)]
            entry: dict[str, Any] = {
                "tags": [router.tag],
                "summary": op.summary,
                "operationId": op.operation_id,
                "parameters": _parameters(op),
                "responses": {},
            }
            media = op.media_type or (
                "application/x-www-form-urlencoded" if op.form else "application/json"
            )
            if request is not None or op.media_type is not None:
                schema = by_type[request] if request is not None else {}
                entry["requestBody"] = {"required": True, "content": {media: {"schema": schema}}}
            ok: dict[str, Any] = {"description": "Success"}
            if response is not None:
                ok["content"] = {"application/json": {"schema": by_type[response]}}
            entry["responses"][str(op.status)] = ok
            for status, struct in _errors(op).items():
                entry["responses"][str(status)] = {
                    "description": _DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": by_type[struct]}},
                }
            _browser_answers(op, entry["responses"])
            if op.authenticated:
                entry["security"] = [{"bearer": []}]
            methods = paths.setdefault(op.path, {})
            same = methods.get(op.method.lower())
            if same is not None and op.media_type is not None:
                # Operations told apart by Content-Type are one operation of the document,
                # with one request body per media type.
                same["requestBody"]["content"].update(entry["requestBody"]["content"])
                same["summary"] += f"; {op.summary}"
                for status, answer in entry["responses"].items():
                    same["responses"].setdefault(status, answer)
                continue
            methods[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "populace", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
