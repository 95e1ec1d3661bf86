"""Backpressure both ways: memory stays bounded when one side stops reading."""

import asyncio
import contextlib
import socket
import time

from aio_testing import (
    BINARY,
    CLOSE,
    close_frame,
    encode_frame,
    read_frame,
    run,
    serve,
    wait_for,
    ws_handshake,
)

from longwire import App, ReadyState
from longwire.aio import WebSocketOptions

KiB = 1024
MESSAGE = 64 * KiB
WRITE_LIMIT = 64 * KiB


def _proc_max(name: str, default: int) -> int:
    """The largest size the kernel may grow a TCP buffer to (autotuning)."""
    try:
        with open(f"/proc/sys/net/ipv4/{name}") as file:
            return int(file.read().split()[2])
    except (OSError, ValueError, IndexError):
        return default


@contextlib.asynccontextmanager
async def small_buffer_client(
    port: int, *, rcvbuf: int = 0, sndbuf: int = 0, limit: int = 64 * KiB
):
    """Raw streams over a socket whose buffers are fixed small (no autotuning)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
    try:
        yield reader, writer, sock
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def test_send_waits_while_the_client_does_not_read():
    app = App()
    count = 300
    progress = {"sent": 0, "max_buffered": 0}

    @app.websocket("/ws", compression=False)
    async def producer(ws):
        await ws.accept()
        for i in range(count):
            await ws.send(i.to_bytes(4, "big") + bytes(MESSAGE - 4))
            progress["sent"] = i + 1
            progress["max_buffered"] = max(progress["max_buffered"], ws.buffered_amount)
        await ws.close()

    async def main():
        options = WebSocketOptions(write_limit=WRITE_LIMIT)
        async with (
            serve(app, websocket=options) as server,
            small_buffer_client(server.port, rcvbuf=32 * KiB) as (reader, writer, sock),
        ):
            await ws_handshake(reader, writer)
            await asyncio.sleep(0.5)  # not reading: the producer must be held back
            stalled = progress["sent"]
            # What may sit between the handler and the client's code: the server's
            # write buffer (write_limit) and socket send buffer (autotuned, at most
            # tcp_wmem's max), the client's receive buffer and its StreamReader
            # (2 x limit, plus one read of up to 256 KiB).
            in_flight = (
                WRITE_LIMIT
                + _proc_max("tcp_wmem", 4 * 1024 * KiB)
                + sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                + 2 * 64 * KiB
                + 256 * KiB
            )
            bound = in_flight // MESSAGE + 2
            assert stalled < count
            assert stalled <= bound, (stalled, bound)
            assert progress["max_buffered"] <= WRITE_LIMIT + 2 * MESSAGE
            # Reading again, everything arrives, in order.
            for i in range(count):
                frame = await read_frame(reader)
                assert frame.opcode == BINARY
                assert len(frame.payload) == MESSAGE
                assert int.from_bytes(frame.payload[:4], "big") == i
            assert (await read_frame(reader)).opcode == CLOSE
            writer.write(close_frame(1000))
            assert progress["sent"] == count

    run(main, timeout=20)


def test_reading_pauses_while_the_handler_does_not_read():
    app = App()
    start_reading = asyncio.Event()
    received: list[int] = []
    max_queue = 4

    @app.websocket("/ws", compression=False)
    async def lazy(ws):
        await ws.accept()
        await start_reading.wait()
        async for message in ws:
            received.append(int.from_bytes(message[:4], "big"))
        assert ws.ready_state is ReadyState.CLOSED

    async def main():
        size = 16 * KiB
        options = WebSocketOptions(max_queue=max_queue)
        async with (
            serve(app, websocket=options) as server,
            small_buffer_client(server.port, sndbuf=32 * KiB) as (reader, writer, sock),
        ):
            await ws_handshake(reader, writer)
            # What the server may hold or leave in its socket while paused: its
            # socket receive buffer (autotuned, at most tcp_rmem's max), one read
            # of up to 256 KiB parsed at once, and max_queue messages; plus the
            # client's socket send buffer and write buffer (asyncio's 64 KiB).
            in_flight = (
                _proc_max("tcp_rmem", 6 * 1024 * KiB)
                + 256 * KiB
                + max_queue * size
                + sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
                + 64 * KiB
            )
            limit = 2 * in_flight // size  # enough to prove the flood is held back
            sent = 0
            try:
                while sent < limit:
                    writer.write(encode_frame(BINARY, sent.to_bytes(4, "big") + bytes(size - 4)))
                    sent += 1
                    await asyncio.wait_for(writer.drain(), 0.5)
            except TimeoutError:
                pass  # the client cannot send any more: the server stopped reading
            assert sent < limit
            assert sent <= in_flight // size + 2
            assert received == []
            start_reading.set()
            await writer.drain()
            writer.write(close_frame(1000))
            assert (await read_frame(reader)).opcode == CLOSE
            assert received == list(range(sent))

    run(main, timeout=20)


def test_closing_while_reading_is_paused_still_reads_the_peers_close():
    app = App()
    closes: list[tuple[int | None, bool, float]] = []
    queue_full = asyncio.Event()

    @app.websocket("/ws", compression=False)
    async def lazy(ws):
        await ws.accept()
        await queue_full.wait()  # never read: the queue fills and reading pauses
        started = time.monotonic()
        await ws.close(1000, "bye")
        closes.append((ws.close_code, ws.was_clean, time.monotonic() - started))

    async def main():
        options = WebSocketOptions(max_queue=2, close_timeout=2.0)
        async with (
            serve(app, websocket=options) as server,
            small_buffer_client(server.port) as (reader, writer, _),
        ):
            await ws_handshake(reader, writer)
            writer.write(b"".join(encode_frame(BINARY, bytes(1000)) for _ in range(50)))
            await writer.drain()
            await asyncio.sleep(0.1)
            queue_full.set()
            frame = await read_frame(reader)
            assert (frame.opcode, frame.close_code()) == (CLOSE, 1000)
            writer.write(close_frame(1000, "bye"))
            await wait_for(lambda: closes)
            code, clean, elapsed = closes[0]
            assert (code, clean) == (1000, True)
            assert elapsed < 1.0  # answered, not timed out

    run(main)
