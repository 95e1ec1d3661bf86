"""Helpers for the interop tests of longwire's asyncio layer against real peers on loopback.

- ``run(coro)``: ``asyncio.run`` with a deadline, and checks that nothing leaked
  (tasks still pending when the test's coroutine returns, unclosed sockets).
- ``Certificates``: a test CA and a certificate for 127.0.0.1/localhost (trustme),
  with SSL contexts and PEM files for servers, clients and curl.
- ``echo_app()``: a longwire ``App`` whose ``/echo`` WebSocket route echoes and
  understands a few commands (``"close CODE REASON"``), and which records how its
  connections ended.
- ``payload(size, kind)``: test messages.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from leakcheck import run_without_leaks
from longwire import App, ConnectionClosed

DEADLINE = 20.0
KiB = 1024
MiB = 1024 * KiB
SIZES = [0, 1, 125, 126, 65535, 65536, MiB]
SUBPROTOCOLS = ("chat.v2", "chat.v1")


def run(coro: Coroutine[Any, Any, Any], timeout: float = DEADLINE) -> Any:
    """Run ``coro`` in a new loop, bounded by ``timeout``; fail on leaked tasks or sockets."""
    return run_without_leaks(coro, timeout=timeout)


def payload(size: int, kind: str) -> str | bytes:
    """``size`` random bytes, or text of at most ``size`` UTF-8 bytes with multi-byte characters."""
    if kind == "binary":
        return os.urandom(size)
    text = "héllo wörld ✓ 🎉 " * (size // 16 + 1)
    return text.encode()[:size].decode("utf-8", "ignore")


def messages() -> list[str | bytes]:
    """Text and binary messages of every test size."""
    return [payload(size, kind) for size in SIZES for kind in ("text", "binary")]


@dataclass
class Certificates:
    """A test CA and a server certificate for 127.0.0.1 and localhost."""

    directory: Path
    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        self.server_cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = self.directory / "ca.pem"
        self.cert_file = self.directory / "server.pem"
        self.key_file = self.directory / "server.key"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.server_cert.cert_chain_pems[0].write_to_path(str(self.cert_file))
        for blob in self.server_cert.cert_chain_pems[1:]:
            blob.write_to_path(str(self.cert_file), append=True)
        self.server_cert.private_key_pem.write_to_path(str(self.key_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@dataclass
class Ended:
    """How one server-side WebSocket session ended."""

    code: int | None
    reason: str


def echo_app(ended: list[Ended] | None = None, connected: list[object] | None = None) -> App:
    """An app with an echo WebSocket at ``/echo``.

    Text commands: ``"close CODE REASON"`` closes from the server's side. Each
    session's end (close code and reason as the server saw them) is appended
    to ``ended``; each accepted connection to ``connected``.
    """
    app = App()

    @app.websocket("/echo", subprotocols=SUBPROTOCOLS)
    async def echo(ws: Any) -> None:
        if connected is not None:
            connected.append(ws)
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith("close "):
                    _, code, reason = message.split(" ", 2)
                    await ws.close(int(code), reason)
                    break
                await ws.send(message)
            await ws.wait_closed()
        except ConnectionClosed:
            pass
        if ended is not None:
            ended.append(Ended(ws.close_code, ws.close_reason))

    @app.get("/")
    def index(request: Any) -> str:
        return "hello\n"

    return app
