"""``longwire demo``: a WebSocket client and server core talking over a real loopback socket.

Every byte crosses a TCP connection on 127.0.0.1 and is printed, annotated, so a
new user sees what the protocol cores do: the HTTP/1.1 upgrade, the 101 with
``Sec-WebSocket-Accept``, permessage-deflate negotiation, masked client frames,
compressed server frames, a ping, and the closing handshake.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence

from . import http1
from ._role import Role
from .websocket import (
    ClientHandshake,
    CloseReceived,
    Message,
    PerMessageDeflate,
    ServerHandshake,
    State,
)

__all__ = ["run_demo"]

_MESSAGES: list[str | bytes] = ["Hello, longwire!", "Hello, longwire!", b"\x00\x01\x02 binary"]


def _show(print_: Callable[[str], None], arrow: str, title: str, data: bytes) -> None:
    print_(f"{arrow} {title} ({len(data)} bytes)")
    if data.startswith((b"GET ", b"HTTP/")):
        for line in data.decode("latin-1").split("\r\n"):
            if line:
                print_(f"    {line}")
    else:
        print_(f"    {data[:48].hex(' ')}{' …' if len(data) > 48 else ''}")


def _recv_until(sock: socket.socket, complete: Callable[[bytes], bool]) -> bytes:
    data = b""
    while not complete(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _serve_one(listener: socket.socket) -> None:
    """The server side: answer one WebSocket handshake, echo messages, close."""
    conn, _ = listener.accept()
    with conn:
        http = http1.Connection(Role.SERVER)
        events: list[http1.Event] = []
        while not any(isinstance(e, http1.EndOfMessage) for e in events):
            events += http.receive_data(conn.recv(65536))
        request = next(e for e in events if isinstance(e, http1.Request))
        handshake = ServerHandshake.from_request(request)
        response, ws = handshake.accept(deflate=PerMessageDeflate())
        conn.sendall(http.send(response))
        ws.receive_data(http.trailing_data)
        while ws.state is not State.CLOSED:
            data = conn.recv(65536)
            if not data:
                break
            for event in ws.receive_data(data):
                if isinstance(event, Message):
                    ws.send_message(event.data)
            conn.sendall(ws.data_to_send())


def _read_until(
    sock: socket.socket, feed: Callable[[bytes], Sequence[object]], wanted: type
) -> tuple[object, bytes]:
    """Read and feed bytes until an event of type ``wanted`` appears; return it and the bytes."""
    raw = b""
    while True:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("peer closed the connection early")
        raw += data
        for event in feed(data):
            if isinstance(event, wanted):
                return event, raw


def run_demo(print_: Callable[[str], None] = print) -> int:
    """Run the demo, printing the annotated exchange; return an exit status."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = threading.Thread(target=_serve_one, args=(listener,), daemon=True)
    server.start()
    print_(f"server core listening on 127.0.0.1:{port}; client core connecting\n")

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        http = http1.Connection(Role.CLIENT)
        handshake = ClientHandshake(f"127.0.0.1:{port}", "/echo", deflate=PerMessageDeflate())
        out = http.send(handshake.request) + http.send(http1.EndOfMessage())
        _show(print_, "→", "opening handshake", out)
        sock.sendall(out)

        response, raw = _read_until(sock, http.receive_data, http1.InformationalResponse)
        _show(print_, "←", "server accepts", raw)
        assert isinstance(response, http1.InformationalResponse)
        ws = handshake.receive_response(response, trailing_data=http.trailing_data)
        print_("  (Sec-WebSocket-Accept is base64(SHA-1(key + GUID)): proof the server speaks")
        print_("   WebSocket; permessage-deflate was negotiated)\n")

        for message in _MESSAGES:
            ws.send_message(message)
            out = ws.data_to_send()
            _show(print_, "→", f"message {message!r}, compressed and masked by the client", out)
            sock.sendall(out)
            echo, raw = _read_until(sock, ws.receive_data, Message)
            assert isinstance(echo, Message)
            _show(print_, "←", f"echo {echo.data!r}, compressed, unmasked, by the server", raw)
            if echo.data != message:
                print_("the echo differs from the message: the cores disagree")
                return 1
        print_("  (the repeated message compresses smaller: both sides keep their context)\n")

        ws.close(1000, "demo done")
        out = ws.data_to_send()
        _show(print_, "→", "close 1000 'demo done'", out)
        sock.sendall(out)
        close, raw = _read_until(sock, ws.receive_data, CloseReceived)
        assert isinstance(close, CloseReceived)
        _show(print_, "←", f"close echoed: {close.code} {close.reason!r}", raw)
    server.join(timeout=5)
    listener.close()
    print_("\nhandshake, messages and closing handshake all round-tripped.")
    return 0
