"""longwire's sans-I/O WebSocket cores against the `websockets` library, over real loopback TCP.

Both directions: longwire's client core against a websockets server, and the
websockets client against a server built on longwire's cores. Text and binary,
0 B to 16 MiB, fragmented both ways, compression on and off, every valid close code.
"""

import asyncio
import os

import pytest
from sansio_peer import connect, start_echo_server
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from longwire.websocket import CloseReceived, PerMessageDeflate, Ping, Pong

pytestmark = pytest.mark.interop

MiB = 1024 * 1024
SIZES = [0, 1, 125, 126, 65535, 65536, MiB, 16 * MiB]
VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                     3000, 3999, 4000, 4999]
TIMEOUT = 60


def payload(size: int, kind: str) -> str | bytes:
    if kind == "binary":
        return os.urandom(size)
    # Multi-byte characters, so UTF-8 sequences straddle frame and read boundaries.
    text = "héllo wörld ✓ 🎉 " * (size // 16 + 1)
    return text[:size]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def fragments(message: str | bytes, size: int):
    return [message[i : i + size] for i in range(0, len(message), size)] or [message[:0]]


async def websockets_echo_handler(ws):
    async for message in ws:
        if message == "fragment your replies":
            ws.fragment_replies = True
            continue
        if isinstance(message, str) and message.startswith("close "):
            _, code, reason = message.split(" ", 2)
            await ws.close(int(code), reason)
            return
        if getattr(ws, "fragment_replies", False):
            await ws.send(fragments(message, 1000))
        else:
            await ws.send(message)


def websockets_server(compression: bool):
    return ws_serve(
        websockets_echo_handler,
        "127.0.0.1",
        0,
        compression="deflate" if compression else None,
        max_size=None,
    )


def server_port(server) -> int:
    return server.sockets[0].getsockname()[1]


# longwire client core → websockets server


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("kind", ["text", "binary"])
@pytest.mark.parametrize("size", SIZES)
def test_longwire_client_echo_via_websockets_server(size, kind, compression):
    message = payload(size, kind)

    async def scenario():
        async with websockets_server(compression) as server:
            ws = await connect(
                server_port(server), deflate=PerMessageDeflate() if compression else None
            )
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions")
            assert (negotiated is not None) == compression
            await ws.send(message)
            echo = await ws.recv()
            close = await ws.close()
            return echo, close

    echo, close = run(scenario())
    assert type(echo) is type(message)
    assert echo == message
    assert close == CloseReceived(code=1000, reason="")


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
def test_fragmented_messages_both_ways_with_websockets_server(compression):
    text = payload(200_000, "text")
    data = payload(200_000, "binary")

    async def scenario():
        async with websockets_server(compression) as server:
            ws = await connect(
                server_port(server), deflate=PerMessageDeflate() if compression else None
            )
            await ws.send("fragment your replies")
            results = []
            for message in (text, data):
                await ws.send(message, fragment_size=777)  # we fragment ...
                results.append(await ws.recv())  # ... and reassemble theirs (1000-byte frames)
            await ws.close()
            return results

    assert run(scenario()) == [text, data]


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_close_codes_round_trip_with_websockets_server(code):
    async def scenario():
        async with websockets_server(False) as server:
            # We close: websockets echoes our code.
            ws = await connect(server_port(server))
            ours = await ws.close(code, "from longwire")
            # websockets closes: we receive its code and reason, and echo them.
            ws = await connect(server_port(server))
            await ws.send(f"close {code} from websockets")
            theirs = await ws.next_event()
            await ws.wait_tcp_close()
            return ours, theirs, ws.ws.close_sent

    ours, theirs, echoed = run(scenario())
    assert ours == CloseReceived(code=code, reason="from longwire")
    assert theirs == CloseReceived(code=code, reason="from websockets")
    assert echoed[0] == code


def test_ping_to_websockets_server_is_answered_with_the_same_payload():
    async def scenario():
        async with websockets_server(False) as server:
            ws = await connect(server_port(server))
            ws.ws.send_ping(b"are you there?")
            await ws.flush()
            event = await ws.next_event()
            await ws.close()
            return event

    assert run(scenario()) == Pong(payload=b"are you there?")


# websockets client → longwire server core


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("kind", ["text", "binary"])
@pytest.mark.parametrize("size", SIZES)
def test_websockets_client_echo_via_longwire_server(size, kind, compression):
    message = payload(size, kind)

    async def scenario():
        server, port, record = await start_echo_server(
            deflate=PerMessageDeflate() if compression else None
        )
        async with server, ws_connect(
            f"ws://127.0.0.1:{port}/",
            compression="deflate" if compression else None,
            max_size=None,
        ) as ws:
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions")
            await ws.send(message)
            echo = await ws.recv()
        return echo, negotiated, record

    echo, negotiated, record = run(scenario())
    assert echo == message
    assert type(echo) is type(message)
    assert (negotiated is not None) == compression
    assert record.closes_received == [CloseReceived(code=1000, reason="")]
    assert record.failures == []


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
def test_websockets_client_fragmented_messages_via_longwire_server(compression):
    text = payload(300_000, "text")
    data = payload(300_000, "binary")

    async def scenario():
        server, port, _ = await start_echo_server(
            deflate=PerMessageDeflate() if compression else None
        )
        async with server, ws_connect(
            f"ws://127.0.0.1:{port}/", compression="deflate" if compression else None,
            max_size=None,
        ) as ws:
            echoes = []
            for message in (text, data):
                await ws.send(fragments(message, 4096))
                echoes.append(await ws.recv())
            return echoes

    assert run(scenario()) == [text, data]


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_websockets_client_close_codes_via_longwire_server(code):
    async def scenario():
        server, port, record = await start_echo_server()
        async with server:
            ws = await ws_connect(f"ws://127.0.0.1:{port}/")
            await ws.close(code, "from websockets")
            return ws.close_code, ws.close_reason, record

    close_code, close_reason, record = run(scenario())
    assert record.closes_received == [CloseReceived(code=code, reason="from websockets")]
    # Our server echoed the code back (RFC 6455 §5.5.1).
    assert (close_code, close_reason) == (code, "from websockets")


def test_websockets_client_ping_is_answered_by_longwire_server():
    async def scenario():
        server, port, _ = await start_echo_server()
        async with server, ws_connect(f"ws://127.0.0.1:{port}/") as ws:
            pong_waiter = await ws.ping(b"heartbeat")
            return await asyncio.wait_for(pong_waiter, 5)

    assert run(scenario()) >= 0


def test_subprotocol_negotiation_with_websockets_client():
    async def scenario():
        server, port, record = await start_echo_server(subprotocol="jsonrpc")
        async with server, ws_connect(
            f"ws://127.0.0.1:{port}/", subprotocols=["chat.v1", "jsonrpc"]
        ) as ws:
            return ws.subprotocol, record

    chosen, record = run(scenario())
    assert chosen == "jsonrpc"
    assert record.subprotocols_offered == [("chat.v1", "jsonrpc")]


def test_subprotocol_negotiation_with_websockets_server():
    async def handler(ws):
        await ws.send(ws.subprotocol or "")

    async def scenario():
        async with ws_serve(handler, "127.0.0.1", 0, subprotocols=["jsonrpc"]) as server:
            ws = await connect(server_port(server), subprotocols=("chat.v1", "jsonrpc"))
            chosen = ws.response.headers.get("Sec-WebSocket-Protocol")
            said = await ws.recv()
            await ws.wait_tcp_close()
            return chosen, said

    assert run(scenario()) == ("jsonrpc", "jsonrpc")


def test_pings_are_events_on_our_side_and_answered_automatically():
    async def handler(ws):
        await asyncio.wait_for(await ws.ping(b"from websockets"), 5)
        await ws.send("pong received")

    async def scenario():
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            ws = await connect(server_port(server))
            first = await ws.next_event()
            second = await ws.recv()
            await ws.close()
            return first, second

    assert run(scenario()) == (Ping(payload=b"from websockets"), "pong received")
