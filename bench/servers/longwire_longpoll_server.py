"""longwire long-poll benchmark server, hand-written: ``app.get("/poll")`` on the minimal protocol.

The minimal protocol of ``_longpoll_common.py`` (the same ``Channel`` as the
aiohttp and uvicorn peers: a producer task per channel, a future
to hold the poll, ``json`` to encode the batch) behind a plain longwire route
returning ``Response(body, content_type="application/json")``. Settings:
``access_log=False``, the default asyncio loop (``uvloop`` per ``--uvloop``).
``READY`` is printed from ``app.run``'s ``ready`` callback.
"""

from __future__ import annotations

from typing import Any

from _common import announce, parse_args
from _longpoll_common import BadRequest, answer

from longwire.app import App, Response


def build() -> App:
    app = App()

    @app.get("/poll")
    async def poll(request: Any) -> Response:
        try:
            body = await answer(request.query)
        except BadRequest as error:
            return Response(str(error), 400, content_type="text/plain")
        return Response(body, content_type="application/json")

    return app


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    build().run(
        host=args.host, port=args.port, access_log=False, uvloop=args.uvloop,
        ready=lambda server: announce(args.port),
    )
