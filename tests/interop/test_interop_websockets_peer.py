"""longwire's asyncio server and client against the `websockets` library (v13+), over loopback.

Both directions: the websockets client against ``longwire.aio.Server``, and
``longwire.connect`` against a websockets server. Text and binary messages of
0 B to 1 MiB, with and without permessage-deflate, over TCP and TLS;
subprotocol negotiation; close codes and reasons sent either way.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import Any

import pytest
from lw_peers import SUBPROTOCOLS, Certificates, Ended, echo_app, messages, run
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as WsConnectionClosed

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


# websockets client -> longwire server


@pytest.mark.parametrize(("compression", "tls"), MATRIX)
def test_websockets_client_echo(compression: bool, tls: bool, certs: Certificates) -> None:
    async def main() -> None:
        async with longwire_server(echo_app(), certs if tls else None) as server:
            url = f"{'wss' if tls else 'ws'}://127.0.0.1:{server.port}/echo"
            async with ws_connect(
                url,
                compression="deflate" if compression else None,
                ssl=certs.client_context() if tls else None,
                max_size=None,
            ) as ws:
                extensions = [e.name for e in ws.protocol.extensions]
                assert extensions == (["permessage-deflate"] if compression else [])
                for message in messages():
                    await ws.send(message)
                    assert await ws.recv() == message

    run(main())


def test_websockets_client_subprotocol() -> None:
    async def main() -> None:
        async with longwire_server(echo_app()) as server:
            url = f"ws://127.0.0.1:{server.port}/echo"
            async with ws_connect(url, subprotocols=["chat.v1", "chat.v2"]) as ws:
                # The server's preference wins among the offered ones.
                assert ws.subprotocol == SUBPROTOCOLS[0]
            async with ws_connect(url, subprotocols=["chat.v1", "other"]) as ws:
                assert ws.subprotocol == "chat.v1"
            async with ws_connect(url, subprotocols=["other"]) as ws:
                assert ws.subprotocol is None

    run(main())


def test_websockets_client_closes_with_code_and_reason() -> None:
    ended: list[Ended] = []

    async def main() -> None:
        async with (
            longwire_server(echo_app(ended)) as server,
            ws_connect(f"ws://127.0.0.1:{server.port}/echo") as ws,
        ):
            await ws.send("hi")
            assert await ws.recv() == "hi"
            await ws.close(4001, "client says bye")
            # RFC 6455 §5.5.1: the server echoes the status code.
            assert ws.close_code == 4001

    run(main())
    assert ended == [Ended(4001, "client says bye")]


def test_longwire_server_closes_websockets_client() -> None:
    async def main() -> None:
        async with (
            longwire_server(echo_app()) as server,
            ws_connect(f"ws://127.0.0.1:{server.port}/echo") as ws,
        ):
            await ws.send("close 4002 server says bye")
            with pytest.raises(WsConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (
                4002,
                "server says bye",
            )

    run(main())


# longwire client -> websockets server


async def websockets_echo(ws: Any, ended: list[Ended] | None = None) -> None:
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("close "):
                _, code, reason = message.split(" ", 2)
                await ws.close(int(code), reason)
                return
            await ws.send(message)
    except WsConnectionClosed:
        pass
    if ended is not None:
        ended.append(Ended(ws.close_code, ws.close_reason or ""))


def websockets_server(
    compression: bool = True,
    certs: Certificates | None = None,
    ended: list[Ended] | None = None,
    **kwargs: Any,
) -> Any:
    return ws_serve(
        functools.partial(websockets_echo, ended=ended),
        "127.0.0.1",
        0,
        compression="deflate" if compression else None,
        ssl=certs.server_context() if certs is not None else None,
        max_size=None,
        **kwargs,
    )


def port_of(server: Any) -> int:
    return int(next(iter(server.sockets)).getsockname()[1])


@pytest.mark.parametrize(("compression", "tls"), MATRIX)
def test_longwire_client_echo(compression: bool, tls: bool, certs: Certificates) -> None:
    async def main() -> None:
        async with websockets_server(compression, certs if tls else None) as server:
            url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port_of(server)}/"
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
        async with websockets_server(certs=certs) as server:
            url = f"wss://localhost:{port_of(server)}/"
            # Verification is on by default: the test CA is not one of the system's.
            with pytest.raises(ssl.SSLCertVerificationError):
                await longwire.connect(url)
            async with longwire.connect(url, ssl=certs.client_context()) as ws:
                await ws.send("trusted")
                assert await ws.recv() == "trusted"

    run(main())


def test_longwire_client_subprotocol() -> None:
    async def main() -> None:
        async with websockets_server(subprotocols=["chat.v1", "chat.v2"]) as server:
            url = f"ws://127.0.0.1:{port_of(server)}/"
            async with longwire.connect(url, subprotocols=["chat.v2", "other"]) as ws:
                assert ws.subprotocol == "chat.v2"

    run(main())


def test_websockets_server_closes_longwire_client() -> None:
    async def main() -> None:
        async with websockets_server() as server:
            url = f"ws://127.0.0.1:{port_of(server)}/"
            ws = await longwire.connect(url)
            seen: list[tuple[int, str, bool]] = []
            ws.on_close = lambda code, reason, clean: seen.append((code, reason, clean))
            await ws.send("close 4003 server says bye")
            with pytest.raises(longwire.ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (4003, "server says bye")
            await ws.wait_closed()
            assert (ws.close_code, ws.close_reason) == (4003, "server says bye")
            assert seen == [(4003, "server says bye", True)]
            assert ws.ready_state is longwire.ReadyState.CLOSED

    run(main())


def test_longwire_client_closes_with_code_and_reason() -> None:
    ended: list[Ended] = []

    async def main() -> None:
        async with websockets_server(ended=ended) as server:
            url = f"ws://127.0.0.1:{port_of(server)}/"
            async with longwire.connect(url) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
                await ws.close(4004, "client says bye")
                assert (ws.close_code, ws.close_reason, ws.was_clean) == (
                    4004,
                    "client says bye",
                    True,
                )
            while not ended:  # the server's handler records it as it returns
                await asyncio.sleep(0.01)

    run(main())
    assert ended == [Ended(4004, "client says bye")]
