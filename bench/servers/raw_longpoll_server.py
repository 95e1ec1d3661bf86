"""The raw-asyncio bound for the long-poll workload: the minimal protocol, least work.

An ``asyncio.BufferedProtocol`` (reads land in one preallocated buffer; see
``raw_asyncio_server.py`` for why on the default loop) speaking the minimal
protocol of ``_longpoll_common.py`` with no framework, no JSON library and no
task per channel: each message is encoded once, when produced
(``{"s":N,"d":"..."}`` as bytes); an answer is a pre-built head plus
``b",".join`` of the pending messages; a poll finding nothing pending is parked
on its channel and answered by the producer, which is a ``call_soon``
callback scheduled when an acknowledgement frees room. The request line is
split by hand, the headers are not parsed (one request at a time per
connection, as the load generator sends). It is a lower bound on work, not a
server. Default asyncio loop (``uvloop`` per ``--uvloop``).
"""

from __future__ import annotations

import asyncio
from collections import deque

from _common import parse_args, run, serve_forever
from _longpoll_common import DATA, QUEUE

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MESSAGE = b'{"s":%d,"d":"' + DATA.encode() + b'"}'
READ_BUFFER = bytearray(64 * 1024)
READ_VIEW = memoryview(READ_BUFFER)


class RawChannel:
    __slots__ = ("acked", "last", "loop", "messages", "parked", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.messages: deque[bytes] = deque()
        self.last = 0
        self.acked = 0
        self.parked: RawProtocol | None = None
        self.scheduled = False
        self.produce()

    def produce(self) -> None:
        self.scheduled = False
        while self.last - self.acked < QUEUE:
            self.last += 1
            self.messages.append(MESSAGE % self.last)
        parked = self.parked
        if parked is not None:
            self.parked = None
            self.answer(parked)

    def poll(self, protocol: RawProtocol, after: int) -> None:
        if after > self.acked:
            dropped = min(after, self.last) - self.acked
            self.acked += dropped
            messages = self.messages
            for _ in range(min(dropped, len(messages))):
                messages.popleft()
            if not self.scheduled:
                self.scheduled = True
                self.loop.call_soon(self.produce)
        if self.messages:
            self.answer(protocol)
        else:
            self.parked = protocol

    def answer(self, protocol: RawProtocol) -> None:
        body = b"[" + b",".join(self.messages) + b"]"
        protocol.transport.write(HEAD % len(body) + body)


CHANNELS: dict[bytes, RawChannel] = {}


class RawProtocol(asyncio.BufferedProtocol):
    __slots__ = ("buffer", "transport")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_VIEW

    def buffer_updated(self, nbytes: int) -> None:
        data = self.buffer + READ_BUFFER[:nbytes]
        end = data.find(b"\r\n\r\n")
        while end >= 0:
            self.request(data[: data.index(b"\r\n")])
            data = data[end + 4:]
            end = data.find(b"\r\n\r\n")
        self.buffer = data

    def request(self, line: bytes) -> None:
        # b"GET /poll?c=NAME&after=N HTTP/1.1"
        try:
            target = line.split(b" ", 2)[1]
            path, _, query = target.partition(b"?")
            fields = dict(pair.split(b"=", 1) for pair in query.split(b"&"))
            name, after = fields[b"c"], int(fields[b"after"])
        except (IndexError, KeyError, ValueError):
            path, name, after = b"", b"", -1
        if path != b"/poll" or not name or after < 0:
            self.transport.write(BAD_REQUEST)
            self.transport.close()
            return
        channel = CHANNELS.get(name)
        if channel is None:
            channel = CHANNELS[name] = RawChannel(asyncio.get_running_loop())
        channel.poll(self, after)


async def main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(RawProtocol, host, port)
    await serve_forever(server, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    run(main(args.host, args.port), args.uvloop)
