"""picows broadcast server: ``transport.send`` of each message to every subscriber.

Subscribers connect to ``/broadcast`` of ``picows_server.py`` (its listener
registers each transport); on ``GO`` each message is encoded to bytes once and
sent with ``WSTransport.send(TEXT, data)`` (picows builds the frame header in C
and writes header and payload with one write) to every transport. picows
defaults otherwise (aiofastnet transports when installed, auto-ping off).
"""

from __future__ import annotations

from _common import run
from broadcast_common import parse_args, payload, serve_control
from picows import WSMsgType
from picows_server import BROADCAST_GROUP
from picows_server import main as picows_main

TEXT = WSMsgType.TEXT


async def publish(first: int, count: int) -> None:
    for index in range(first, first + count):
        data = payload(index).encode()
        for transport in BROADCAST_GROUP:
            transport.send(TEXT, data)


async def main(args) -> None:  # type: ignore[no-untyped-def]
    await serve_control(args.host, args.control_port, publish, lambda: len(BROADCAST_GROUP))
    await picows_main(args.host, args.port)


if __name__ == "__main__":
    arguments = parse_args(__doc__.splitlines()[0])
    run(main(arguments), arguments.uvloop)
