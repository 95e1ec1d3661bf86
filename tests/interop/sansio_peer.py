"""A minimal asyncio driver for longwire's sans-I/O cores, for interop tests only.

It is deliberately naive (asyncio streams, no timeouts beyond the test's own):
the asyncio layer proper comes in its own issue. It does just what an I/O layer
must: feed bytes in, act on events, write what the cores return.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from longwire import HandshakeError, Role, http1
from longwire.websocket import (
    ClientHandshake,
    CloseReceived,
    Connection,
    ConnectionFailed,
    Message,
    PerMessageDeflate,
    ServerHandshake,
    State,
)

READ_SIZE = 256 * 1024


class SansIOWebSocket:
    """A WebSocket core bound to an asyncio stream pair."""

    def __init__(
        self,
        ws: Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: http1.InformationalResponse | None = None,
    ) -> None:
        self.ws = ws
        self.reader = reader
        self.writer = writer
        self.response = response
        self.pending: list[object] = []
        self.close_received: CloseReceived | None = None
        self.failure: ConnectionFailed | None = None

    async def flush(self) -> None:
        data = self.ws.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def send(self, data: str | bytes, **options: object) -> None:
        self.ws.send_message(data, **options)  # type: ignore[arg-type]
        await self.flush()

    async def next_event(self) -> object | None:
        """The next event; None once the peer closed TCP."""
        while not self.pending:
            self.pending.extend(self.ws.receive_data(b""))  # trailing data, if any
            if self.pending:
                await self.flush()
                break
            data = await self.reader.read(READ_SIZE)
            if not data:
                self.ws.receive_eof()
                return None
            self.pending.extend(self.ws.receive_data(data))
            await self.flush()  # automatic pongs and close replies
        event = self.pending.pop(0)
        if isinstance(event, CloseReceived):
            self.close_received = event
        elif isinstance(event, ConnectionFailed):
            self.failure = event
        return event

    async def recv(self) -> str | bytes:
        while True:
            event = await self.next_event()
            if event is None or isinstance(event, CloseReceived | ConnectionFailed):
                raise ConnectionError(f"closed while waiting for a message: {event}")
            if isinstance(event, Message):
                return event.data

    async def close(self, code: int = 1000, reason: str = "") -> CloseReceived | None:
        """Run the closing handshake; return the peer's close frame."""
        self.ws.close(code, reason)
        await self.flush()
        while self.close_received is None and self.failure is None:
            if await self.next_event() is None:
                break
        await self.wait_tcp_close()
        return self.close_received

    async def wait_tcp_close(self) -> None:
        if self.ws.should_close_transport:
            self.writer.close()
        else:
            # RFC 6455 §7.1.1: the client waits for the server to close TCP.
            while await self.reader.read(READ_SIZE):
                pass
            self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def connect(
    port: int,
    path: str = "/",
    *,
    deflate: PerMessageDeflate | None = None,
    subprotocols: tuple[str, ...] = (),
    max_message_size: int | None = 64 * 1024 * 1024,
) -> SansIOWebSocket:
    """Open a client connection with longwire's cores to 127.0.0.1:port."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    http = http1.Connection(Role.CLIENT)
    handshake = ClientHandshake(
        f"127.0.0.1:{port}", path, deflate=deflate, subprotocols=subprotocols
    )
    writer.write(http.send(handshake.request) + http.send(http1.EndOfMessage()))
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            raise ConnectionError("server closed during the handshake")
        events = http.receive_data(data)
        if events:
            break
    response = events[0]
    assert isinstance(response, http1.InformationalResponse | http1.Response)
    ws = handshake.receive_response(
        response, trailing_data=http.trailing_data, max_message_size=max_message_size
    )
    return SansIOWebSocket(ws, reader, writer, response)  # type: ignore[arg-type]


@dataclass
class EchoServerRecord:
    """What the longwire echo server saw, for assertions."""

    subprotocols_offered: list[tuple[str, ...]] = field(default_factory=list)
    closes_received: list[CloseReceived] = field(default_factory=list)
    failures: list[ConnectionFailed] = field(default_factory=list)
    handshake_errors: list[HandshakeError] = field(default_factory=list)


async def start_echo_server(
    *,
    deflate: PerMessageDeflate | None = None,
    subprotocol: str | None = None,
    max_message_size: int | None = 64 * 1024 * 1024,
) -> tuple[asyncio.Server, int, EchoServerRecord]:
    """A WebSocket echo server built on longwire's cores, on an ephemeral port."""
    record = EchoServerRecord()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        http = http1.Connection(Role.SERVER)
        events: list[http1.Event] = []
        while not any(isinstance(e, http1.EndOfMessage) for e in events):
            data = await reader.read(READ_SIZE)
            if not data:
                writer.close()
                return
            events += http.receive_data(data)
        request = events[0]
        assert isinstance(request, http1.Request)
        try:
            handshake = ServerHandshake.from_request(request)
        except HandshakeError as exc:
            record.handshake_errors.append(exc)
            headers = [*exc.headers, ("Content-Length", "0")]
            writer.write(http.send(http1.Response(status_code=exc.status, headers=headers)))
            writer.write(http.send(http1.EndOfMessage()))
            writer.close()
            return
        record.subprotocols_offered.append(handshake.subprotocols)
        chosen = subprotocol if subprotocol in handshake.subprotocols else None
        response, ws = handshake.accept(
            subprotocol=chosen,
            deflate=deflate,
            max_message_size=max_message_size,
            trailing_data=http.trailing_data,
        )
        writer.write(http.send(response))
        peer = SansIOWebSocket(ws, reader, writer)
        while True:
            event = await peer.next_event()
            if event is None:
                break
            if isinstance(event, Message):
                ws.send_message(event.data)
                await peer.flush()
            elif isinstance(event, CloseReceived):
                record.closes_received.append(event)
            elif isinstance(event, ConnectionFailed):
                record.failures.append(event)
            if ws.state is State.CLOSED:
                break
        await peer.flush()
        await peer.wait_tcp_close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, record
