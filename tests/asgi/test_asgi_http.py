"""ASGI HTTP served by longwire: raw hand-written ASGI apps, real sockets on 127.0.0.1.

The server runs in-process (``Server(ASGIApp(app))``); requests are written and
responses read byte by byte with tests/raw_http.py, so what is checked is what
a client receives. Each test is bounded in time and fails on leaked tasks or
sockets (tests/leakcheck.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from leakcheck import run_without_leaks
from longwire import App
from longwire.aio import Server, ServerConfig
from longwire.app._file_response import FileResponse
from longwire.asgi import ASGIApp, ClientDisconnected, TrustedProxies, check_asgi3
from longwire.asgi import _http as asgi_http
from raw_http import exchange, open_raw, read_response, read_to_eof, request

TIMEOUT = 10.0


def run(main: Any) -> None:
    run_without_leaks(main(), timeout=TIMEOUT)


@contextlib.asynccontextmanager
async def serve(app: Any, **options: Any) -> AsyncIterator[Server]:
    asgi_options = {k: options.pop(k) for k in ("root_path", "proxy_headers") if k in options}
    asgi_options["lifespan"] = "off"  # tests/asgi/test_asgi_lifespan.py covers it
    options.setdefault("access_log", False)
    target = app if isinstance(app, App) else ASGIApp(app, **asgi_options)
    async with Server(target, port=0, config=ServerConfig(**options)) as server:
        yield server


async def read_body(receive: Any) -> tuple[bytes, list[dict[str, Any]]]:
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    return b"".join(m.get("body", b"") for m in messages), messages


async def respond(send: Any, body: bytes, status: int = 200, headers: Any = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


# The scope


def test_http_scope_fields():
    scopes: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        scopes.append(scope)
        await respond(send, b"ok")

    async def main():
        async with serve(app) as server:
            raw = request(
                "GET",
                "/caf%C3%A9/a%2Fb?x=1&y=%20",
                [("X-Custom", "One"), ("Accept", "*/*"), ("x-custom", "Two")],
            )
            response = await exchange(server.port, raw)
            assert response.status == 200
            assert response.body == b"ok"
            assert response.header("content-length") == "2"
            assert response.header("server") == "longwire"
            assert response.header("date")
            port = server.port
        (scope,) = scopes
        assert scope["type"] == "http"
        assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
        assert scope["http_version"] == "1.1"
        assert scope["method"] == "GET"
        assert scope["scheme"] == "http"
        assert scope["path"] == "/café/a/b"
        assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb"
        assert scope["query_string"] == b"x=1&y=%20"
        assert scope["root_path"] == ""
        assert scope["headers"] == [
            (b"host", b"test"),
            (b"x-custom", b"One"),
            (b"accept", b"*/*"),
            (b"x-custom", b"Two"),
        ]
        assert scope["client"][0] == "127.0.0.1"
        assert scope["server"] == ("127.0.0.1", port)
        assert "state" not in scope  # the app does not support lifespan
        assert scope["extensions"] == {"http.response.pathsend": {}}

    run(main)


def test_http_root_path_is_prefixed_to_path():
    seen: list[tuple[str, bytes, str]] = []

    async def app(scope, receive, send):
        seen.append((scope["path"], scope["raw_path"], scope["root_path"]))
        await respond(send, b"ok")

    async def main():
        async with serve(app, root_path="/api") as server:
            await exchange(server.port, request("GET", "/items/1?q"))
        assert seen == [("/api/items/1", b"/api/items/1", "/api")]

    run(main)


# Request bodies


def test_request_body_streams_in_messages_with_more_body():
    messages: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body, got = await read_body(receive)
        messages.extend(got)
        await respond(send, body)

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(
                b"POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n"
            )
            await writer.drain()
            await asyncio.sleep(0.1)  # the app has the first chunk, and waits
            writer.write(b"6\r\n world\r\n0\r\n\r\n")
            response = await read_response(reader)
            assert response.body == b"hello world"
        assert messages[0] == {"type": "http.request", "body": b"hello", "more_body": True}
        assert messages[-1]["more_body"] is False
        assert all(m["type"] == "http.request" for m in messages)

    run(main)


def test_whole_body_already_received_comes_in_one_message():
    messages: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await asyncio.sleep(0.05)  # the whole body arrives meanwhile
        body, got = await read_body(receive)
        messages.extend(got)
        await respond(send, body)

    async def main():
        async with serve(app) as server:
            response = await exchange(server.port, request("PUT", "/", body=b"x" * 1000))
            assert response.body == b"x" * 1000
        assert messages == [{"type": "http.request", "body": b"x" * 1000, "more_body": False}]

    run(main)


def test_expect_100_continue_is_sent_only_when_the_app_reads_the_body():
    async def app(scope, receive, send):
        if scope["path"] == "/read":
            body, _ = await read_body(receive)
            await respond(send, b"got " + body)
        else:
            await respond(send, b"not reading", status=413)

    async def main():
        async with serve(app) as server:
            head = (
                "POST {} HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n"
                "Content-Length: 4\r\n\r\n"
            )
            async with open_raw(server.port) as (reader, writer):
                writer.write(head.format("/skip").encode())
                response = await read_response(reader)
                assert response.status == 413  # no 100 Continue before it
                assert response.body == b"not reading"
            async with open_raw(server.port) as (reader, writer):
                writer.write(head.format("/read").encode())
                interim = await read_response(reader)
                assert interim.status == 100
                writer.write(b"data")
                response = await read_response(reader)
                assert response.body == b"got data"

    run(main)


def test_body_over_the_limit_is_answered_413_by_the_server():
    seen: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        _, messages = await read_body(receive)
        seen.extend(messages)

    async def main():
        from longwire.http1 import Limits

        limits = Limits(max_body_size=10)
        async with (
            serve(app, http_limits=limits) as server,
            open_raw(server.port) as (reader, writer),
        ):
            writer.write(b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)  # the app is waiting for the body
            writer.write(b"20\r\n" + b"y" * 32 + b"\r\n0\r\n\r\n")
            response = await read_response(reader)
            assert response.status == 413
        assert seen[-1] == {"type": "http.disconnect"}

    run(main)


# Responses


def test_streamed_response_is_chunked_and_arrives_as_sent():
    release = asyncio.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"first ", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"second", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request())
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 201 Created\r\n")
            assert b"Transfer-Encoding: chunked" in head
            assert await reader.readuntil(b"first \r\n") == b"6\r\nfirst \r\n"
            release.set()
            assert await reader.readuntil(b"0\r\n\r\n") == b"6\r\nsecond\r\n0\r\n\r\n"

    run(main)


def test_app_content_length_is_kept_and_head_gets_no_body():
    async def app(scope, receive, send):
        headers = [(b"content-length", b"5"), (b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else b"hel"
        await send({"type": "http.response.body", "body": body, "more_body": True})
        if scope["method"] != "HEAD":
            await send({"type": "http.response.body", "body": b"lo"})
        else:
            await send({"type": "http.response.body", "body": b""})

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET") + request("HEAD"))
            response = await read_response(reader)
            assert response.body == b"hello"
            assert response.header("content-length") == "5"
            assert response.header("transfer-encoding") is None
            head = await read_response(reader, head_only=True)
            assert head.header("content-length") == "5"  # the app's, not 0
            writer.write(request("GET"))
            assert (await read_response(reader)).body == b"hello"  # nothing stray before

    run(main)


def test_pipelined_requests_are_answered_in_order():
    async def app(scope, receive, send):
        if scope["path"] == "/slow":
            await asyncio.sleep(0.05)
        await respond(send, scope["path"].encode())

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/slow") + request("GET", "/fast") + request("GET", "/3"))
            bodies = [(await read_response(reader)).body for _ in range(3)]
            assert bodies == [b"/slow", b"/fast", b"/3"]

    run(main)


def test_pathsend_serves_the_file(tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"small file\n")
    big = tmp_path / "big.bin"
    content = os.urandom(300 * 1024)
    big.write_bytes(content)

    async def app(scope, receive, send):
        assert "http.response.pathsend" in scope["extensions"]
        path = small if scope["path"] == "/small" else big
        headers = [(b"content-type", b"application/octet-stream")]
        if scope["path"] == "/big-length":
            headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": str(path)})

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/small"))
            response = await read_response(reader)
            assert response.body == b"small file\n"
            assert response.header("content-length") == "11"
            for target in ("/big", "/big-length"):
                writer.write(request("GET", target))
                response = await read_response(reader)
                assert response.header("content-length") == str(len(content))
                assert response.body == content

    run(main)


def test_pathsend_of_a_file_that_shrinks_fails_the_app_with_a_500(tmp_path, monkeypatch, caplog):
    path = tmp_path / "shrinking.txt"
    path.write_bytes(b"x" * 100)

    class Shrinking(FileResponse):
        # The file shrinks between its stat (its Content-Length) and its reading.
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            path.write_bytes(b"x" * 10)

    monkeypatch.setattr(asgi_http, "FileResponse", Shrinking)
    failures: list[BaseException] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            await send({"type": "http.response.pathsend", "path": str(path)})
        except Exception as exc:
            failures.append(exc)
            raise

    async def main():
        async with serve(app) as server:
            response = await exchange(server.port, request("GET", "/"))
            assert response.status == 500  # not a head promising 100 bytes, then 10
        assert "shrank" in str(failures[0])

    with caplog.at_level(logging.CRITICAL, logger="longwire.asgi"):
        run(main)


def test_trailers_only_when_the_request_accepts_them():
    extensions: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        extensions.append(scope["extensions"])
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send(
            {
                "type": "http.response.trailers",
                "headers": [(b"x-checksum", b"abc")],
                "more_trailers": False,
            }
        )

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/", [("TE", "trailers")]))
            head = await reader.readuntil(b"\r\n\r\n")
            assert b"Transfer-Encoding: chunked" in head
            rest = await reader.readuntil(b"\r\n\r\n")
            assert rest == b"4\r\ndata\r\n0\r\nx-checksum: abc\r\n\r\n"
        assert extensions[0]["http.response.trailers"] == {}

    run(main)


# Failures


def test_app_raising_before_the_response_gets_500_and_is_logged(caplog):
    async def app(scope, receive, send):
        raise ValueError("boom")

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request() + request())
            for _ in range(2):  # the connection survives
                response = await read_response(reader)
                assert response.status == 500
                assert response.body == b"Internal Server Error\n"

    with caplog.at_level(logging.ERROR, logger="longwire.asgi"):
        run(main)
    failures = [r for r in caplog.records if "exception in ASGI application" in r.message]
    assert failures
    assert failures[0].exc_info is not None
    assert "boom" in str(failures[0].exc_info[1])


def test_app_raising_mid_stream_closes_the_connection(caplog):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        await asyncio.sleep(0.01)
        raise RuntimeError("mid-stream")

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request())
            data = await read_to_eof(reader)
            assert b"7\r\npartial\r\n" in data
            assert not data.endswith(b"0\r\n\r\n")  # the body never ends properly

    with caplog.at_level(logging.ERROR, logger="longwire.asgi"):
        run(main)
    assert any("exception in ASGI application" in r.message for r in caplog.records)


def test_app_returning_without_a_response_gets_500(caplog):
    async def app(scope, receive, send):
        await asyncio.sleep(0)

    async def main():
        async with serve(app) as server:
            response = await exchange(server.port, request())
            assert response.status == 500

    with caplog.at_level(logging.ERROR, logger="longwire.asgi"):
        run(main)
    assert any("without starting a response" in r.message for r in caplog.records)


def test_app_not_answering_in_time_gets_504_and_is_cancelled(caplog):
    cancelled = asyncio.Event()

    async def app(scope, receive, send):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main():
        async with serve(app, asgi_response_timeout=0.2) as server:
            response = await exchange(server.port, request())
            assert response.status == 504
            await asyncio.wait_for(cancelled.wait(), 2)

    with caplog.at_level(logging.ERROR, logger="longwire.asgi"):
        run(main)
    assert any("asgi_response_timeout" in r.message for r in caplog.records)


def test_invalid_message_order_fails_the_app():
    errors: list[BaseException] = []

    async def app(scope, receive, send):
        try:
            await send({"type": "http.response.body", "body": b"x"})
        except RuntimeError as exc:
            errors.append(exc)
        await respond(send, b"fine")

    async def main():
        async with serve(app) as server:
            assert (await exchange(server.port, request())).body == b"fine"
        assert "http.response.start" in str(errors[0])

    run(main)


# Disconnection


def test_disconnect_reaches_receive_and_send_raises_oserror():
    got: list[Any] = []
    done = asyncio.Event()

    async def app(scope, receive, send):
        await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"tick", "more_body": True})
        got.append(await receive())  # blocks until the client leaves
        try:
            await send({"type": "http.response.body", "body": b"tock", "more_body": True})
        except OSError as exc:
            got.append(exc)
        done.set()

    async def main():
        async with serve(app) as server:
            async with open_raw(server.port) as (reader, writer):
                writer.write(request())
                await reader.readuntil(b"tick\r\n")
            await asyncio.wait_for(done.wait(), 2)
        assert got[0] == {"type": "http.disconnect"}
        assert isinstance(got[1], ClientDisconnected)

    run(main)


def test_receive_after_the_response_is_disconnect():
    got: list[Any] = []

    async def app(scope, receive, send):
        await read_body(receive)
        await respond(send, b"done")
        got.append(await receive())

    async def main():
        async with serve(app) as server:
            await exchange(server.port, request())
        assert got == [{"type": "http.disconnect"}]

    run(main)


# Proxy headers


def test_proxy_headers_from_a_trusted_peer():
    seen: list[tuple[Any, str]] = []

    async def app(scope, receive, send):
        seen.append((scope["client"], scope["scheme"]))
        await respond(send, b"ok")

    async def main():
        async with serve(app, proxy_headers=TrustedProxies("127.0.0.1")) as server:
            await exchange(
                server.port,
                request(
                    "GET",
                    "/",
                    [("X-Forwarded-For", "203.0.113.7, 127.0.0.1"), ("X-Forwarded-Proto", "https")],
                ),
            )
            await exchange(
                server.port,
                request("GET", "/", [("Forwarded", 'for="[2001:db8::1]:4711";proto=https')]),
            )
        async with serve(app, proxy_headers=TrustedProxies("10.0.0.0/8")) as server:
            await exchange(server.port, request("GET", "/", [("X-Forwarded-For", "203.0.113.7")]))
        assert seen[0] == (("203.0.113.7", 0), "https")
        assert seen[1] == (("2001:db8::1", 4711), "https")
        assert seen[2][0][0] == "127.0.0.1"  # the peer is not trusted: headers ignored
        assert seen[2][1] == "http"

    run(main)


def test_trusted_proxies_resolution_rules():
    from longwire.http1 import Headers

    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    peer = ("10.1.2.3", 5000)
    # From the right: trusted hops are skipped, the first untrusted one is the client.
    headers = Headers([("X-Forwarded-For", "1.1.1.1, 6.6.6.6, 10.0.0.5")])
    assert proxies.resolve(headers, peer, "http") == (("6.6.6.6", 0), "http")
    # All trusted: the leftmost.
    headers = Headers([("X-Forwarded-For", "10.0.0.9, 10.0.0.5")])
    assert proxies.resolve(headers, peer, "http")[0] == ("10.0.0.9", 0)
    # WebSocket schemes follow the forwarded proto.
    headers = Headers([("X-Forwarded-Proto", "https")])
    assert proxies.resolve(headers, peer, "ws") == (peer, "wss")
    # Forwarded wins over X-Forwarded-*, obfuscated nodes keep the peer.
    headers = Headers([("Forwarded", "for=_hidden;proto=http"), ("X-Forwarded-For", "9.9.9.9")])
    assert proxies.resolve(headers, peer, "https") == (peer, "http")
    assert proxies.resolve(headers, ("8.8.8.8", 1), "https") == (("8.8.8.8", 1), "https")
    with pytest.raises(ValueError, match="not an IP"):
        TrustedProxies("localhost")
    assert TrustedProxies("*").trusted("192.0.2.1")


# Mounting in a native App, and detection


def test_native_app_mounts_an_asgi_app_for_http():
    seen: list[tuple[str, str]] = []

    async def legacy(scope, receive, send):
        seen.append((scope["path"], scope["root_path"]))
        body, _ = await read_body(receive)
        if scope["path"].endswith("/stream"):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for part in (b"a", b"b", b"c"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await respond(send, b"legacy:" + body, headers=[(b"x-from", b"asgi")])

    app = App()

    @app.get("/")
    async def index(request):
        return "native"

    app.mount("/legacy", legacy)

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/"))
            assert (await read_response(reader)).body == b"native"
            writer.write(request("POST", "/legacy/items?x=1", body=b"payload"))
            response = await read_response(reader)
            assert response.body == b"legacy:payload"
            assert response.header("x-from") == "asgi"
            writer.write(request("GET", "/legacy/stream"))
            response = await read_response(reader)
            assert response.chunks == [b"a", b"b", b"c"]
        assert seen[0] == ("/legacy/items", "/legacy")

    run(main)


def test_mount_calls_longwire_mount_or_refuses():
    calls: list[tuple[Any, str]] = []

    class Component:
        def longwire_mount(self, app, prefix):
            calls.append((app, prefix))

    app = App()
    app.mount("/hub", Component())
    assert calls == [(app, "/hub")]
    with pytest.raises(TypeError, match="cannot mount"):
        app.mount("/x", object())


def test_asgi2_applications_are_refused():
    class Asgi2:
        def __init__(self, scope):
            self.scope = scope

    def asgi2_function(scope):
        return None

    for app in (Asgi2, asgi2_function):
        with pytest.raises(TypeError, match="ASGI 2"):
            check_asgi3(app)

    async def asgi3(scope, receive, send):
        pass

    class Asgi3:
        async def __call__(self, scope, receive, send):
            pass

    check_asgi3(asgi3)
    check_asgi3(Asgi3())


def test_mounted_app_receive_after_the_response_is_disconnect():
    got: list[tuple[str, Any]] = []

    async def legacy(scope, receive, send):
        await read_body(receive)
        if scope["path"].endswith("/stream"):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await respond(send, b"done")
        got.append((scope["path"], await receive()))

    app = App()
    app.mount("/legacy", legacy)

    async def main():
        async with serve(app) as server:
            await exchange(server.port, request("POST", "/legacy/whole", body=b"abc"))
            await exchange(server.port, request("GET", "/legacy/stream"))
            async with asyncio.timeout(5):
                while len(got) < 2:
                    await asyncio.sleep(0.01)
        assert sorted(got) == [
            ("/legacy/stream", {"type": "http.disconnect"}),
            ("/legacy/whole", {"type": "http.disconnect"}),
        ]

    run(main)


def test_mounted_app_still_running_after_its_response_is_cancelled_at_shutdown():
    cancelled: list[bool] = []

    async def legacy(scope, receive, send):
        await respond(send, b"done")
        try:
            await asyncio.sleep(60)  # background work outliving the response
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    app = App()
    app.mount("/legacy", legacy)

    async def main():
        async with serve(app) as server:
            response = await exchange(server.port, request("GET", "/legacy/x"))
            assert response.body == b"done"
        assert cancelled == [True]  # by the server's shutdown, not left to leak

    run(main)


def test_mounted_app_streaming_its_answer_to_head_completes():
    finished: list[str] = []

    async def legacy(scope, receive, send):
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"6")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for part in (b"ab", b"cd", b"ef"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        finished.append(scope["method"])

    app = App()
    app.mount("/legacy", legacy)

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("HEAD", "/legacy/x"))
            head = await read_response(reader, head_only=True)
            assert head.status == 200
            assert head.header("content-length") == "6"
            writer.write(request("GET", "/legacy/x"))
            assert (await read_response(reader)).body == b"abcdef"  # nothing stray before
            async with asyncio.timeout(5):
                while len(finished) < 2:
                    await asyncio.sleep(0.01)
        assert finished == ["HEAD", "GET"]

    run(main)
