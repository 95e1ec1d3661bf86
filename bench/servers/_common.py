"""What every benchmark server script shares: arguments, limits, the loop, the READY line.

A server script is run as ``python bench/servers/<name>.py --port P [--uvloop]
[--compression]``. It serves ``GET /`` (``Hello, world!``) where the peer can,
a WebSocket echo at ``/echo`` and, where the peer has one, the broadcast
endpoint ``/broadcast`` (every message received on a ``/broadcast`` connection
is relayed to every ``/broadcast`` connection, the sender included). Once it
listens it prints exactly one line ``READY <port>`` on stdout; the event loop
it runs on goes to stderr as ``LOOP <name>``.

The static-file servers (``*_static_server.py``, driven by ``bench/static_bench.py``)
take ``--directory D`` too and serve the files under ``D`` at ``/``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from collections.abc import Coroutine
from typing import Any

HELLO = b"Hello, world!"
# Every peer accepts messages of at least this size (the 16 MiB workload plus headroom).
MAX_MESSAGE_SIZE = 32 * 1024 * 1024
HOST = "127.0.0.1"


def parse_args(description: str, *, static: bool = False) -> argparse.Namespace:
    """The common arguments; ``static``: the static-file servers' ``--directory`` too."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument(
        "--compression", action="store_true",
        help="accept permessage-deflate (only the idle-memory workload uses it)",
    )
    if static:
        parser.add_argument(
            "--directory", required=True, help="the directory served at / (static_bench.py)"
        )
    return parser.parse_args()


def raise_nofile_limit() -> None:
    """Raise the open-file soft limit to the hard limit (the idle workload holds 19,000)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def announce(port: int) -> None:
    """Tell the harness that the server listens, and on which loop."""
    loop = asyncio.get_running_loop()
    announce_loop(type(loop).__module__.split(".")[0])
    print(f"READY {port}", flush=True)


def announce_loop(name: str) -> None:
    print(f"LOOP {name}", file=sys.stderr, flush=True)


async def serve_forever(server: Any, port: int) -> None:
    """Announce, then serve with an ``asyncio.Server`` (or picows') until killed."""
    announce(port)
    async with server:
        await server.serve_forever()


async def serve_aiohttp(app: Any, host: str, port: int) -> None:
    """Serve an ``aiohttp.web.Application`` (access log off), announce, run until killed."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    announce(port)
    try:
        await asyncio.Event().wait()  # until killed
    finally:
        await runner.cleanup()


async def serve_uvicorn(config: Any, port: int) -> None:
    """Serve a ``uvicorn.Config``, announce once uvicorn has started, run until killed."""
    import uvicorn

    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.01)
    announce(port)
    await serving


def run(main: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    """Run ``main`` on uvloop or on the default asyncio loop, until killed."""
    raise_nofile_limit()
    try:
        if use_uvloop:
            import uvloop

            uvloop.run(main)
        else:
            asyncio.run(main)
    except KeyboardInterrupt:
        pass
