"""What the broadcast benchmark servers share (``bench/broadcast_bench.py``).

Each ``broadcast_*.py`` server script serves a WebSocket endpoint subscribers
connect to and, on a second port, a line-based TCP *control* socket (the same
for every peer, so the trigger costs every server the same):

- ``COUNT`` -> ``<n>``: the subscribers the server has registered (``-1``: it
  cannot tell; the client then relies on its own protocol's acknowledgements);
- ``GO <n> <first>`` -> ``DONE <seconds>``: the server publishes messages
  ``first`` .. ``first + n - 1`` (``payload(i)``, 64 ASCII characters) to every
  subscriber, one after the other in a server-side loop, as an application
  would, and answers once its loop has returned (the seconds the loop took; the
  bytes may still be in the transports' buffers).

Once both listen the script prints ``READY <port>`` (the WebSocket port) on
stdout and ``LOOP <name>`` on stderr (``_common.announce``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from _common import HOST

SIZE = 64
_FILL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def payload(index: int) -> str:
    """Message ``index``: 64 ASCII characters, its number first (JSON needs no escape)."""
    head = f"{index:08d}-"
    return head + _FILL[: SIZE - len(head)]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True, help="the WebSocket port")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--broker", default="memory://", help="longwire hub only")
    parser.add_argument("--backend", default="uvicorn", help="python-socketio only")
    return parser.parse_args()


Publish = Callable[[int, int], Awaitable[None]]


async def serve_control(
    host: str, port: int, publish: Publish, count: Callable[[], int]
) -> asyncio.Server:
    """Listen for ``COUNT`` and ``GO`` on ``port`` (see the module docstring)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                words = line.split()
                if words[:1] == [b"GO"]:
                    started = time.perf_counter()
                    await publish(int(words[2]), int(words[1]))
                    writer.write(f"DONE {time.perf_counter() - started:.6f}\n".encode())
                elif words[:1] == [b"COUNT"]:
                    writer.write(f"{count()}\n".encode())
                else:
                    writer.write(b"ERROR\n")
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
