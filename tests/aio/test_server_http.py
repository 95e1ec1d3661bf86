"""The server's HTTP/1.1 side over real sockets: keep-alive, pipelining, bodies, errors."""

import asyncio
import subprocess
import sys

from aio_testing import open_raw, read_response, read_to_eof, request, run, serve, wait_for

from longwire import App, HTTPError, Response, StreamingResponse
from longwire.http1 import Limits


def make_app() -> App:
    app = App()

    @app.get("/")
    async def index(req):
        return "hello"

    @app.get("/n/{i:int}")
    async def number(req):
        return f"n={req.path_params['i']}"

    @app.get("/client")
    async def client(req):
        return f"{req.client[1]}"

    @app.get("/slow/{i:int}")
    async def slow(req):
        await asyncio.sleep(0.01)
        return f"slow={req.path_params['i']}"

    @app.route("/items", methods=("GET", "PUT"))
    async def items(req):
        return "items"

    @app.get("/boom")
    async def boom(req):
        raise RuntimeError("handler bug")

    return app


def test_keep_alive_serves_several_requests_on_one_connection():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            ports = []
            for _ in range(3):
                writer.write(request("GET", "/client"))
                response = await read_response(reader)
                assert response.status == 200
                assert response.header("connection") is None
                ports.append(response.body)
            assert len(set(ports)) == 1  # one TCP connection, reused
            assert server.connections == 1

    run(main)


def test_pipelined_requests_are_answered_in_order():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            writer.write(b"".join(request("GET", f"/n/{i}") for i in range(10)))
            for i in range(10):
                response = await read_response(reader)
                assert response.status_line == b"HTTP/1.1 200 OK\r\n"
                assert response.body == f"n={i}".encode()

    run(main)


def test_content_length_upload_read_with_body():
    app = App()

    @app.post("/upload")
    async def upload(req):
        body = await req.body()
        return Response(body[::-1])

    async def main():
        payload = bytes(range(256)) * 1000  # bigger than the body buffer: flow control
        async with (
            serve(app, body_buffer_size=4096) as server,
            open_raw(server.port) as (
                reader,
                writer,
            ),
        ):
            writer.write(request("POST", "/upload", body=payload))
            response = await read_response(reader)
            assert response.status == 200
            assert response.body == payload[::-1]

    run(main)


def test_chunked_upload_is_streamed_to_the_handler():
    app = App()
    first_chunk = asyncio.Event()
    seen: list[bytes] = []

    @app.post("/upload")
    async def upload(req):
        async for chunk in req.stream():
            seen.append(chunk)
            first_chunk.set()
        return Response(b"|".join(seen))

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(
                request("POST", "/upload", [("Transfer-Encoding", "chunked")]) + b"5\r\nhello\r\n"
            )
            # The handler gets the first chunk while the body is still incomplete.
            async with asyncio.timeout(2):
                await first_chunk.wait()
            writer.write(b"6\r\n world\r\n0\r\n\r\n")
            response = await read_response(reader)
            assert response.status == 200
            assert response.body == b"hello| world"

    run(main)


def test_streaming_response_is_sent_chunked():
    app = App()

    @app.get("/stream")
    async def stream(req):
        async def parts():
            for i in range(3):
                await asyncio.sleep(0)
                yield f"part{i};"

        return StreamingResponse(parts(), content_type="text/plain")

    @app.get("/")
    async def index(req):
        return "hello"

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/stream"))
            response = await read_response(reader)
            assert response.status == 200
            assert response.header("transfer-encoding") == "chunked"
            assert response.header("content-length") is None
            assert response.chunks == [b"part0;", b"part1;", b"part2;"]
            # The connection is still usable after the chunked body.
            writer.write(request("GET", "/"))
            assert (await read_response(reader)).body == b"hello"

    run(main)


def test_head_gets_headers_without_body():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("HEAD", "/") + request("GET", "/n/7"))
            head = await read_response(reader, head_only=True)
            assert head.status == 200
            assert head.header("content-length") == "5"  # that of the GET body
            # No body bytes follow: the next bytes are the next response.
            following = await read_response(reader)
            assert following.body == b"n=7"

    run(main)


def test_expect_100_continue_is_sent_when_the_handler_reads_the_body():
    app = App()

    @app.post("/upload")
    async def upload(req):
        return Response(b"got " + await req.body())

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(
                request("POST", "/upload", [("Expect", "100-continue"), ("Content-Length", "4")])
            )
            async with asyncio.timeout(2):
                interim = await reader.readuntil(b"\r\n\r\n")
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"data")
            response = await read_response(reader)
            assert response.status == 200
            assert response.body == b"got data"

    run(main)


def test_no_100_continue_when_the_handler_answers_without_reading():
    app = App()

    @app.post("/upload")
    async def upload(req):
        raise HTTPError(401)

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(
                request("POST", "/upload", [("Expect", "100-continue"), ("Content-Length", "4")])
            )
            response = await read_response(reader)
            assert response.status_line == b"HTTP/1.1 401 Unauthorized\r\n"
            # The body never came and will not: the server must not take the next
            # bytes as that body, so it closes the connection.
            assert response.header("connection") == "close"
            async with asyncio.timeout(2):
                assert await read_to_eof(reader) == b""

    run(main)


def test_body_over_max_body_size_gets_413():
    app = App()

    @app.post("/upload")
    async def upload(req):
        return Response(await req.body())

    async def main():
        limits = Limits(max_body_size=1000)
        async with (
            serve(app, http_limits=limits) as server,
            open_raw(server.port) as (
                reader,
                writer,
            ),
        ):
            writer.write(request("POST", "/upload", body=b"x" * 1001))
            response = await read_response(reader)
            assert response.status == 413
            assert response.header("connection") == "close"
            async with asyncio.timeout(2):
                assert await read_to_eof(reader) == b""

    run(main)


def test_chunked_body_over_max_body_size_gets_413():
    app = App()

    @app.post("/upload")
    async def upload(req):
        return Response(await req.body())

    async def main():
        limits = Limits(max_body_size=1000)
        async with (
            serve(app, http_limits=limits) as server,
            open_raw(server.port) as (
                reader,
                writer,
            ),
        ):
            head = request("POST", "/upload", [("Transfer-Encoding", "chunked")])
            writer.write(head + b"258\r\n" + b"x" * 600 + b"\r\n")
            await asyncio.sleep(0.05)  # the handler is reading the body now
            writer.write(b"258\r\n" + b"x" * 600 + b"\r\n")
            async with asyncio.timeout(2):
                response = await read_response(reader)
                assert response.status == 413
                assert response.header("connection") == "close"
                assert await read_to_eof(reader) == b""

    run(main)


def test_malformed_request_line_gets_400_and_the_connection_closes():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            writer.write(b"NOT A REQUEST LINE AT ALL\r\nHost: x\r\n\r\n")
            async with asyncio.timeout(2):
                response = await read_response(reader)
                assert response.status_line == b"HTTP/1.1 400 Bad Request\r\n"
                assert response.header("connection") == "close"
                assert await read_to_eof(reader) == b""

    run(main)


def test_responses_carry_a_date_header():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/"))
            response = await read_response(reader)
            date = response.header("date")
            assert date is not None
            assert date.endswith(" GMT")
            assert len(response.header_all("date")) == 1

    run(main)


def test_unknown_path_gets_404_and_wrong_method_405_with_allow():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/nowhere") + request("DELETE", "/items"))
            missing = await read_response(reader)
            assert missing.status_line == b"HTTP/1.1 404 Not Found\r\n"
            wrong = await read_response(reader)
            assert wrong.status_line == b"HTTP/1.1 405 Method Not Allowed\r\n"
            assert wrong.header("allow") == "GET, HEAD, OPTIONS, PUT"

    run(main)


def test_handler_exception_gets_500_and_the_server_keeps_serving():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/boom"))
            failed = await read_response(reader)
            assert failed.status == 500
            assert b"handler bug" not in failed.body  # no internals leak to the client
            writer.write(request("GET", "/"))
            assert (await read_response(reader)).body == b"hello"

    run(main)


def test_handler_that_awaits_before_answering():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/slow/1"))
            response = await read_response(reader)
            assert response.status == 200
            assert response.body == b"slow=1"

    run(main)


def test_pipelined_slow_handlers_behind_fast_ones_keep_the_order():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            targets = ["/n/0", "/slow/1", "/n/2", "/slow/3", "/slow/4", "/n/5"]
            writer.write(b"".join(request("GET", target) for target in targets))
            bodies = [(await read_response(reader)).body for _ in targets]
            assert bodies == [b"n=0", b"slow=1", b"n=2", b"slow=3", b"slow=4", b"n=5"]

    run(main)


def test_connection_close_and_http_1_0_end_the_connection_after_the_response():
    async def main():
        async with serve(make_app()) as server:
            for head in (
                request("GET", "/", [("Connection", "close")]),
                b"GET / HTTP/1.0\r\nHost: test\r\n\r\n",
            ):
                async with open_raw(server.port) as (reader, writer):
                    writer.write(head)
                    response = await read_response(reader)
                    assert response.status_line == b"HTTP/1.1 200 OK\r\n"
                    assert response.header("connection") == "close"
                    assert response.body == b"hello"
                    assert await read_to_eof(reader) == b""

    run(main)


def test_half_closed_client_gets_every_answer():
    async def main():
        async with serve(make_app()) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/slow/1") + request("GET", "/n/2"))
            writer.write_eof()  # nothing more to send; the answers must still come
            assert (await read_response(reader)).body == b"slow=1"
            assert (await read_response(reader)).body == b"n=2"
            assert await read_to_eof(reader) == b""

    run(main)


def test_head_on_a_streaming_route_sends_no_body_and_keeps_the_connection():
    app = App()
    started: list[bool] = []

    @app.get("/stream")
    async def stream(req):
        async def parts():
            started.append(True)
            yield "never sent"

        return StreamingResponse(parts(), content_type="text/plain")

    @app.get("/")
    async def index(req):
        return "hello"

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("HEAD", "/stream") + request("GET", "/"))
            head = await read_response(reader, head_only=True)
            assert head.status == 200
            assert head.header("content-type") == "text/plain"
            following = await read_response(reader)  # no body bytes in between
            assert following.body == b"hello"
            assert started == []

    run(main)


def test_streaming_response_that_fails_midway_drops_the_connection():
    app = App()

    @app.get("/broken")
    async def broken(req):
        async def parts():
            yield "first"
            await asyncio.sleep(0)
            raise RuntimeError("generator bug")

        return StreamingResponse(parts())

    async def main():
        async with serve(app) as server, open_raw(server.port) as (reader, writer):
            writer.write(request("GET", "/broken"))
            head = await read_response(reader, head_only=True)
            assert head.header("transfer-encoding") == "chunked"
            # The chunk sent, then no last chunk: the client can tell the body is cut.
            assert await read_to_eof(reader) == b"5\r\nfirst\r\n"

    run(main)


def test_pipelined_requests_beyond_the_pipelining_limit_are_all_answered():
    async def main():
        limits = Limits(max_pipelined_requests=4)
        async with (
            serve(make_app(), http_limits=limits) as server,
            open_raw(server.port) as (reader, writer),
        ):
            targets = [f"/slow/{i}" if i % 7 == 0 else f"/n/{i}" for i in range(100)]
            writer.write(b"".join(request("GET", target) for target in targets))
            for i in range(100):
                response = await read_response(reader)
                assert response.status_line == b"HTTP/1.1 200 OK\r\n"
                assert response.body == (f"slow={i}" if i % 7 == 0 else f"n={i}").encode()

    run(main)


def test_access_log_has_the_real_status_and_size_of_a_streamed_response(caplog):
    app = App()

    @app.get("/made")
    async def made(req):
        async def parts():
            yield b"12345"
            yield b"678"

        return StreamingResponse(parts(), status=201)

    async def main():
        async with serve(app, access_log=True) as server, open_raw(server.port) as (reader, w):
            w.write(request("GET", "/made"))
            assert (await read_response(reader)).status == 201
            await wait_for(lambda: any("/made" in r.getMessage() for r in caplog.records))

    with caplog.at_level("INFO", logger="longwire.access"):
        run(main)
    [record] = [r for r in caplog.records if r.name == "longwire.access"]
    assert (record.status, record.size) == (201, 8)
    assert '"GET /made HTTP/1.1" 201 8 ' in record.getMessage()


def test_access_log_counts_no_body_bytes_for_head(caplog):
    app = App()

    @app.get("/page")
    async def page(req):
        return "twelve bytes"

    async def main():
        async with serve(app, access_log=True) as server, open_raw(server.port) as (reader, w):
            w.write(request("GET", "/page") + request("HEAD", "/page"))
            assert (await read_response(reader)).body == b"twelve bytes"
            head = await read_response(reader, head_only=True)
            assert head.header("content-length") == "12"
            await wait_for(lambda: sum("/page" in r.getMessage() for r in caplog.records) == 2)

    with caplog.at_level("INFO", logger="longwire.access"):
        run(main)
    sizes = [(r.method, r.size) for r in caplog.records if r.name == "longwire.access"]
    assert sizes == [("GET", 12), ("HEAD", 0)]


def test_a_native_server_does_not_load_the_asgi_layer():
    # The server tells an ASGIApp from a native App without importing longwire.asgi
    # (which imports longwire.aio): a native server answers without that layer.
    script = """
import asyncio, sys
import longwire.aio
from longwire import App
from longwire.aio import Server, ServerConfig

async def main():
    app = App()

    @app.get("/")
    async def index(request):
        return "hello"

    async with Server(app, port=0, config=ServerConfig(access_log=False)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
    assert data.endswith(b"hello"), data

asyncio.run(main())
assert "longwire.asgi" not in sys.modules, "longwire.asgi was imported"
"""
    result = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
