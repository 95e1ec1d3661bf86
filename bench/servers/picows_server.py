"""picows benchmark server (its callback core API, ``ws_create_server``): WebSocket only.

picows answers plain HTTP only as a refused upgrade with ``Connection: close``,
so it takes no part in the HTTP workloads. ``/echo`` echoes each frame from
``on_ws_frame`` (opcode and fin bit as received: a fragmented message comes back
fragmented, which is what picows's own echo examples do); ``/broadcast`` sends
each frame to every ``/broadcast`` transport (the sender included). Settings:
defaults (auto-pong on, auto-ping off, aiofastnet transports when installed)
except ``max_frame_size`` raised to 32 MiB. picows has no permessage-deflate,
so ``--compression`` is ignored.
"""

from __future__ import annotations

from _common import MAX_MESSAGE_SIZE, parse_args, run, serve_forever
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

DATA = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION)
BROADCAST_GROUP: set[WSTransport] = set()


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind in DATA:
            transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)
        elif kind == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


class Relay(WSListener):
    def on_ws_connected(self, transport: WSTransport) -> None:
        BROADCAST_GROUP.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        BROADCAST_GROUP.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind in DATA:
            payload = frame.get_payload_as_bytes()
            for member in BROADCAST_GROUP:
                member.send(kind, payload, frame.fin)
        elif kind == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def route(request: WSUpgradeRequest) -> WSListener | None:
    if request.path == b"/echo":
        return Echo()
    if request.path == b"/broadcast":
        return Relay()
    return None


async def main(host: str, port: int) -> None:
    server = await ws_create_server(route, host, port, max_frame_size=MAX_MESSAGE_SIZE)
    await serve_forever(server, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    run(main(args.host, args.port), args.uvloop)
