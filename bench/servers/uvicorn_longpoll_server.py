"""uvicorn long-poll benchmark server: a raw ASGI 3 app on the minimal protocol.

The shared ``Channel`` of ``_longpoll_common.py`` behind a raw ASGI app (query
string parsed with ``urllib.parse.parse_qsl``). uvicorn's benchmark
configuration, as ``uvicorn_server.py``: ``http="httptools"``,
``loop="uvloop"`` (always), ``access_log=False``, ``log_level="warning"``,
``lifespan="off"``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from _common import parse_args, run, serve_uvicorn
from _longpoll_common import BadRequest, answer

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    status, content_type = 200, b"application/json"
    if scope["path"] != "/poll":
        status, body, content_type = 404, b"not found", b"text/plain"
    else:
        try:
            body = await answer(dict(parse_qsl(scope["query_string"].decode("latin-1"))))
        except BadRequest as error:
            status, body, content_type = 400, str(error).encode(), b"text/plain"
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type),
                    (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


async def main(host: str, port: int) -> None:
    config = uvicorn.Config(
        app, host=host, port=port, http="httptools", loop="uvloop",
        lifespan="off", access_log=False, log_level="warning",
    )
    await serve_uvicorn(config, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    run(main(args.host, args.port), use_uvloop=True)
