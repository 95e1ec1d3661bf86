"""The raw-asyncio bound: the least work asyncio allows for each workload.

On uvloop an ``asyncio.Protocol``; on the default loop an
``asyncio.BufferedProtocol`` whose reads land in one preallocated buffer (with a
plain ``Protocol`` the default loop of CPython 3.11 maps, remaps and unmaps a
256 KiB buffer for every read: three system calls), each read then handed as
``bytes`` to the same ``data_received``. Each is the cheaper on its loop.

HTTP: every request gets the same pre-built response bytes; requests are
counted by their ``\\r\\n\\r\\n`` terminators (no parsing at all).

WebSocket (``/echo``, ``/broadcast``): the upgrade is answered with a fixed 101
plus the computed Sec-WebSocket-Accept; then frames are walked header by header,
unmasked with one ``int.from_bytes`` XOR and written back unmasked, with one
``transport.write`` per read. Fin bit and opcode are echoed as received (so a
fragmented message comes back fragmented, which is still a correct echo); close
is answered with the same close frame, ping with pong. On ``/broadcast`` the
data frames of one read are encoded once and written to every member with one
write each. It does NOT validate UTF-8 in text frames and negotiates no
extension: it is a lower bound on work, not a complete server (``--compression``
is accepted and ignored).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct

from _common import parse_args, run, serve_forever

RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 13\r\n"
    b"\r\n"
    b"Hello, world!"
)
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: %s\r\n\r\n"
)
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
# A payload this large is written after its header by a second write, not joined.
JOIN_LIMIT = 64 * 1024

BROADCAST_GROUP: set[RawProtocol] = set()
# Every read lands here (see the module docstring).
READ_BUFFER = bytearray(256 * 1024)
READ_VIEW = memoryview(READ_BUFFER)


def frame_header(first_byte: int, length: int) -> bytes:
    if length < 126:
        return bytes((first_byte, length))
    if length < 65536:
        return struct.pack("!BBH", first_byte, 126, length)
    return struct.pack("!BBQ", first_byte, 127, length)


class RawProtocol(asyncio.Protocol):
    __slots__ = ("broadcast", "buffer", "need", "transport", "websocket")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = bytearray()
        self.need = 0  # bytes the frame at the head of ``buffer`` needs
        self.websocket = False
        self.broadcast = False

    def connection_lost(self, exc: Exception | None) -> None:
        BROADCAST_GROUP.discard(self)

    def data_received(self, data: bytes) -> None:
        if self.websocket:
            self.frames_received(data)
            return
        buffer = bytes(self.buffer) + data if self.buffer else data
        if buffer.startswith((b"GET /echo", b"GET /broadcast")):
            self.upgrade(buffer)
            return
        count = buffer.count(b"\r\n\r\n")
        if count:
            self.transport.write(RESPONSE * count)
            buffer = buffer[buffer.rfind(b"\r\n\r\n") + 4 :]
        self.buffer = bytearray(buffer)

    def upgrade(self, buffer: bytes) -> None:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            self.buffer = bytearray(buffer)
            return
        head = buffer[:end].lower()
        start = head.find(b"\r\nsec-websocket-key:")
        if start < 0:
            self.transport.write(BAD_REQUEST)
            self.transport.close()
            return
        stop = head.find(b"\r\n", start + 2)
        key = buffer[start + 20 : stop if stop >= 0 else end].strip()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        self.transport.write(SWITCHING % accept)
        self.websocket = True
        if buffer.startswith(b"GET /broadcast"):
            self.broadcast = True
            BROADCAST_GROUP.add(self)
        self.buffer = bytearray()
        if len(buffer) > end + 4:
            self.frames_received(buffer[end + 4 :])

    def frames_received(self, data: bytes) -> None:
        if self.buffer:
            self.buffer += data
            if len(self.buffer) < self.need:
                return
            data = bytes(self.buffer)
            self.buffer = bytearray()
        size = len(data)
        position = 0
        self.need = 2
        out: list[bytes] = []
        relayed: list[bytes] = []
        while size - position >= 2:
            first = data[position]
            length = data[position + 1] & 0x7F
            if not data[position + 1] & 0x80:  # RFC 6455 §5.1: clients must mask
                self.transport.write(b"\x88\x02\x03\xea")
                self.transport.close()
                return
            header_size = 6
            if length == 126:
                header_size = 8
                if size - position < header_size:
                    self.need = header_size
                    break
                length = int.from_bytes(data[position + 2 : position + 4], "big")
            elif length == 127:
                header_size = 14
                if size - position < header_size:
                    self.need = header_size
                    break
                length = int.from_bytes(data[position + 2 : position + 10], "big")
            end = position + header_size + length
            if end > size:
                self.need = end - position
                break
            mask = data[position + header_size - 4 : position + header_size]
            payload = data[position + header_size : end]
            if length:
                mask_bytes = (mask * ((length + 3) >> 2))[:length]
                payload = (
                    int.from_bytes(payload, "little") ^ int.from_bytes(mask_bytes, "little")
                ).to_bytes(length, "little")
            position = end
            opcode = first & 0x0F
            if opcode == 0x8:  # close: answer with the same code, then close
                out.append(frame_header(0x88, length))
                out.append(payload)
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            if opcode == 0x9:
                first = 0x8A  # ping -> pong with the same payload
            elif opcode == 0xA:
                continue
            elif self.broadcast:
                relayed.append(frame_header(first, length))
                relayed.append(payload)
                continue
            out.append(frame_header(first, length))
            if length > JOIN_LIMIT:
                self.transport.write(b"".join(out))
                self.transport.write(payload)
                out = []
            else:
                out.append(payload)
        if position < size:
            self.buffer = bytearray(data[position:])
        if out:
            self.transport.write(b"".join(out))
        if relayed:  # the frames of this read, encoded once, one write per member
            frames = b"".join(relayed)
            for member in BROADCAST_GROUP:
                member.transport.write(frames)


class RawBufferedProtocol(RawProtocol, asyncio.BufferedProtocol):
    __slots__ = ()

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_VIEW

    def buffer_updated(self, nbytes: int) -> None:
        # One copy out of the shared buffer, as a Protocol's read makes on uvloop.
        self.data_received(bytes(READ_VIEW[:nbytes]))


async def main(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    on_uvloop = type(loop).__module__.startswith("uvloop")
    protocol = RawProtocol if on_uvloop else RawBufferedProtocol
    server = await loop.create_server(protocol, host, port)
    await serve_forever(server, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    run(main(args.host, args.port), args.uvloop)
