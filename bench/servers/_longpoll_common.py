"""The minimal long-poll protocol every peer of ``bench/longpoll_bench.py`` serves.

``GET /poll?c=<channel>&after=<N>``: the channel (any short name; created on
first use, with a producer task of its own) answers a JSON array of its pending
messages numbered above ``N``, ``[{"s":N+1,"d":"..."}, ...]``, at most
``QUEUE`` of them; the request is held until at least one is there (or
``POLL_TIMEOUT`` s pass: ``[]``): a future the producer resolves, with a
``call_later`` timer (not ``asyncio.timeout``, which needs a task: longwire
does not run each request in a task of its own). ``after=N`` also
acknowledges every message up to ``N``: they are forgotten, which frees room
in the queue. The producer
appends the same 32-byte text (``DATA``) with the next number whenever fewer
than ``QUEUE`` messages are unacknowledged, then waits for room: the server
pushes as fast as the client polls, bounded by its queue.

``Channel`` is that logic for the servers that speak it with ``json.dumps``
(longwire's plain handler, aiohttp, uvicorn); the raw bound has its own,
pre-encoded, in ``raw_longpoll_server.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping

QUEUE = 100  # unacknowledged messages per channel, and the most one answer carries
DATA = "0123456789abcdefghijklmnopqrstuv"  # 32 bytes of text
POLL_TIMEOUT = 25.0

_dumps = json.JSONEncoder(separators=(",", ":")).encode


class BadRequest(ValueError):
    """A malformed query string."""


class Channel:
    """One stream of numbered messages, its producer task and its waiting polls."""

    __slots__ = ("acked", "last", "loop", "messages", "room", "task", "waiter")

    def __init__(self) -> None:
        self.messages: deque[dict[str, object]] = deque()
        self.last = 0  # number of the last message produced
        self.acked = 0  # the client has every message up to this one
        self.loop = asyncio.get_running_loop()
        self.waiter: asyncio.Future[None] | None = None  # a poll waiting for messages
        self.room = asyncio.Event()  # set when an ack freed room in the queue
        self.task = self.loop.create_task(self.produce())

    async def produce(self) -> None:
        while True:
            while self.last - self.acked < QUEUE:
                self.last += 1
                self.messages.append({"s": self.last, "d": DATA})
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            self.room.clear()
            await self.room.wait()

    def ack(self, after: int) -> None:
        if after <= self.acked:
            return
        self.acked = min(after, self.last)
        messages = self.messages
        while messages and messages[0]["s"] <= after:  # type: ignore[operator]
            messages.popleft()
        self.room.set()

    async def poll(self, after: int) -> bytes:
        """The JSON answer to ``after``: acknowledge, wait for a message, encode the batch."""
        self.ack(after)
        if not self.messages:
            waiter = self.waiter = self.loop.create_future()
            timer = self.loop.call_later(POLL_TIMEOUT, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                if self.waiter is waiter:
                    self.waiter = None
            if not self.messages:
                return b"[]"
        batch = [self.messages[i] for i in range(min(len(self.messages), QUEUE))]
        return _dumps(batch).encode()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


CHANNELS: dict[str, Channel] = {}


def parse_query(query: Mapping[str, str]) -> tuple[str, int]:
    """``(channel, after)`` from the query parameters."""
    channel = query.get("c", "")
    after = query.get("after", "0")
    if not channel or len(channel) > 32 or not after.isdigit() or len(after) > 15:
        raise BadRequest("need c=<channel>&after=<N>")
    return channel, int(after)


async def answer(query: Mapping[str, str]) -> bytes:
    """The body answering ``GET /poll`` with these query parameters."""
    name, after = parse_query(query)
    channel = CHANNELS.get(name)
    if channel is None:
        channel = CHANNELS[name] = Channel()
    return await channel.poll(after)
