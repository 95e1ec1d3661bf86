"""websockets (new asyncio API, ``websockets.asyncio.server.serve``) benchmark server.

``/echo`` echoes each message (``async for`` / ``await send``), ``/broadcast``
relays each message with ``websockets.asyncio.server.broadcast`` to every
``/broadcast`` connection (the sender included). ``GET /`` is answered from
``process_request`` with ``connection.respond``: websockets serves plain HTTP
only to reject a handshake, so that response carries ``Connection: close`` (no
keep-alive, no pipelining). Settings: defaults except ``compression=None``
(``"deflate"`` with ``--compression``) and ``max_size`` raised to 32 MiB.
"""

from __future__ import annotations

from http import HTTPStatus

from _common import HELLO, MAX_MESSAGE_SIZE, announce, parse_args, run
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

HELLO_TEXT = HELLO.decode()
BROADCAST_GROUP: set[ServerConnection] = set()


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    if request.path == "/":
        return connection.respond(HTTPStatus.OK, HELLO_TEXT)
    return None


async def handler(websocket: ServerConnection) -> None:
    if websocket.request is not None and websocket.request.path == "/broadcast":
        BROADCAST_GROUP.add(websocket)
        try:
            async for message in websocket:
                broadcast(BROADCAST_GROUP, message)
        finally:
            BROADCAST_GROUP.discard(websocket)
        return
    async for message in websocket:
        await websocket.send(message)


async def main(host: str, port: int, compression: bool) -> None:
    async with serve(
        handler, host, port,
        process_request=process_request,
        compression="deflate" if compression else None,
        max_size=MAX_MESSAGE_SIZE,
    ) as server:
        announce(port)
        await server.serve_forever()


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    run(main(args.host, args.port, args.compression), args.uvloop)
