"""A Starlette app whose lifespan puts a token in ``state``, read back by a route.

With ``ASGI_TEST_SHUTDOWN_FILE`` set, the lifespan's shutdown half writes
``shutdown`` into that file: the test sees that the server ran it on SIGTERM.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# How many times the lifespan started in this process (the server should start it once).
STARTUPS = itertools.count(1)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
    yield {"token": "from-lifespan", "startups": next(STARTUPS)}
    marker = os.environ.get("ASGI_TEST_SHUTDOWN_FILE")
    if marker:
        Path(marker).write_text("shutdown")


async def state(request: Request) -> Response:
    return JSONResponse({"token": request.state.token, "startups": request.state.startups})


app = Starlette(routes=[Route("/state", state)], lifespan=lifespan)
