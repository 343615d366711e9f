"""The ceiling: a bare Starlette app that answers GET population with a fixed body.

It serves the exact bytes populace returned for the benchmarked population, on the same route
shape, with the same server settings as ``populace serve`` (uvicorn, uvloop, httptools, one
worker, access log off). No auth, no database: what Python can serve at all on this machine.

    python bench/ceiling.py --port 9000 --body body.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build(body: bytes) -> Starlette:
    async def population(_request: Request) -> Response:
        return Response(body, media_type="application/json")

    path = "/v1/environments/{envID}/populations/{popID}"
    return Starlette(routes=[Route(path, population, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="file with the JSON body")
    args = parser.parse_args()
    uvicorn.run(
        build(args.body.read_bytes()),
        host=args.host,
        port=args.port,
        workers=1,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
