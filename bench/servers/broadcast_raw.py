"""The raw-asyncio broadcast bound: a message framed once, one ``transport.write`` each.

Subscribers connect to ``/broadcast`` of ``raw_asyncio_server.py``'s protocol
(fixed 101 answer, no extension, no UTF-8 check); on ``GO`` each message is
encoded once as an unmasked text frame and written to every subscriber's
transport. The least asyncio allows with a write per message and subscriber.
"""

from __future__ import annotations

from _common import run
from broadcast_common import parse_args, payload, serve_control
from raw_asyncio_server import BROADCAST_GROUP, frame_header
from raw_asyncio_server import main as raw_main


async def publish(first: int, count: int) -> None:
    for index in range(first, first + count):
        data = payload(index).encode()
        frame = frame_header(0x81, len(data)) + data
        for member in BROADCAST_GROUP:
            member.transport.write(frame)


async def main(args) -> None:  # type: ignore[no-untyped-def]
    await serve_control(args.host, args.control_port, publish, lambda: len(BROADCAST_GROUP))
    await raw_main(args.host, args.port)


if __name__ == "__main__":
    arguments = parse_args(__doc__.splitlines()[0])
    run(main(arguments), arguments.uvloop)
