"""aiohttp.web long-poll benchmark server: the minimal protocol of ``_longpoll_common.py``.

A plain ``web.get("/poll")`` handler over the shared ``Channel`` (producer task,
a future holding the poll, ``json``), answering ``web.Response(body=...,
content_type="application/json")``. The access log off, the loop per
``--uvloop`` (default asyncio).
"""

from __future__ import annotations

import asyncio

from _common import announce, parse_args, run
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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    announce(port)
    try:
        await asyncio.Event().wait()  # until killed
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    run(main(args.host, args.port), args.uvloop)
