"""An app factory: ``--factory apps.factory:create_app`` calls it once to get the app."""

from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# How many times the factory ran in this process (the server should call it once).
CALLS = itertools.count(1)


def create_app() -> Starlette:
    calls = next(CALLS)

    async def made(request: Request) -> Response:
        return JSONResponse({"factory": True, "calls": calls})

    return Starlette(routes=[Route("/factory", made)])
