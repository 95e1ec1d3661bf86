"""longwire's asyncio server and client against aiohttp's WebSocket client and server.

Both directions: ``aiohttp.ClientSession.ws_connect`` against ``longwire.aio.Server``,
and ``longwire.connect`` against an ``aiohttp.web`` server. Text and binary
messages of 0 B to 1 MiB, with and without permessage-deflate, over TCP and TLS
on loopback; subprotocols; pings both ways; close codes and reasons.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from lw_peers import SUBPROTOCOLS, Certificates, Ended, echo_app, messages, run

import longwire
from longwire.aio import Server, make_config

pytestmark = pytest.mark.interop

MATRIX = [
    pytest.param(compression, tls, id=f"{'deflate' if compression else 'plain'}-{scheme}")
    for compression in (True, False)
    for tls, scheme in ((False, "ws"), (True, "wss"))
]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("certs"))


def longwire_server(app: longwire.App, certs: Certificates | None = None, **options: Any) -> Server:
    if certs is not None:
        options.update(tls_cert=str(certs.cert_file), tls_key=str(certs.key_file))
    config = make_config(access_log=False, max_message_size=None, **options)
    return Server(app, port=0, config=config)


async def receive(ws: aiohttp.ClientWebSocketResponse) -> str | bytes:
    message = await ws.receive()
    assert message.type in (WSMsgType.TEXT, WSMsgType.BINARY), message
    data: str | bytes = message.data
    return data


# aiohttp client -> longwire server


@pytest.mark.parametrize(("compression", "tls"), MATRIX)
def test_aiohttp_client_echo(compression: bool, tls: bool, certs: Certificates) -> None:
    async def main() -> None:
        async with (
            longwire_server(echo_app(), certs if tls else None) as server,
            aiohttp.ClientSession() as session,
        ):
            url = f"{'wss' if tls else 'ws'}://127.0.0.1:{server.port}/echo"
            async with session.ws_connect(
                url,
                compress=15 if compression else 0,
                ssl=certs.client_context() if tls else True,
                max_msg_size=0,
            ) as ws:
                assert bool(ws.compress) is compression
                for message in messages():
                    if isinstance(message, str):
                        await ws.send_str(message)
                    else:
                        await ws.send_bytes(message)
                    assert await receive(ws) == message

    run(main())


def test_aiohttp_client_subprotocol() -> None:
    async def main() -> None:
        async with longwire_server(echo_app()) as server, aiohttp.ClientSession() as session:
            url = f"ws://127.0.0.1:{server.port}/echo"
            async with session.ws_connect(url, protocols=("chat.v1", "chat.v2")) as ws:
                assert ws.protocol == SUBPROTOCOLS[0]
            async with session.ws_connect(url, protocols=("other",)) as ws:
                assert ws.protocol is None

    run(main())


def test_aiohttp_client_ping_gets_pong() -> None:
    async def main() -> None:
        async with longwire_server(echo_app()) as server, aiohttp.ClientSession() as session:
            url = f"ws://127.0.0.1:{server.port}/echo"
            async with session.ws_connect(url, autoping=False) as ws:
                await ws.ping(b"are you there")
                message = await ws.receive()
                assert (message.type, message.data) == (WSMsgType.PONG, b"are you there")

    run(main())


def test_keepalive_both_ways_with_aiohttp_autoping() -> None:
    """longwire's keepalive pings are answered by aiohttp's autoping, and aiohttp's
    heartbeat pings by longwire: the connection outlives several ping timeouts."""

    async def main() -> None:
        server = longwire_server(echo_app(), ping_interval=0.05, ping_timeout=0.1)
        async with server, aiohttp.ClientSession() as session:
            url = f"ws://127.0.0.1:{server.port}/echo"
            async with session.ws_connect(url, autoping=True, heartbeat=0.1) as ws:
                # aiohttp answers pings while a receive() is pending.
                reader = asyncio.create_task(receive(ws))
                await asyncio.sleep(0.6)
                assert not reader.done()
                await ws.send_str("still here")
                assert await reader == "still here"

    run(main())


def test_aiohttp_client_closes_with_code_and_reason() -> None:
    ended: list[Ended] = []

    async def main() -> None:
        async with longwire_server(echo_app(ended)) as server, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"ws://127.0.0.1:{server.port}/echo")
            await ws.send_str("hi")
            assert await receive(ws) == "hi"
            await ws.close(code=4001, message=b"client says bye")
            assert ws.close_code == 4001

    run(main())
    assert ended == [Ended(4001, "client says bye")]


def test_longwire_server_closes_aiohttp_client() -> None:
    async def main() -> None:
        async with longwire_server(echo_app()) as server, aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"ws://127.0.0.1:{server.port}/echo")
            await ws.send_str("close 4002 server says bye")
            message = await ws.receive()
            assert (message.type, message.data, message.extra) == (
                WSMsgType.CLOSE,
                4002,
                "server says bye",
            )
            assert ws.close_code == 4002
            assert ws.closed

    run(main())


# longwire client -> aiohttp server


def aiohttp_app(compression: bool, ended: list[Ended] | None = None) -> web.Application:
    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            protocols=("chat.v1", "chat.v2"), compress=compression, max_msg_size=0
        )
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.TEXT and message.data.startswith("close "):
                _, code, reason = message.data.split(" ", 2)
                await ws.close(code=int(code), message=reason.encode())
            elif message.type is WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type is WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        if ended is not None:
            ended.append(Ended(ws.close_code, ""))
        return ws

    app = web.Application()
    app.router.add_get("/echo", echo)
    return app


@asynccontextmanager
async def aiohttp_server(
    compression: bool = True, certs: Certificates | None = None, ended: list[Ended] | None = None
) -> AsyncIterator[int]:
    runner = web.AppRunner(aiohttp_app(compression, ended), handle_signals=False)
    await runner.setup()
    try:
        context = certs.server_context() if certs is not None else None
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("compression", "tls"), MATRIX)
def test_longwire_client_echo(compression: bool, tls: bool, certs: Certificates) -> None:
    async def main() -> None:
        async with aiohttp_server(compression, certs if tls else None) as port:
            url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/echo"
            async with longwire.connect(
                url,
                compression=compression,
                ssl=certs.client_context() if tls else None,
                max_message_size=None,
            ) as ws:
                assert ws.extensions.startswith("permessage-deflate") is compression
                for message in messages():
                    await ws.send(message)
                    assert await ws.recv() == message

    run(main())


def test_longwire_client_verifies_the_certificate(certs: Certificates) -> None:
    async def main() -> None:
        async with aiohttp_server(certs=certs) as port:
            url = f"wss://127.0.0.1:{port}/echo"
            with pytest.raises(ssl.SSLCertVerificationError):
                await longwire.connect(url)
            async with longwire.connect(url, ssl=certs.client_context()) as ws:
                await ws.send(b"trusted")
                assert await ws.recv() == b"trusted"

    run(main())


def test_longwire_client_subprotocol_with_aiohttp() -> None:
    async def main() -> None:
        async with aiohttp_server() as port:
            url = f"ws://127.0.0.1:{port}/echo"
            async with longwire.connect(url, subprotocols=["other", "chat.v2"]) as ws:
                assert ws.subprotocol == "chat.v2"

    run(main())


def test_aiohttp_server_closes_longwire_client() -> None:
    async def main() -> None:
        async with aiohttp_server() as port:
            ws = await longwire.connect(f"ws://127.0.0.1:{port}/echo")
            seen: list[tuple[int, str, bool]] = []
            ws.on_close = lambda code, reason, clean: seen.append((code, reason, clean))
            await ws.send("close 4003 server says bye")
            with pytest.raises(longwire.ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (4003, "server says bye")
            await ws.wait_closed()
            assert (ws.close_code, ws.close_reason) == (4003, "server says bye")
            assert seen == [(4003, "server says bye", True)]

    run(main())


def test_longwire_client_closes_aiohttp_server() -> None:
    ended: list[Ended] = []

    async def main() -> None:
        async with aiohttp_server(ended=ended) as port:
            async with longwire.connect(f"ws://127.0.0.1:{port}/echo") as ws:
                assert await ws.ping() >= 0  # aiohttp answers pings too
                await ws.close(4004, "client says bye")
                # aiohttp answers a Close with 1000 rather than echoing the code.
                assert (ws.close_code, ws.was_clean) == (1000, True)
            while not ended:
                await asyncio.sleep(0.01)

    run(main())
    assert ended == [Ended(4004, "")]
