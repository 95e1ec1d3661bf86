"""aiohttp.web long-poll benchmark server: the minimal protocol of ``_longpoll_common.py``.

A plain ``web.get("/poll")`` handler over the shared ``Channel`` (producer task,
a future holding the poll, ``json``), answering ``web.Response(body=...,
content_type="application/json")``. The access log off, the loop per
``--uvloop`` (default asyncio).
"""

from __future__ import annotations

from _common import parse_args, run, serve_aiohttp
from _longpoll_common import BadRequest, answer
from aiohttp import web


async def poll(request: web.Request) -> web.Response:
    try:
        body = await answer(request.query)
    except BadRequest as error:
        return web.Response(status=400, text=str(error))
    return web.Response(body=body, content_type="application/json")


async def main(host: str, port: int) -> None:
    app = web.Application()
    app.add_routes([web.get("/poll", poll)])
    await serve_aiohttp(app, host, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    run(main(args.host, args.port), args.uvloop)
