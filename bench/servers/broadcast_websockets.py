"""websockets broadcast server: ``websockets.broadcast(connections, message)`` per message.

Subscribers connect to ``/broadcast`` of ``websockets_server.py`` (its handler
keeps the open connections in a set; ``serve`` with ``compression=None``,
``max_size`` 32 MiB, defaults otherwise: keepalive pings every 20 s); on ``GO``
the loop calls ``broadcast(BROADCAST_GROUP, payload(i))`` for each message (a
``str``: text frames), as websockets' documentation shows.
"""

from __future__ import annotations

from _common import run
from broadcast_common import parse_args, payload, serve_control
from websockets import broadcast
from websockets_server import BROADCAST_GROUP
from websockets_server import main as websockets_main


async def publish(first: int, count: int) -> None:
    for index in range(first, first + count):
        broadcast(BROADCAST_GROUP, payload(index))


async def main(args) -> None:  # type: ignore[no-untyped-def]
    await serve_control(args.host, args.control_port, publish, lambda: len(BROADCAST_GROUP))
    await websockets_main(args.host, args.port, False)


if __name__ == "__main__":
    arguments = parse_args(__doc__.splitlines()[0])
    run(main(arguments), arguments.uvloop)
