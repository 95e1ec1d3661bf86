"""The SSE benchmark servers (``bench/sse_bench.py``), one per ``--kind``.

Every kind answers ``GET /events?n=N`` with a ``text/event-stream`` of N events
``data: 0123456789abcdef`` (25 bytes each) and then ends the response; the
client sends ``Connection: close``, so each server closes after it. Kinds:

- ``longwire``: ``@app.sse`` with ``heartbeat=None``, a handler awaiting
  ``events.send(PAYLOAD)`` per event (default asyncio loop, like every peer
  but the uvicorn ones; ``--uvloop`` switches).
- ``longwire-stream``: a plain ``StreamingResponse`` over an async generator
  yielding ``encode_event(PAYLOAD)`` per event.
- ``sse-starlette``: ``EventSourceResponse`` over an async generator yielding
  ``{"data": PAYLOAD}`` on uvicorn (httptools, uvloop, access log off: uvicorn's
  benchmark configuration, as in servers_bench.py); its ping stays at its default.
- ``uvicorn``: a raw ASGI app sending each encoded event as one
  ``http.response.body`` message (``more_body``), same uvicorn configuration.
- ``aiohttp``: ``web.StreamResponse`` with ``await response.write(event)`` per event.
- ``raw``: the raw-asyncio bound: an ``asyncio.Protocol`` that writes a fixed
  head, then each pre-encoded event with one ``transport.write`` (waiting for
  ``resume_writing`` when paused), then closes. No HTTP parsing, no chunking.
- ``raw-batched``: the same with one ``transport.write`` per 1,024 events: the
  memory-copy ceiling, shown for scale.

It prints ``READY <port>`` once listening (bench/servers/_common.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

from _common import announce, announce_loop, run

PAYLOAD = "0123456789abcdef"
EVENT = f"data: {PAYLOAD}\n\n".encode()
KINDS = ("longwire", "longwire-stream", "sse-starlette", "uvicorn", "aiohttp", "raw", "raw-batched")


def count(query: str) -> int:
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name == "n":
            return int(value)
    return 100_000


async def longwire_main(args: argparse.Namespace, stream: bool) -> None:
    from longwire.aio import Server, ServerConfig
    from longwire.app import App, EventStream, StreamingResponse
    from longwire.sse import CONTENT_TYPE, encode_event

    app = App()
    if stream:

        @app.get("/events")
        async def events(request: Any) -> StreamingResponse:
            n = count(request.query_string)

            async def body() -> AsyncIterator[bytes]:
                for _ in range(n):
                    yield encode_event(PAYLOAD)

            return StreamingResponse(body(), content_type=CONTENT_TYPE)

    else:

        @app.sse("/events", heartbeat=None)
        async def sse(request: Any, events: EventStream) -> None:
            for _ in range(count(request.query_string)):
                await events.send(PAYLOAD)

    config = ServerConfig(access_log=False)
    async with Server(app, host=args.host, port=args.port, config=config):
        announce(args.port)
        await asyncio.Event().wait()


def uvicorn_run(args: argparse.Namespace, starlette: bool) -> None:
    import uvicorn

    if starlette:
        from sse_starlette.sse import EventSourceResponse
        from starlette.applications import Starlette
        from starlette.routing import Route

        async def events(request: Any) -> EventSourceResponse:
            n = int(request.query_params.get("n", "100000"))

            async def body() -> AsyncIterator[dict[str, str]]:
                for _ in range(n):
                    yield {"data": PAYLOAD}

            return EventSourceResponse(body())

        app: Any = Starlette(routes=[Route("/events", events)])
    else:

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            await send({
                "type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"),
                            (b"cache-control", b"no-cache")],
            })  # fmt: skip
            message = {"type": "http.response.body", "body": EVENT, "more_body": True}
            for _ in range(count(scope["query_string"].decode())):
                await send(message)
            await send({"type": "http.response.body", "body": b""})

    announce_loop("uvloop")
    print(f"READY {args.port}", flush=True)  # uvicorn binds before serving: close enough
    uvicorn.run(app, host=args.host, port=args.port, http="httptools", loop="uvloop",
                access_log=False, log_level="warning", lifespan="off")  # fmt: skip


async def aiohttp_main(args: argparse.Namespace) -> None:
    from aiohttp import web

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for _ in range(int(request.query.get("n", "100000"))):
            await response.write(EVENT)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    announce(args.port)
    await asyncio.Event().wait()


HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Connection: close\r\n\r\n"
)


class RawSSE(asyncio.Protocol):
    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.data = b""
        self.resumed: asyncio.Future[None] | None = None
        self.paused = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data
        if b"\r\n\r\n" in self.data:
            target = self.data.split(b" ", 2)[1].decode()
            n = count(target.partition("?")[2])
            asyncio.get_running_loop().create_task(self.send(n))

    async def send(self, n: int) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(HEAD)
        batch = self.batch
        chunk = EVENT * batch
        sent = 0
        while sent < n and not transport.is_closing():
            if batch == 1:
                transport.write(EVENT)
                sent += 1
            else:
                size = min(batch, n - sent)
                transport.write(chunk if size == batch else EVENT * size)
                sent += size
            if self.paused:
                self.resumed = asyncio.get_running_loop().create_future()
                await self.resumed
        transport.close()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.resume_writing()


async def raw_main(args: argparse.Namespace, batch: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: RawSSE(batch), args.host, args.port)
    announce(args.port)
    async with server:
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    kind = args.kind
    if kind in ("sse-starlette", "uvicorn"):
        uvicorn_run(args, starlette=kind == "sse-starlette")
        return
    if kind.startswith("longwire"):
        coro = longwire_main(args, stream=kind == "longwire-stream")
    elif kind == "aiohttp":
        coro = aiohttp_main(args)
    else:
        coro = raw_main(args, 1 if kind == "raw" else 1024)
    run(coro, args.uvloop)


if __name__ == "__main__":
    sys.exit(main())
