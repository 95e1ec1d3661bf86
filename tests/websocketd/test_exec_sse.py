"""``--sse``: the program's output as a Server-Sent Events stream, read with raw HTTP.

Per-connection mode: each stream runs its own program (stdin at end of file),
then an ``exit`` event ends it. Broadcast mode: the shared output, numbered,
with a replay for ``Last-Event-ID``. Heartbeats, HEAD, the process limit, a
page and its stream on one path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from exec_support import (
    PY,
    alive,
    any_loop,
    connect,
    read_chunk,
    read_http_head,
    recv,
    run,
    served,
    wait_gone,
)

from longwire.aio import Server

# Every scenario on both event loops (see exec_support.any_loop).
pytestmark = pytest.mark.usefixtures(any_loop.__name__)

STREAM_TIMEOUT = 30.0


@asynccontextmanager
async def stream(
    server: Server, path: str = "/", headers: tuple[tuple[str, str], ...] = (), method: str = "GET"
) -> AsyncIterator[tuple[int, dict[str, str], asyncio.StreamReader]]:
    """A request for an event stream: status, headers, and the reader for the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        lines = [f"{method} {path} HTTP/1.1", "Host: t", *(f"{n}: {v}" for n, v in headers)]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, head = await read_http_head(reader)
        yield status, head, reader
    finally:
        writer.close()
        await writer.wait_closed()


async def body(reader: asyncio.StreamReader) -> bytes:
    """The whole chunked body, until its last chunk."""
    data = b""
    async with asyncio.timeout(STREAM_TIMEOUT):
        while chunk := await read_chunk(reader):
            data += chunk
    return data


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    """Chunks (heartbeats left out) until ``marker`` has come."""
    data = b""
    async with asyncio.timeout(STREAM_TIMEOUT):
        while marker not in data:
            data += await read_event_chunk(reader)
    return data


async def read_event_chunk(reader: asyncio.StreamReader) -> bytes:
    """The next chunk that is not a heartbeat."""
    while (chunk := await read_chunk(reader)) == b":\n":
        pass
    return chunk


def test_each_line_is_an_event_then_the_exit():
    async def scenario() -> None:
        command = ["sh", "-c", r"printf 'a\nb\r\n\nlast'"]
        async with served(command, sse=True) as server, stream(server) as (status, head, reader):
            assert status == 200
            assert head["content-type"] == "text/event-stream"
            assert head["cache-control"] == "no-cache"
            assert head["transfer-encoding"] == "chunked"
            # The empty line is an event browsers skip (empty data): sent all the same.
            assert await body(reader) == (
                b"data: a\n\ndata: b\n\ndata:\n\ndata: last\n\nevent: exit\ndata: exit status 0\n\n"
            )

    run(scenario)


def test_the_exit_event_carries_the_status():
    async def scenario() -> None:
        async with served(["sh", "-c", "exit 2"], sse=True) as server, stream(server) as s:
            assert await body(s[2]) == b"event: exit\ndata: exit status 2\n\n"

    run(scenario)


def test_the_program_gets_end_of_file_on_stdin():
    code = "import sys\nprint(repr(sys.stdin.read()))"

    async def scenario() -> None:
        async with served([PY, "-c", code], sse=True) as server, stream(server) as s:
            assert (await body(s[2])).startswith(b"data: ''\n\n")

    run(scenario)


def test_heartbeats_while_the_program_is_quiet(tmp_path: Path):
    go = tmp_path / "go"
    code = (
        "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)\nprint('x')"
    )

    async def scenario() -> None:
        command = [PY, "-u", "-c", code, str(go)]
        async with served(command, sse=True, sse_heartbeat=0.2) as server, stream(server) as s:
            assert await read_chunk(s[2]) == b":\n"
            go.write_text("go")
            assert (await read_until(s[2], b"data: x\n\n")).endswith(b"data: x\n\n")

    run(scenario)


def test_a_client_leaving_ends_its_program():
    code = "import os, time\nprint(os.getpid())\nwhile True: time.sleep(0.05)"

    async def scenario() -> None:
        command = [PY, "-u", "-c", code]
        async with served(command, sse=True, sse_heartbeat=0.2, kill_grace=0.2) as server:
            async with stream(server) as (_, _, reader):
                first = await read_chunk(reader)
                pid = int(first.removeprefix(b"data: ").strip())
                assert alive(pid)
            # Seen at the next heartbeat at the latest: then EOF, SIGTERM.
            await wait_gone(pid)

    run(scenario)


def test_head_starts_no_program(tmp_path: Path):
    mark = tmp_path / "started"
    code = "import sys\nopen(sys.argv[1], 'w').write('yes')"

    async def scenario() -> None:
        command = [PY, "-c", code, str(mark)]
        async with served(command, sse=True) as server:
            async with stream(server, method="HEAD") as (status, head, _):
                assert status == 200
                assert head["content-type"] == "text/event-stream"
                assert "content-length" not in head
                assert "transfer-encoding" not in head
            async with stream(server) as s:
                await body(s[2])  # a GET does start it
            assert mark.exists()
            mark.unlink()
            async with stream(server, method="HEAD"):
                pass
        assert not mark.exists()

    run(scenario)


def test_event_streams_count_toward_max_processes():
    async def scenario() -> None:
        async with served(["cat"], sse=True, max_processes=1) as server, connect(server) as ws:
            await ws.send("holding the only place")
            assert await recv(ws) == "holding the only place"
            async with stream(server) as (status, head, _):
                assert status == 503
                assert head["retry-after"] == "1"

    run(scenario)


def test_a_page_and_its_stream_on_one_path(tmp_path: Path):
    (tmp_path / "index.html").write_text("<p>the page</p>")

    async def scenario() -> None:
        command = ["sh", "-c", "echo from the program"]
        async with served(command, sse=True, staticdir=str(tmp_path)) as server:
            async with stream(server, headers=(("Connection", "close"),)) as (status, head, r):
                assert (status, head["content-type"]) == (200, "text/html; charset=utf-8")
                assert await r.read() == b"<p>the page</p>"
            accept = (("Accept", "text/event-stream"),)
            async with stream(server, headers=accept) as (status, head, reader):
                assert head["content-type"] == "text/event-stream"
                assert (await body(reader)).startswith(b"data: from the program\n\n")
            async with connect(server) as ws:  # and the WebSocket, same path
                assert await recv(ws) == "from the program"

    run(scenario)


def test_a_separate_sse_path():
    async def scenario() -> None:
        command = ["sh", "-c", "echo hi"]
        async with served(command, sse=True, sse_path="/events", path="/ws") as server:
            async with stream(server, "/events") as s:
                assert (await body(s[2])).startswith(b"data: hi\n\n")
            async with stream(server, "/") as (status, _, _):
                assert status == 404
            async with connect(server, "/ws") as ws:
                assert await recv(ws) == "hi"

    run(scenario)


# Broadcast mode.

ECHO = (
    "import sys\n"
    "print('hello')\n"
    "for line in sys.stdin:\n"
    "    if line.startswith('burst'):\n"
    "        for i in range(20000): print(f'{i:08d} ' + 'z' * 1000)\n"
    "    print('echo: ' + line.rstrip())\n"
)


def test_broadcast_events_are_numbered_and_replayed_after_last_event_id(tmp_path: Path):
    async def scenario() -> None:
        command = [PY, "-u", "-c", ECHO]
        # Short heartbeats: a stream whose client left is noticed when one is written
        # (the server has no other signal), so shutdown need not wait for them.
        async with served(command, broadcast=True, sse=True, sse_heartbeat=0.2) as server:
            replay_all = (("Last-Event-ID", "0"),)
            async with stream(server, headers=replay_all) as (status, _, reader):
                assert status == 200
                assert await read_until(reader, b"\n\n") == b"id: 1\ndata: hello\n\n"
                async with connect(server) as ws:
                    await ws.send("one")
                    await ws.send("two")
                    assert await read_until(reader, b"id: 3\n") == (
                        b"id: 2\ndata: echo: one\n\nid: 3\ndata: echo: two\n\n"
                    )
            async with stream(server, headers=(("Last-Event-ID", "2"),)) as (_, _, reader):
                assert await read_event_chunk(reader) == b"id: 3\ndata: echo: two\n\n"
            for stale in ("999", "not a number"):
                # Not a line of this server's: no replay, only what comes next.
                asking = stream(server, headers=(("Last-Event-ID", stale),))
                async with asking as (_, _, r), connect(server) as ws:
                    await ws.send(stale)
                    assert await read_event_chunk(r) == (
                        f"id: {4 if stale == '999' else 5}\ndata: echo: {stale}\n\n".encode()
                    )

    run(scenario)


def test_history_is_bounded(tmp_path: Path):
    async def scenario() -> None:
        command = [PY, "-u", "-c", ECHO]
        served_ = served(command, broadcast=True, sse=True, sse_history=2, sse_heartbeat=0.2)
        async with served_ as server:
            async with connect(server) as ws:
                for word in ("a", "b", "c"):
                    await ws.send(word)
                while await recv(ws) != "echo: c":
                    pass
            async with stream(server, headers=(("Last-Event-ID", "0"),)) as (_, _, reader):
                data = await read_until(reader, b"echo: c")
            assert b"echo: a" not in data
            assert data.startswith(b"id: 3\ndata: echo: b\n\nid: 4\ndata: echo: c\n\n")

    run(scenario)


def test_a_slow_subscriber_is_ended_and_the_others_are_not(tmp_path: Path, caplog):
    async def scenario() -> None:
        command = [PY, "-u", "-c", ECHO]
        async with (
            served(command, broadcast=True, sse=True, client_buffer=64 * 1024) as server,
            stream(server) as (status, _, slow),
        ):
            assert status == 200
            async with connect(server) as ws:
                await ws.send("burst")
                count = 0
                async with asyncio.timeout(60):
                    while True:
                        message = await ws.recv()
                        if message == "echo: burst":
                            break
                        count += 1
                assert count >= 20000
            # The slow one now reads what was buffered for it, then the stream's end.
            async with asyncio.timeout(60):
                while await read_chunk(slow):
                    pass

    with caplog.at_level(logging.WARNING, logger="longwire.exec"):
        run(scenario, timeout=120)
    assert "ending an event stream" in caplog.text
