"""``@app.sse`` endpoints over loopback: raw sockets, aiohttp and ``curl -N``.

The event streams are read by a small parser written here from WHATWG HTML
§9.2.6 (fields, comments, blank-line dispatch), over a chunked-body reader
written from RFC 9112 §7.1, not with longwire's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from leakcheck import run_without_leaks
from longwire import App
from longwire.aio import Server, ServerConfig
from longwire.app import Compression, EventStream, SSEEndpoint
from longwire.app._sse import OVERFLOW_COMMENT

TIMEOUT = 20.0


def run(main: Callable[[], Awaitable[None]], timeout: float = TIMEOUT) -> None:
    async def call() -> None:
        await main()

    run_without_leaks(call(), timeout=timeout)


@contextlib.asynccontextmanager
async def serve(app: App, **config: Any) -> AsyncIterator[Server]:
    config.setdefault("access_log", False)
    async with Server(app, port=0, config=ServerConfig(**config)) as server:
        yield server


Item = tuple[str, dict[str, str]]  # ("event", fields) or ("comment", {"text": ...})


class RawStream:
    """An event stream read off a raw socket: the head, then items one by one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.buffer = b""
        self.ended = False  # the last chunk arrived
        self.raw = b""  # the whole body so far

    async def read_head(self) -> None:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()

    async def _chunk(self) -> bool:
        if self.ended:
            return False
        size_line = await self.reader.readline()
        if not size_line:
            self.ended = True
            return False
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            await self.reader.readuntil(b"\r\n")
            self.ended = True
            return False
        data = await self.reader.readexactly(size + 2)
        assert data.endswith(b"\r\n")
        self.buffer += data[:-2]
        self.raw += data[:-2]
        return True

    async def line(self) -> str | None:
        while b"\n" not in self.buffer:
            if not await self._chunk():
                return None
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    async def item(self) -> Item | None:
        """The next event or comment, or ``None`` at the end of the stream."""
        fields: dict[str, str] = {}
        while True:
            line = await self.line()
            if line is None:
                return None
            if line.startswith(":"):
                if not fields:
                    return ("comment", {"text": line[1:].lstrip(" ")})
                continue
            if not line:
                if fields:
                    return ("event", fields)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data" and "data" in fields:
                fields["data"] += "\n" + value
            else:
                fields[name] = value

    async def events(self, count: int) -> list[dict[str, str]]:
        """The next ``count`` events (comments skipped)."""
        found: list[dict[str, str]] = []
        while len(found) < count:
            item = await self.item()
            assert item is not None, f"stream ended after {found}"
            if item[0] == "event":
                found.append(item[1])
        return found

    async def rest(self) -> list[Item]:
        items = []
        while (item := await self.item()) is not None:
            items.append(item)
        return items

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def open_stream(
    server: Server,
    target: str = "/events",
    *headers: tuple[str, str],
    method: str = "GET",
) -> AsyncIterator[RawStream]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    lines = [f"{method} {target} HTTP/1.1", "Host: test", *(f"{n}: {v}" for n, v in headers)]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    stream = RawStream(reader, writer)
    try:
        await stream.read_head()
        yield stream
    finally:
        await stream.close()


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


# Headers, events, heartbeats, retry


def test_headers_and_events() -> None:
    app = App()

    @app.sse("/events")
    async def events(request: Any, events: EventStream) -> None:
        assert events.last_event_id is None
        await events.send("one")
        await events.send("two\nlines", event="tick", id="2")
        await events.send_json({"n": 3, "ok": True}, id="3")
        await events.comment("note")
        assert await events.send_many(["a", "b", "c"], event="many") == 3

    assert isinstance(events, SSEEndpoint)

    async def main() -> None:
        async with serve(app) as server, open_stream(server) as stream:
            assert stream.status == 200
            assert stream.headers["content-type"] == "text/event-stream"
            assert stream.headers["cache-control"] == "no-cache"
            assert stream.headers["x-accel-buffering"] == "no"
            assert stream.headers["transfer-encoding"] == "chunked"
            items = await stream.rest()
            assert stream.ended  # the handler returned: the body ended cleanly
        assert items == [
            ("event", {"data": "one"}),
            ("event", {"event": "tick", "id": "2", "data": "two\nlines"}),
            ("event", {"id": "3", "data": '{"n":3,"ok":true}'}),
            ("comment", {"text": "note"}),
            ("event", {"event": "many", "data": "a"}),
            ("event", {"event": "many", "data": "b"}),
            ("event", {"event": "many", "data": "c"}),
        ]

    run(main)


def test_heartbeats_and_retry() -> None:
    app = App()

    @app.sse("/events", heartbeat=0.05, retry=1500)
    async def events(request: Any, events: EventStream) -> None:
        await asyncio.sleep(0.3)
        await events.send("late")

    async def main() -> None:
        async with serve(app) as server, open_stream(server) as stream:
            first = await stream.item()
            assert first == ("event", {"retry": "1500"})  # before anything else
            items = await stream.rest()
        comments = [item for item in items if item == ("comment", {"text": ""})]
        assert len(comments) >= 3, items
        assert items[-1] == ("event", {"data": "late"})
        assert b":\n" in stream.raw

    run(main)


def test_no_heartbeat() -> None:
    app = App()

    @app.sse("/events", heartbeat=None)
    async def events(request: Any, events: EventStream) -> None:
        await asyncio.sleep(0.2)
        await events.send("x")

    async def main() -> None:
        async with serve(app) as server, open_stream(server) as stream:
            assert await stream.rest() == [("event", {"data": "x"})]

    run(main)


def test_options_are_checked() -> None:
    app = App()
    with pytest.raises(ValueError, match="heartbeat"):
        app.sse("/a", heartbeat=0)
    with pytest.raises(ValueError, match="retry"):
        app.sse("/b", retry=-1)
    with pytest.raises(ValueError, match="history"):
        app.sse("/c", history=-1)
    with pytest.raises(ValueError, match="queue_size"):
        app.sse("/d", queue_size=0)
    endpoint = app.sse("/e")
    with pytest.raises(TypeError, match="async def"):
        endpoint(lambda request, events: None)  # type: ignore[arg-type,return-value]


# Resumption and history


def resumable_app() -> tuple[App, SSEEndpoint, list[EventStream]]:
    app = App()
    opened: list[EventStream] = []

    @app.sse("/events", history=5)
    async def feed(request: Any, events: EventStream) -> None:
        opened.append(events)
        await events.wait_closed()

    for number in range(1, 9):
        feed.publish(f"event {number}", id=str(number))
    feed.publish("no id: not kept")
    return app, feed, opened


def test_history_keeps_the_last_events_with_an_id() -> None:
    _, feed, _ = resumable_app()
    assert feed.history == ["4", "5", "6", "7", "8"]
    assert feed.subscribers == 0


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/events", (("Last-Event-ID", "6"),)),
        ("/events?lastEventId=6", ()),
        # The header wins over the query parameter.
        ("/events?lastEventId=4", (("Last-Event-ID", "6"),)),
    ],
)
def test_resume_after_last_event_id(target: str, headers: tuple[tuple[str, str], ...]) -> None:
    app, feed, opened = resumable_app()

    async def main() -> None:
        async with serve(app) as server, open_stream(server, target, *headers) as stream:
            replayed = await stream.events(2)
            assert [event["id"] for event in replayed] == ["7", "8"]
            await until(lambda: opened)
            assert opened[0].last_event_id == "6"
            assert opened[0].resumed
            assert feed.publish("live", id="9") == 1
            assert await stream.events(1) == [{"id": "9", "data": "live"}]

    run(main)


def test_unknown_or_too_old_id_replays_the_whole_history() -> None:
    app, _feed, opened = resumable_app()

    async def main() -> None:
        async with serve(app) as server:
            for last in ("2", "unknown"):
                async with open_stream(server, "/events", ("Last-Event-ID", last)) as stream:
                    replayed = await stream.events(5)
                    assert [event["id"] for event in replayed] == ["4", "5", "6", "7", "8"]
                    await until(lambda: opened and not opened[-1].resumed)
                    assert opened[-1].last_event_id == last

    run(main)


def test_no_last_event_id_no_replay() -> None:
    app, feed, opened = resumable_app()

    async def main() -> None:
        async with serve(app) as server, open_stream(server) as stream:
            await until(lambda: feed.subscribers == 1)
            feed.publish("fresh", id="9")
            assert await stream.events(1) == [{"id": "9", "data": "fresh"}]
            assert not opened[0].resumed

    run(main)


# Publishing


def test_publish_to_many_subscribers_with_aiohttp() -> None:
    app = App()
    feed = app.sse("/feed")  # no handler: the published events only
    count = 20

    async def subscriber(session: aiohttp.ClientSession, port: int) -> list[str]:
        async with session.get(f"http://127.0.0.1:{port}/feed") as response:
            assert response.headers["Content-Type"] == "text/event-stream"
            data: list[str] = []
            async for line in response.content:
                text = line.decode().rstrip("\n")
                if text.startswith("data: "):
                    data.append(text[6:])
                    if text == "data: 9":
                        response.close()  # leave: the server notices at once
                        return data
        return data

    async def main() -> None:
        async with serve(app) as server, aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(subscriber(session, server.port)) for _ in range(count)]
            await until(lambda: feed.subscribers == count)
            sent = [feed.publish(str(number)) for number in range(10)]
            assert sent == [count] * 10
            results = await asyncio.gather(*tasks)
            assert results == [[str(number) for number in range(10)]] * count
            await until(lambda: feed.subscribers == 0)

    run(main)


def test_publish_from_a_handler_reaches_every_stream() -> None:
    app = App()

    @app.sse("/chat")
    async def chat(request: Any, events: EventStream) -> None:
        chat.publish_json({"joined": request.query.get("name")}, event="join")
        await events.wait_closed()

    async def main() -> None:
        async with serve(app) as server, open_stream(server, "/chat?name=ada") as first:
            assert await first.events(1) == [{"event": "join", "data": '{"joined":"ada"}'}]
            async with open_stream(server, "/chat?name=bob") as second:
                expected = [{"event": "join", "data": '{"joined":"bob"}'}]
                assert await first.events(1) == expected
                assert await second.events(1) == expected

    run(main)


def test_endpoint_close_ends_the_streams() -> None:
    app = App()
    feed = app.sse("/events")

    async def main() -> None:
        async with serve(app) as server, open_stream(server) as stream:
            await until(lambda: feed.subscribers == 1)
            feed.publish("last")
            feed.close()
            assert await stream.rest() == [("event", {"data": "last"})]
            assert stream.ended
            assert feed.subscribers == 0

    run(main)


# Backpressure


BIG = "x" * (256 * 1024)
SENT = 100


def test_slow_subscriber_is_dropped_on_overflow(caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    feed = app.sse("/events", queue_size=4, history=2)

    async def main() -> None:
        async with serve(app, write_limit=16 * 1024) as server, open_stream(server) as stream:
            # The client reads nothing: the socket buffers fill, then the queue.
            await until(lambda: feed.subscribers == 1)
            published = 0
            while feed.subscribers and published < 1000:
                feed.publish(BIG, id=str(published))
                published += 1
                await asyncio.sleep(0.001)
            assert feed.subscribers == 0, "never dropped"
            # Memory stayed bounded: at most queue_size events waited beyond the
            # socket buffers before the stream was ended.
            assert published < 200
            items = await stream.rest()
            assert stream.ended  # ended cleanly, after a last comment
            assert stream.raw.endswith(OVERFLOW_COMMENT)
            assert items[-1][0] == "comment"
            assert "overflow" in items[-1][1]["text"]
            ids = [int(fields["id"]) for kind, fields in items if kind == "event"]
            assert ids == list(range(len(ids)))  # in order, a prefix of what was sent
            assert len(ids) < published
            # The history still has the latest, for the reconnection.
            assert feed.history == [str(published - 2), str(published - 1)]

    with caplog.at_level(logging.WARNING, "longwire.app"):
        run(main)
    assert any("queue_size" in record.getMessage() for record in caplog.records)


def test_send_waits_for_a_slow_reader() -> None:
    # 256 KiB events: the socket buffers (a few MiB on loopback) hold a dozen or so.
    app = App()
    progress: list[int] = []
    seen: list[EventStream] = []

    @app.sse("/events", queue_size=4)
    async def events(request: Any, events: EventStream) -> None:
        seen.append(events)
        for number in range(SENT):
            await events.send(BIG, id=str(number))
            progress.append(events.pending)

    async def main() -> None:
        async with serve(app, write_limit=16 * 1024) as server, open_stream(server) as stream:
            await until(lambda: len(progress) > 5)
            await asyncio.sleep(0.3)
            stalled = len(progress)
            await asyncio.sleep(0.2)
            assert len(progress) == stalled < SENT  # the sender waits, not buffers
            assert max(progress) <= 4
            # Reading lets it go on, to the end, with nothing lost.
            events = await stream.events(SENT)
            assert [int(event["id"]) for event in events] == list(range(SENT))
            assert await stream.rest() == []

    run(main, timeout=60.0)


# Client disconnect, errors, methods


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
def test_disconnect_ends_the_handler_promptly(reset: bool) -> None:
    app = App()
    state: dict[str, Any] = {}

    @app.sse("/events", heartbeat=60.0)
    async def events(request: Any, events: EventStream) -> None:
        state["stream"] = events
        try:
            await events.send("hello")
            await asyncio.Event().wait()  # an event that never comes
        finally:
            state["finally"] = time.monotonic()
            state["closed"] = events.closed

    async def main() -> None:
        async with serve(app) as server:
            async with open_stream(server) as stream:
                assert await stream.events(1) == [{"data": "hello"}]
                assert events.subscribers == 1
                if reset:  # RST rather than FIN: connection_lost rather than eof_received
                    sock = stream.writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                gone = time.monotonic()
            await until(lambda: "finally" in state, timeout=2.0)
            assert state["finally"] - gone < 0.1
            assert state["closed"] is True
            assert events.subscribers == 0
            assert await state["stream"].send("too late") is False

    run(main)


def test_handler_error_ends_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.sse("/events")
    async def events(request: Any, events: EventStream) -> None:
        await events.send("before")
        raise RuntimeError("boom")

    async def main() -> None:
        async with serve(app) as server, open_stream(server) as stream:
            assert await stream.rest() == [("event", {"data": "before"})]
            assert stream.ended

    with caplog.at_level(logging.ERROR, "longwire.app"):
        run(main)
    assert any("SSE handler for /events failed" in r.getMessage() for r in caplog.records)


def test_head_and_other_methods() -> None:
    app = App()
    calls: list[str] = []

    @app.sse("/events")
    async def events(request: Any, events: EventStream) -> None:
        calls.append(request.method)

    async def main() -> None:
        async with serve(app) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"HEAD /events HTTP/1.1\r\nHost: t\r\n\r\n")
            head = RawStream(reader, writer)
            await head.read_head()
            assert head.status == 200
            assert head.headers["content-type"] == "text/event-stream"
            # No body: the next response on the connection follows at once.
            writer.write(b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            post = RawStream(reader, writer)
            await post.read_head()
            assert post.status == 405
            assert set(post.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
            await head.close()
            assert calls == []  # the handler never ran for HEAD

    run(main)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_reads_the_stream() -> None:
    app = App()

    @app.sse("/events", retry=2000)
    async def events(request: Any, events: EventStream) -> None:
        for number in range(3):
            await events.send(f"tick {number}", event="tick", id=str(number))
            await asyncio.sleep(0.02)

    async def main() -> None:
        async with serve(app) as server:
            curl = await asyncio.create_subprocess_exec(
                "curl", "-N", "-s", "-i", "--max-time", "10",
                f"http://127.0.0.1:{server.port}/events",
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await curl.communicate()
            assert curl.returncode == 0
        head, _, body = out.decode().partition("\r\n\r\n")
        assert "content-type: text/event-stream" in head.lower()
        assert body == "retry: 2000\n\n" + "".join(
            f"event: tick\nid: {n}\ndata: tick {n}\n\n" for n in range(3)
        )

    run(main)


def test_server_shutdown_ends_event_streams_at_once() -> None:
    app = App()
    ended: list[bool] = []

    @app.sse("/events", heartbeat=60.0)
    async def events(request: Any, events: EventStream) -> None:
        try:
            await events.send("hello")
            await events.wait_closed()
        finally:
            ended.append(events.closed)

    async def main() -> None:
        server = Server(app, port=0, config=ServerConfig(access_log=False, shutdown_timeout=10))
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
            stream = RawStream(reader, writer)
            await stream.read_head()
            assert await stream.events(1) == [{"data": "hello"}]
            started = time.monotonic()
        # The stream did not hold the shutdown for shutdown_timeout.
        assert time.monotonic() - started < 2.0
        assert ended == [True]
        assert await reader.read() in (b"", b"0\r\n\r\n")  # the connection is closed
        await stream.close()

    run(main)


def test_compressed_stream_is_not_held_back() -> None:
    app = App()
    app.middleware(Compression())
    release = asyncio.Event()

    @app.sse("/events")
    async def events(request: Any, events: EventStream) -> None:
        await events.send("first")
        await release.wait()
        await events.send("second")

    async def main() -> None:
        async with (
            serve(app) as server,
            open_stream(server, "/events", ("Accept-Encoding", "gzip")) as stream,
        ):
            assert stream.headers["content-encoding"] == "gzip"
            decoder = zlib.decompressobj(wbits=31)
            text = b""
            while b"first" not in text:  # arrives while the handler still waits
                assert await stream._chunk()
                text += decoder.decompress(stream.buffer)
                stream.buffer = b""
            release.set()
            while await stream._chunk():
                text += decoder.decompress(stream.buffer)
                stream.buffer = b""
            assert text == b"data: first\n\ndata: second\n\n"

    run(main)
