"""The server's decisions on WebSocket opening handshakes: subprotocols, accept, reject, errors."""

import asyncio

import pytest
from aio_testing import (
    CLOSE,
    TEXT,
    close_frame,
    encode_frame,
    handshake_request,
    open_raw,
    read_frame,
    read_response,
    read_to_eof,
    request,
    run,
    serve,
    ws_handshake,
)

from longwire import App, HandshakeError, connect
from longwire.app._cors import CORSPolicy


def url(server, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def subprotocol_app() -> App:
    app = App()

    @app.websocket("/ws", subprotocols=("v2", "v1"))
    async def default(ws):
        assert ws.subprotocol is None  # nothing is chosen before accepting
        await ws.accept()
        await ws.send(repr(ws.subprotocol))

    @app.websocket("/explicit", subprotocols=("v2", "v1"))
    async def explicit(ws):
        await ws.accept(subprotocol="v1")
        await ws.send(repr(ws.subprotocol))

    return app


def test_subprotocol_is_chosen_by_server_preference():
    async def main():
        async with serve(subprotocol_app()) as server:
            async with connect(url(server), subprotocols=["v1", "v2"]) as ws:
                assert ws.subprotocol == "v2"  # the route's first, not the client's
                assert await ws.recv() == "'v2'"
            async with connect(url(server), subprotocols=["v1", "other"]) as ws:
                assert ws.subprotocol == "v1"
                assert await ws.recv() == "'v1'"
            async with connect(url(server), subprotocols=["other"]) as ws:
                assert ws.subprotocol is None
                assert await ws.recv() == "None"

    run(main)


def test_no_subprotocol_header_when_none_is_chosen():
    async def main():
        async with serve(subprotocol_app()) as server, open_raw(server.port) as (reader, writer):
            response = await ws_handshake(reader, writer)
            assert response.header("sec-websocket-protocol") is None
            frame = await read_frame(reader)
            assert frame.payload == b"None"

    run(main)


def test_explicit_accept_with_a_subprotocol():
    async def main():
        async with (
            serve(subprotocol_app()) as server,
            connect(url(server, "/explicit"), subprotocols=["v2", "v1"]) as ws,
        ):
            assert ws.subprotocol == "v1"  # the handler's choice overrides preference
            assert await ws.recv() == "'v1'"

    run(main)


def test_reject_sends_an_http_answer_with_its_body():
    app = App()

    @app.websocket("/ws")
    async def refuse(ws):
        await ws.reject(403, "go away")

    @app.get("/")
    async def index(req):
        return "hello"

    async def main():
        async with serve(app) as server:
            with pytest.raises(HandshakeError) as info:
                await connect(url(server))
            assert info.value.status == 403
            assert b"go away" in info.value.body
            # Over a raw connection: an ordinary HTTP response, and the connection
            # goes on serving HTTP.
            async with open_raw(server.port) as (reader, writer):
                writer.write(handshake_request()[0])
                response = await read_response(reader)
                assert response.status_line == b"HTTP/1.1 403 Forbidden\r\n"
                assert response.body == b"go away"
                assert response.header("upgrade") is None
                writer.write(request("GET", "/"))
                assert (await read_response(reader)).body == b"hello"

    run(main)


def test_route_origins_refuse_other_origins():
    app = App()

    @app.websocket("/ws", origins={"https://good.example"})
    async def handler(ws):
        await ws.send("welcome")

    async def main():
        async with serve(app) as server:
            with pytest.raises(HandshakeError) as info:
                await connect(url(server), origin="https://evil.example")
            assert info.value.status == 403
            with pytest.raises(HandshakeError) as info:
                await connect(url(server))  # no Origin at all
            assert info.value.status == 403
            async with connect(url(server), origin="https://good.example") as ws:
                assert await ws.recv() == "welcome"

    run(main)


def test_route_origins_can_be_a_cors_policy_or_a_function():
    policy = CORSPolicy(["https://*.good.example", "http://localhost:*"])
    app = App()

    @app.websocket("/policy", origins=policy)
    async def by_policy(ws):
        await ws.send("policy")

    @app.websocket("/function", origins=lambda origin: origin is None or origin.endswith(".test"))
    async def by_function(ws):
        await ws.send("function")

    async def main():
        async with serve(app) as server:
            for path, origin in [
                ("/policy", "https://evil.example"),
                ("/policy", "https://good.example"),  # the pattern is for subdomains only
                ("/policy", None),
                ("/function", "https://a.example"),
            ]:
                with pytest.raises(HandshakeError) as info:
                    await connect(url(server, path), origin=origin)
                assert info.value.status == 403, (path, origin)
            for path, origin, greeting in [
                ("/policy", "https://chat.good.example", "policy"),
                ("/policy", "http://localhost:3000", "policy"),
                ("/function", "https://a.test", "function"),
                ("/function", None, "function"),
            ]:
                async with connect(url(server, path), origin=origin) as ws:
                    assert await ws.recv() == greeting

    run(main)


def test_upgrade_to_a_path_without_websocket_route_gets_404():
    async def main():
        async with serve(subprotocol_app()) as server:
            with pytest.raises(HandshakeError) as info:
                await connect(url(server, "/nowhere"))
            assert info.value.status == 404

    run(main)


def test_bad_websocket_version_gets_426_with_the_supported_version():
    async def main():
        async with serve(subprotocol_app()) as server, open_raw(server.port) as (reader, writer):
            data, _ = handshake_request()
            writer.write(data.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"))
            response = await read_response(reader)
            assert response.status == 426
            assert response.header("sec-websocket-version") == "13"

    run(main)


def test_upgrade_without_connection_upgrade_gets_426():
    async def main():
        async with serve(subprotocol_app()) as server, open_raw(server.port) as (reader, writer):
            data, _ = handshake_request()
            writer.write(data.replace(b"Connection: Upgrade\r\n", b""))
            response = await read_response(reader)
            assert response.status == 426
            assert response.header("upgrade") == "websocket"

    run(main)


def test_plain_get_on_a_path_with_both_routes_gets_the_http_route():
    app = App()

    @app.get("/chat")
    async def page(req):
        return "the page"

    @app.websocket("/chat")
    async def chat(ws):
        await ws.send("the socket")

    async def main():
        async with serve(app) as server:
            async with open_raw(server.port) as (reader, writer):
                writer.write(request("GET", "/chat"))
                assert (await read_response(reader)).body == b"the page"
            async with connect(url(server, "/chat")) as ws:
                assert await ws.recv() == "the socket"

    run(main)


def test_plain_get_on_a_websocket_only_path_gets_426():
    async def main():
        async with serve(subprotocol_app()) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/ws"))
            response = await read_response(reader)
            assert response.status == 426
            assert response.header("upgrade") == "websocket"

    run(main)


def test_handler_raising_before_accept_gets_500():
    app = App()

    @app.websocket("/ws")
    async def broken(ws):
        await asyncio.sleep(0)  # fail from the Task, not the eager first step
        raise RuntimeError("handler bug")

    @app.websocket("/eager")
    async def broken_at_once(ws):
        raise RuntimeError("handler bug")

    async def main():
        async with serve(app) as server:
            for path in ("/ws", "/eager"):
                with pytest.raises(HandshakeError) as info:
                    await connect(url(server, path))
                assert info.value.status == 500
                assert b"handler bug" not in info.value.body

    run(main)


def test_handler_raising_after_accept_closes_1011():
    app = App()

    @app.websocket("/ws")
    async def broken(ws):
        await ws.accept()
        await ws.recv()
        raise RuntimeError("handler bug")

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            await ws_handshake(reader, writer)
            writer.write(encode_frame(TEXT, b"go"))
            frame = await read_frame(reader)
            assert frame.opcode == CLOSE
            assert frame.close_code() == 1011
            assert "handler bug" not in frame.close_reason()
            writer.write(close_frame(1011))
            assert await read_to_eof(reader) == b""

    run(main)


def test_frames_sent_with_the_handshake_request_are_delivered():
    app = App()
    received: list[object] = []

    @app.websocket("/ws")
    async def handler(ws):
        await asyncio.sleep(0.05)  # decide late: the frames wait in the HTTP buffer
        async for message in ws:
            received.append(message)

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            data, _ = handshake_request()
            # The request and the first frames in one write: the server reads them
            # with the head, before it has decided to accept.
            writer.write(data + encode_frame(TEXT, b"early") + encode_frame(TEXT, b"second"))
            assert (await read_response(reader, head_only=True)).status == 101
            writer.write(encode_frame(TEXT, b"late") + close_frame(1000))
            assert (await read_frame(reader)).opcode == CLOSE
            assert await read_to_eof(reader) == b""
            assert received == ["early", "second", "late"]

    run(main)


def test_close_before_accept_refuses_with_403():
    app = App()

    @app.websocket("/ws")
    async def handler(ws):
        await ws.close()

    async def main():
        async with serve(app) as server:
            with pytest.raises(HandshakeError) as info:
                await connect(url(server))
            assert info.value.status == 403

    run(main)
