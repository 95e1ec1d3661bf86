"""Methods and error answers over real sockets: automatic HEAD and OPTIONS, 405, 501,
TRACE, trailing-slash redirects, negotiated error bodies, 500s with request ids,
and the Date and Server fields.

Clients: raw sockets (``OPTIONS *``, CONNECT and exact framing), curl and aiohttp.
(503 with Retry-After at ``max_connections`` is covered by tests/aio/test_server_limits.py.)
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time

import pytest
from http_testing import (
    IMF_FIXDATE,
    RawResponse,
    curl,
    exchange,
    fetch,
    get,
    open_raw,
    read_response,
    request,
    run,
    serve,
    url,
)

from longwire.app import App, HTTPError, Request, Response, StreamingResponse
from longwire.app._app import CallNext

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def allow(response: RawResponse) -> set[str]:
    value = response.header("allow")
    assert value is not None, response
    return {method.strip() for method in value.split(",")}


def methods_app(**options: bool) -> App:
    app = App(**options)

    @app.get("/items")
    async def items(request: Request) -> Response:
        return Response.text("items\n", headers=[("X-Handler", "items")])

    @app.route("/items", ("POST",))
    async def add(request: Request) -> Response:
        return Response.text("added\n", status=201)

    @app.route("/things/{name}", ("PUT", "DELETE"))
    async def thing(request: Request) -> None:
        return None

    @app.route("/purge", ("PURGE",))
    async def purge(request: Request) -> str:
        return "purged\n"

    @app.get("/stream")
    async def stream(request: Request) -> StreamingResponse:
        async def chunks():  # type: ignore[no-untyped-def]
            yield b"one,"
            yield b"two\n"

        return StreamingResponse(chunks(), content_type="text/plain")

    return app


# HEAD and OPTIONS


def test_head_is_answered_for_every_get_route() -> None:
    async def main() -> None:
        async with serve(methods_app()) as server, open_raw(server.port) as (reader, writer):
            for target in ("/items", "/stream"):
                writer.write(request("HEAD", target) + request("GET", target))
                head = await read_response(reader, head_only=True)
                full = await read_response(reader)  # parses only if HEAD sent no body
                assert (head.status, full.status) == (200, 200)
                assert head.header("content-type") == full.header("content-type")
                assert head.header("content-length") == full.header("content-length")
            # (A streamed body's Transfer-Encoding may be left out of the HEAD answer:
            # RFC 9112 §6.1 allows either.)
            assert full.body == b"one,two\n"
            # HEAD is not offered where GET is not.
            writer.write(request("HEAD", "/things/a"))
            response = await read_response(reader, head_only=True)
            assert response.status == 405
            assert "HEAD" not in allow(response)

    run(main)


def test_options_on_a_path_lists_its_methods() -> None:
    async def main() -> None:
        async with serve(methods_app()) as server:
            items = await exchange(server.port, request("OPTIONS", "/items"))
            assert items.status == 204
            assert allow(items) == {"GET", "HEAD", "POST", "OPTIONS"}
            assert items.body == b""
            assert "content-length" not in items.names()  # RFC 9110 §8.6: not on a 204
            thing = await exchange(server.port, request("OPTIONS", "/things/x"))
            assert (thing.status, allow(thing)) == (204, {"PUT", "DELETE", "OPTIONS"})
            reply = await curl("-X", "OPTIONS", url(server, "/items"))
            assert reply.status == 204
            assert reply.header("allow") == "GET, HEAD, OPTIONS, POST"
            missing = await exchange(server.port, request("OPTIONS", "/nowhere"))
            assert missing.status == 404

    run(main)


def test_options_asterisk_lists_every_method() -> None:
    async def main() -> None:
        for options, extra in (({}, set()), ({"trace": True}, {"TRACE"})):
            async with (
                serve(methods_app(**options)) as server,
                open_raw(server.port) as (
                    reader,
                    writer,
                ),
            ):
                writer.write(b"OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n")
                response = await read_response(reader)
                assert response.status == 204
                expected = {"GET", "HEAD", "POST", "PUT", "DELETE", "PURGE", "OPTIONS"} | extra
                assert allow(response) == expected
                assert "content-length" not in response.names()
                # The connection carries on.
                writer.write(request("GET", "/items"))
                assert (await read_response(reader)).body == b"items\n"
        # An app without GET routes offers no HEAD.
        app = App()
        app.route("/in", ("POST",))(lambda request: "ok")
        async with serve(app) as server:
            response = await exchange(server.port, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
            assert allow(response) == {"POST", "OPTIONS"}

    run(main)


# 405, 501, TRACE


def test_a_known_path_with_another_method_is_405_with_allow() -> None:
    async def main() -> None:
        async with serve(methods_app()) as server:
            for method, target, expected in [
                ("DELETE", "/items", {"GET", "HEAD", "POST", "OPTIONS"}),
                ("PATCH", "/items", {"GET", "HEAD", "POST", "OPTIONS"}),
                ("GET", "/things/x", {"PUT", "DELETE", "OPTIONS"}),
                # A method some route knows, on a path without it.
                ("PURGE", "/items", {"GET", "HEAD", "POST", "OPTIONS"}),
            ]:
                response = await exchange(server.port, request(method, target))
                assert response.status == 405, (method, target)
                assert allow(response) == expected
                assert response.body == b"Method Not Allowed\n"
            assert (await exchange(server.port, request("PURGE", "/purge"))).body == b"purged\n"
            assert (await exchange(server.port, request("PURGE", "/nowhere"))).status == 404

    run(main)


def test_unknown_methods_and_connect_are_501() -> None:
    async def main() -> None:
        async with serve(methods_app()) as server:
            for data in (
                request("FOO", "/items"),
                request("FOO", "/nowhere"),
                request("BREW", "/"),
                b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                request("CONNECT", "/items"),
            ):
                response = await exchange(server.port, data)
                assert response.status == 501, data
                method = data.split(b" ", 1)[0].decode()
                assert response.body == f"method {method} is not implemented\n".encode()
            reply = await curl("-X", "FOO", url(server, "/items"))
            assert reply.status == 501

    run(main)


def test_trace_is_405_unless_enabled() -> None:
    async def main() -> None:
        async with serve(methods_app()) as server:
            response = await exchange(server.port, request("TRACE", "/items"))
            assert response.status == 405
            assert "TRACE" not in allow(response)
            options = await exchange(server.port, request("OPTIONS", "/items"))
            assert "TRACE" not in allow(options)

    run(main)


def test_trace_echoes_the_request_without_credentials() -> None:
    async def main() -> None:
        async with serve(methods_app(trace=True)) as server:
            fields = [
                ("X-Custom", "value 1"),
                ("Authorization", "Bearer secret-token"),
                ("Cookie", "session=secret-cookie"),
                ("Proxy-Authorization", "Basic secret-proxy"),
                ("Accept", "*/*"),
            ]
            response = await exchange(server.port, request("TRACE", "/items?q=1", fields))
            assert response.status == 200
            assert response.header("content-type") == "message/http"
            lines = response.body.decode().split("\r\n")
            assert lines[0] == "TRACE /items?q=1 HTTP/1.1"
            assert lines[1:] == ["Host: test", "X-Custom: value 1", "Accept: */*", "", ""]
            assert b"secret" not in response.body
            options = await exchange(server.port, request("OPTIONS", "/items"))
            assert "TRACE" in allow(options)

    run(main)


# Trailing slashes


def test_redirect_slashes() -> None:
    async def main() -> None:
        app = App(redirect_slashes=True)
        app.get("/items")(lambda request: "items\n")
        app.get("/docs/guide/")(lambda request: "guide\n")
        app.route("/form", ("POST",))(lambda request: "posted\n")
        app.get("/users/{name}")(lambda request: "user\n")
        app.get("//evil.example")(lambda request: "odd\n")
        app.get("/{name}")(lambda request: "name\n")
        async with serve(app) as server:
            for target, location in [
                ("/items/", "/items"),
                ("/items/?a=1&b=%20", "/items?a=1&b=%20"),
                ("/docs/guide", "/docs/guide/"),
                ("/docs/guide?x", "/docs/guide/?x"),
                ("/users/bob/", "/users/bob"),
            ]:
                response = await get(server.port, target)
                assert response.status == 308, target
                assert response.header_all("location") == [location]
            # 308 keeps the method (and body): the client repeats the POST.
            posted = await exchange(server.port, request("POST", "/form/", body=b"x"))
            assert (posted.status, posted.header("location")) == (308, "/form")
            # Both forms exist: no redirect; neither exists: 404.
            assert (await get(server.port, "/items")).body == b"items\n"
            assert (await get(server.port, "/nothing/here/")).status == 404
            # Never to another site: "//evil.example" is a scheme-relative URL.
            evil = await get(server.port, "//evil.example/")
            assert evil.status == 404
            assert evil.header("location") is None
            # Other spellings stay paths on this site.
            for target, location in [
                ("/%2Fevil.example/", "/%2Fevil.example"),
                ("/\\evil.example/", "/%5Cevil.example"),  # browsers read "/\\" as "//"
            ]:
                response = await get(server.port, target)
                assert response.status == 308, target
                assert response.header_all("location") == [location]
        # Off by default.
        plain = App()
        plain.get("/items")(lambda request: "items\n")
        async with serve(plain) as server:
            assert (await get(server.port, "/items/")).status == 404

    run(main)


# Error bodies


def errors_app() -> App:
    app = App()

    @app.get("/conflict")
    async def conflict(request: Request) -> None:
        raise HTTPError(409, "version <b>3</b> & newer exists", [("X-Hint", "reload")])

    @app.get("/missing")
    async def missing(request: Request) -> None:
        raise HTTPError(404)

    return app


def test_error_bodies_are_negotiated() -> None:
    async def main() -> None:
        detail = "version <b>3</b> & newer exists"
        async with serve(errors_app()) as server:
            port = server.port
            for accept, media_type in [
                ("application/json", "application/json"),
                ("application/problem+json", "application/problem+json"),
                ("application/json, application/problem+json", "application/problem+json"),
            ]:
                response = await get(port, "/conflict", ("Accept", accept))
                assert response.status == 409
                assert response.header("content-type") == media_type, accept
                assert json.loads(response.body) == {
                    "type": "about:blank",
                    "title": "Conflict",
                    "status": 409,
                    "detail": detail,
                }
                assert response.header("vary") == "Accept"
                assert response.header("x-hint") == "reload"
            # The reason phrase alone: no detail member.
            problem = await get(port, "/missing", ("Accept", "application/problem+json"))
            assert json.loads(problem.body) == {
                "type": "about:blank",
                "title": "Not Found",
                "status": 404,
            }

            page = await get(port, "/conflict", ("Accept", BROWSER_ACCEPT))
            assert page.header("content-type") == "text/html; charset=utf-8"
            text = page.body.decode()
            assert "<title>409 Conflict</title>" in text
            assert "version &lt;b&gt;3&lt;/b&gt; &amp; newer exists" in text
            assert "<b>3</b>" not in text
            assert page.header("vary") == "Accept"

            for accept in ("*/*", "text/plain", "image/png"):  # the last: nothing fits
                plain = await get(port, "/conflict", ("Accept", accept))
                assert plain.header("content-type") == "text/plain; charset=utf-8"
                assert plain.body == (detail + "\n").encode()
                assert plain.header("vary") == "Accept"
            bare = await get(port, "/conflict")
            assert bare.header("content-type") == "text/plain; charset=utf-8"
            assert bare.body == (detail + "\n").encode()
            assert bare.header("vary") is None  # nothing was negotiated

            # The router's own errors are negotiated too.
            routed = await get(port, "/nowhere", ("Accept", "application/json"))
            assert routed.status == 404
            assert json.loads(routed.body)["title"] == "Not Found"
            method = await exchange(
                port, request("DELETE", "/conflict", [("Accept", "application/problem+json")])
            )
            assert method.status == 405
            assert json.loads(method.body)["status"] == 405
            assert method.header("allow") == "GET, HEAD, OPTIONS"
            # curl says */*: text.
            reply = await curl(url(server, "/conflict"))
            assert reply.body == (detail + "\n").encode()

    run(main)


def test_an_unhandled_exception_is_500_with_a_request_id(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.get("/boom")
    async def boom(request: Request) -> None:
        raise RuntimeError("secret-internal-detail")

    @app.get("/sync-boom")
    def sync_boom(request: Request) -> None:
        raise KeyError("secret-key-detail")

    wrapped = App()

    @wrapped.middleware
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    wrapped.get("/boom")(boom)

    async def main() -> None:
        async with serve(app) as server, serve(wrapped) as wrapped_server:
            for port, target, accept in [
                (server.port, "/boom", None),
                (server.port, "/sync-boom", None),
                (server.port, "/boom", "application/json"),
                (server.port, "/boom", BROWSER_ACCEPT),
                (wrapped_server.port, "/boom", None),
            ]:
                caplog.clear()
                fields = [] if accept is None else [("Accept", accept)]
                response = await get(port, target, *fields)
                assert response.status == 500
                request_id = response.header("x-request-id")
                assert request_id is not None
                assert re.fullmatch(r"[0-9a-f]{12}", request_id)
                body = response.body.decode()
                assert request_id in body
                assert "secret" not in body
                assert "Traceback" not in body
                assert "Error" in body  # "Internal Server Error"
                if accept == "application/json":
                    assert json.loads(body)["detail"] == (
                        f"Internal Server Error (request id {request_id})"
                    )
                [record] = [r for r in caplog.records if r.name == "longwire.app"]
                assert record.levelno == logging.ERROR
                assert record.request_id == request_id  # type: ignore[attr-defined]
                assert request_id in record.getMessage()
                assert f"GET {target}" in record.getMessage()
                assert record.exc_info is not None  # the traceback is in the log
                assert "secret" in str(record.exc_info[1])
            # Each error has its own id.
            first = await get(server.port, "/boom")
            second = await get(server.port, "/boom")
            assert first.header("x-request-id") != second.header("x-request-id")

    with caplog.at_level(logging.ERROR, logger="longwire.app"):
        run(main)


# Date and Server


def test_date_and_server_fields() -> None:
    app = methods_app()

    @app.get("/own")
    async def own(request: Request) -> Response:
        return Response.text(
            "own\n",
            headers=[("Server", "my-server/2"), ("Date", "Sat, 01 Jan 2000 00:00:00 GMT")],
        )

    async def main() -> None:
        async with serve(app) as server:
            for data in (
                request("GET", "/items"),
                request("GET", "/nowhere"),
                request("OPTIONS", "/items"),
                b"BAD REQUEST LINE\r\n\r\n",  # answered by the server itself
            ):
                response = await exchange(server.port, data)
                date = response.header("date")
                assert date is not None, data
                assert IMF_FIXDATE.fullmatch(date), (data, date)
                sent = email.utils.parsedate_to_datetime(date).timestamp()
                assert abs(sent - time.time()) < 5
                assert response.header_all("server") == ["longwire"], data
            own = await get(server.port, "/own")
            assert own.header_all("server") == ["my-server/2"]
            assert own.header_all("date") == ["Sat, 01 Jan 2000 00:00:00 GMT"]
            reply = await fetch("GET", url(server, "/items"))
            assert reply.header("server") == "longwire"
        async with serve(app, server_header=None) as server:
            response = await get(server.port, "/items")
            assert "server" not in response.names()
            assert response.header("date") is not None
            assert (await get(server.port, "/own")).header_all("server") == ["my-server/2"]
        async with serve(app, server_header="edge", header_timeout=0.2) as server:
            assert (await get(server.port, "/items")).header_all("server") == ["edge"]
            # The server's own answers carry them too: 400, and 408 for a slow head.
            bad = await exchange(server.port, b"GET /items HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
            assert bad.status == 400
            assert bad.header_all("server") == ["edge"]
            assert IMF_FIXDATE.fullmatch(bad.header("date") or "")
            slow = await exchange(server.port, b"GET /items HTTP/1.1\r\n")
            assert (slow.status, slow.body) == (408, b"Request Timeout\n")
            assert slow.header_all("server") == ["edge"]
            assert IMF_FIXDATE.fullmatch(slow.header("date") or "")

    run(main)


def test_204_and_304_have_no_content_length() -> None:
    app = methods_app()

    @app.get("/tagged")
    async def tagged(request: Request) -> Response:
        return Response.text("tagged\n", headers=[("ETag", '"t"')])

    @app.get("/explicit")
    async def explicit(request: Request) -> Response:
        return Response(b"", 204, [("Content-Length", "0")])

    async def main() -> None:
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(
                request("DELETE", "/things/a")  # the handler returns None: 204
                + request("GET", "/explicit")
                + request("GET", "/tagged", [("If-None-Match", '"t"')])
                + request("OPTIONS", "/items")
                + request("GET", "/items")
            )
            for status in (204, 204, 304, 204):
                response = await read_response(reader)
                assert response.status == status
                assert "content-length" not in response.names(), response.head
                assert "transfer-encoding" not in response.names()
            # Framing intact: the last response parses right after them.
            assert (await read_response(reader)).body == b"items\n"

    run(main)
