"""The raw-asyncio bound for static files: the least work asyncio allows.

Always on the default asyncio loop (whatever ``--uvloop`` says: it is the loop
with a native ``loop.sendfile``), an ``asyncio.BufferedProtocol`` reading into
one preallocated buffer (see ``raw_asyncio_server.py`` for why). At start it
stats every regular file directly under ``--directory`` and builds its answers
once: files up to 64 KiB are held in memory and written with their head in one
``transport.write``; larger ones go out as a pre-built head and then
``loop.sendfile`` (one file object per file, shared: ``os.sendfile`` takes the
offset). Per request it finds the path in the request line, an
``If-None-Match`` equal to the file's ETag (a pre-built 304) and a one-range
``Range: bytes=a-b`` (206 with ``Content-Range``); nothing else is parsed or
validated, no ``Date`` is sent, and unknown paths get 404. Requests on one
connection are answered in order (a queue, drained by one task while a
``sendfile`` is under way). A lower bound on work, not a server.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import stat
from typing import IO, NamedTuple

from _common import parse_args, run, serve_forever

SMALL = 64 * 1024
RANGE = re.compile(rb"bytes=(\d+)-(\d+)\s*$")
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
READ_BUFFER = bytearray(64 * 1024)
READ_VIEW = memoryview(READ_BUFFER)
TYPES = {".css": b"text/css", ".bin": b"application/octet-stream", ".html": b"text/html"}


class File(NamedTuple):
    size: int
    etag: bytes
    content_type: bytes
    body: bytes | None  # in memory when small
    file: IO[bytes]
    ok: bytes  # the whole 200 (head and body) when small, else its head
    not_modified: bytes


# An answer: bytes to write, then (file, offset, count) to sendfile, or None.
Answer = tuple[bytes, tuple[IO[bytes], int, int] | None]
FILES: dict[bytes, File] = {}


def load(directory: str) -> None:
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            continue
        etag = b'"%x-%x"' % (info.st_mtime_ns, info.st_size)
        kind = TYPES.get(os.path.splitext(name)[1], b"application/octet-stream")
        file = open(path, "rb")  # noqa: SIM115 - open for the server's lifetime
        body = file.read() if info.st_size <= SMALL else None
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nETag: %s\r\n"
            b"Accept-Ranges: bytes\r\n\r\n" % (kind, info.st_size, etag)
        )
        FILES[b"/" + os.fsencode(name)] = File(
            info.st_size, etag, kind, body, file, head + (body or b""),
            b"HTTP/1.1 304 Not Modified\r\nETag: %s\r\n\r\n" % etag,
        )


def answer(head: bytes) -> Answer:
    """The answer to one request head (without its final CRLF CRLF)."""
    path = head[4 : head.find(b" ", 4)]
    entry = FILES.get(path)
    if entry is None:
        return NOT_FOUND, None
    if b"\r\n" in head:
        lower = head.lower()
        start = lower.find(b"\r\nif-none-match:")
        if start >= 0:
            end = lower.find(b"\r\n", start + 2)
            if entry.etag in head[start : end if end >= 0 else len(head)]:
                return entry.not_modified, None
        start = lower.find(b"\r\nrange:")
        if start >= 0:
            end = lower.find(b"\r\n", start + 2)
            value = head[start + 8 : end if end >= 0 else len(head)].strip()
            match = RANGE.match(value)
            if match:
                first, last = int(match.group(1)), min(int(match.group(2)), entry.size - 1)
                if first <= last:
                    count = last - first + 1
                    partial = (
                        b"HTTP/1.1 206 Partial Content\r\nContent-Type: %s\r\n"
                        b"Content-Length: %d\r\nContent-Range: bytes %d-%d/%d\r\n"
                        b"ETag: %s\r\n\r\n"
                        % (entry.content_type, count, first, last, entry.size, entry.etag)
                    )
                    if entry.body is not None:
                        return partial + entry.body[first : last + 1], None
                    return partial, (entry.file, first, count)
    if entry.body is not None:
        return entry.ok, None
    return entry.ok, (entry.file, 0, entry.size)


class RawStatic(asyncio.BufferedProtocol):
    __slots__ = ("buffer", "queue", "sending", "transport")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.queue: collections.deque[Answer] = collections.deque()
        self.sending: asyncio.Task[None] | None = None

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_VIEW

    def buffer_updated(self, nbytes: int) -> None:
        data = self.buffer + READ_VIEW[:nbytes] if self.buffer else bytes(READ_VIEW[:nbytes])
        position = 0
        while (end := data.find(b"\r\n\r\n", position)) >= 0:
            reply = answer(data[position:end])
            position = end + 4
            if self.sending is None and reply[1] is None:
                self.transport.write(reply[0])
            else:
                self.queue.append(reply)
        self.buffer = data[position:]
        if self.queue and self.sending is None:
            self.sending = asyncio.get_running_loop().create_task(self.drain())

    async def drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.queue:
                data, section = self.queue.popleft()
                self.transport.write(data)
                if section is not None:
                    file, offset, count = section
                    await loop.sendfile(self.transport, file, offset, count, fallback=False)
        except (ConnectionError, RuntimeError):
            self.transport.abort()
        finally:
            self.sending = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sending is not None:
            self.sending.cancel()


async def main(host: str, port: int, directory: str) -> None:
    load(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(RawStatic, host, port)
    await serve_forever(server, port)


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0], static=True)
    run(main(args.host, args.port, args.directory), use_uvloop=False)
