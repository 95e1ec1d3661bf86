"""A real server on 127.0.0.1: traffic, then a scrape whose counters moved by exactly that."""

import asyncio
import os
import struct

import pytest
from metrics_support import (
    delta,
    get,
    handshake_request,
    open_raw,
    raw_handshake,
    read_response,
    read_to_eof,
    request,
    run,
    scrape,
    serve,
    value,
    wait_for,
)

import longwire
from longwire import App
from longwire.aio import ServerConfig, WebSocketOptions
from longwire.metrics import Metrics, retire

REQUESTS = "longwire_http_requests_total"
OPEN = "longwire_connections_open"
CONNECTIONS = "longwire_connections_total"
FAILURES = "longwire_websocket_handshake_failures_total"
MESSAGES = "longwire_websocket_messages_total"
WS_BYTES = "longwire_websocket_bytes_total"
CLOSES = "longwire_websocket_closes_total"
HEARTBEATS = "longwire_websocket_heartbeat_timeouts_total"


def make_app() -> App:
    app = App()

    @app.get("/")
    async def index(request):
        return "hello\n"

    @app.get("/metrics-like")
    async def not_metrics(request):
        return "app\n"

    @app.websocket("/echo", compression=False)
    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    @app.websocket("/private")
    async def private(ws):
        await ws.reject(403, "no")

    @app.websocket("/guarded", origins=("https://good.example",))
    async def guarded(ws):
        await ws.accept()

    @app.websocket("/broken")
    async def broken(ws):
        raise RuntimeError("boom (expected by the test)")

    return app


def test_counters_move_with_the_traffic():
    async def main() -> None:
        async with serve(make_app(), metrics_path="/metrics") as server:
            port = server.port
            before = await scrape(port)

            # HTTP: 3 × 200 and 2 × 404 on one keep-alive connection.
            async with open_raw(port) as (reader, writer):
                for target in ("/", "/missing", "/", "/nowhere", "/"):
                    writer.write(request("GET", target))
                    await read_response(reader)

            # WebSocket: 2 sessions of 3 echoed messages each, closed by the client.
            for _ in range(2):
                async with longwire.connect(f"ws://127.0.0.1:{port}/echo", compression=False) as ws:
                    for text in ("one", "two", "six"):
                        await ws.send(text)
                        assert await ws.recv() == text

            # Handshakes that fail, one per reason the client can cause.
            assert await raw_handshake(port, "/private") == 403  # rejected by the handler
            assert await raw_handshake(port, "/guarded") == 403  # no allowed Origin
            assert await raw_handshake(port, "/nowhere") == 404  # no such route
            assert await raw_handshake(port, "/echo", version="8") == 426
            assert await raw_handshake(port, "/echo", key="short") == 400
            assert await raw_handshake(port, "/broken") == 500

            await wait_for(lambda: server.connections == 0)
            after = await scrape(port)

        moved = delta(after, before)
        expected = {
            # The first scrape's own answer is counted after it was rendered.
            (REQUESTS, (("status", "200"),)): 3 + 1,
            (REQUESTS, (("status", "404"),)): 2 + 1,
            (REQUESTS, (("status", "101"),)): 2,
            (REQUESTS, (("status", "403"),)): 2,
            (REQUESTS, (("status", "426"),)): 1,
            (REQUESTS, (("status", "400"),)): 1,
            (REQUESTS, (("status", "500"),)): 1,
            # The keep-alive one, 2 sessions, 6 handshakes, this scrape (the first
            # scrape's connection was counted before it rendered).
            (CONNECTIONS, (("kind", "http"),)): 1 + 2 + 6 + 1,
            (CONNECTIONS, (("kind", "websocket"),)): 2,
            (FAILURES, (("reason", "rejected"),)): 1,
            (FAILURES, (("reason", "origin"),)): 1,
            (FAILURES, (("reason", "not_found"),)): 1,
            (FAILURES, (("reason", "version"),)): 1,
            (FAILURES, (("reason", "bad_request"),)): 1,
            (FAILURES, (("reason", "server_error"),)): 1,
            (MESSAGES, (("direction", "in"),)): 6,
            (MESSAGES, (("direction", "out"),)): 6,
            # Per session in: 3 masked 3-byte frames (2 + 4 + 3) and a Close with
            # code 1000 (2 + 4 + 2); out: 3 frames (2 + 3) and the Close (2 + 2).
            (WS_BYTES, (("direction", "in"),)): 2 * (3 * 9 + 8),
            (WS_BYTES, (("direction", "out"),)): 2 * (3 * 5 + 4),
            (CLOSES, (("code", "1000"),)): 2,
        }
        http_bytes = {
            key: moved.pop(key) for key in list(moved) if key[0] == "longwire_http_bytes_total"
        }
        assert moved == expected
        assert all(count > 0 for count in http_bytes.values())
        # Only this scrape's own connection is open.
        assert value(after, OPEN, kind="http") == 1
        assert value(after, OPEN, kind="websocket") == 0

    run(main)


def test_http_bytes_are_the_bytes_on_the_wire():
    async def main() -> None:
        async with serve(make_app()) as server:
            sent = received = b""
            async with open_raw(server.port) as (reader, writer):
                for target in ("/", "/missing", "/"):
                    data = request("GET", target, [("User-Agent", "metrics-test")])
                    writer.write(data)
                    sent += data
                    received += (await read_response(reader))[3]
            await wait_for(lambda: server.connections == 0)
            metrics = server.metrics
            assert (metrics.http_bytes_in, metrics.http_bytes_out) == (len(sent), len(received))
            assert metrics.http_open == 0
            assert metrics.http_connections == 1

    run(main)


def test_a_client_that_never_answers_pings_is_a_heartbeat_timeout():
    async def main() -> None:
        ws_options = WebSocketOptions(ping_interval=0.2, ping_timeout=0.3, compression=None)
        async with serve(make_app(), metrics_path="/metrics", websocket=ws_options) as server:
            async with open_raw(server.port) as (reader, writer):
                # The opening handshake by hand; then silence: Pings stay unanswered.
                writer.write(handshake_request("/echo"))
                status, _, _, _ = await read_response(reader, head_only=True)
                assert status == 101
                await wait_for(lambda: server.metrics.websockets_open == 1)
                rest = await read_to_eof(reader)  # the server gives up and closes
            assert b"keepalive ping timeout" in rest
            await wait_for(lambda: server.connections == 0)
            samples = await scrape(server.port)
        assert value(samples, HEARTBEATS) == 1
        assert value(samples, CLOSES, code="1011") == 1
        assert value(samples, OPEN, kind="websocket") == 0

    run(main)


def test_the_metrics_path_answers_get_and_head_only():
    async def main() -> None:
        async with serve(make_app(), metrics_path="/metrics-like") as server:
            port = server.port
            # The server answers the path itself, ahead of the app's own route.
            status, headers, body = await get(port, "/metrics-like")
            assert status == 200
            assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert b"# TYPE longwire_http_requests_total counter\n" in body
            assert int(headers["content-length"]) == len(body)

            status, headers, body = await get(port, "/metrics-like", method="HEAD")
            assert (status, body) == (200, b"")
            assert headers["content-type"].startswith("text/plain; version=0.0.4")
            assert int(headers["content-length"]) > 0

            for method in ("POST", "PUT", "DELETE"):
                status, headers, _ = await get(port, "/metrics-like", method=method)
                assert (status, headers["allow"]) == (405, "GET, HEAD")

            # With a query string, still the metrics; another path is the app's.
            status, _, body = await get(port, "/metrics-like?format=text")
            assert status == 200
            assert body.startswith(b"# HELP")
            assert (await get(port, "/metrics-like/"))[0] == 404
            assert (await get(port, "/metrics"))[0] == 404
            samples = await scrape(port, "/metrics-like")
        assert value(samples, REQUESTS, status="405") == 3
        assert value(samples, REQUESTS, status="200") == 3  # GET, HEAD, with a query

    run(main)


def test_an_upgrade_request_for_the_metrics_path_gets_the_metrics():
    async def main() -> None:
        async with (
            serve(make_app(), metrics_path="/metrics") as server,
            open_raw(server.port) as (reader, writer),
        ):
            writer.write(handshake_request("/metrics"))
            status, _, body, _ = await read_response(reader)
            assert status == 200
            assert body.startswith(b"# HELP longwire_")
            # The Upgrade was ignored (RFC 9110 §7.8): the connection stays HTTP.
            writer.write(request("GET", "/"))
            assert (await read_response(reader))[:3:2] == (200, b"hello\n")

    run(main)


def test_without_metrics_path_the_app_answers_and_counting_goes_on():
    async def main() -> None:
        async with serve(make_app()) as server:
            assert (await get(server.port, "/metrics"))[0] == 404
            assert (await get(server.port, "/"))[0] == 200
            await wait_for(lambda: server.connections == 0)
            responses = server.metrics.http_responses
            assert (responses[404], responses[200]) == (1, 1)

    run(main)


def test_handshake_failures_on_the_servers_side():
    """shutdown: the handler had not decided; client_gone: the connection dropped first."""

    async def main() -> None:
        app = App()

        @app.websocket("/doomed")
        async def doomed(ws):
            # While a handshake is pending the server does not read, so it learns
            # of a client gone only when a write fails: drop the connection here.
            ws._protocol._transport.abort()
            await asyncio.sleep(0.05)
            await ws.accept()

        deciding = asyncio.Event()

        @app.websocket("/undecided")
        async def undecided(ws):
            deciding.set()
            await asyncio.sleep(3600)

        async with serve(app, shutdown_timeout=5.0) as server:
            async with open_raw(server.port) as (reader, writer):
                writer.write(handshake_request("/doomed"))
                assert await read_to_eof(reader) == b""
            await wait_for(lambda: server.metrics.handshake_failures["client_gone"] == 1)

            async with open_raw(server.port) as (reader, writer):
                writer.write(handshake_request("/undecided"))
                await wait_for(deciding.is_set)
                await server.shutdown()
                status, _, _, _ = await read_response(reader)
            assert status == 503
        failures = server.metrics.handshake_failures
        assert failures["shutdown"] == 1
        assert failures["client_gone"] == 1
        assert sum(failures.values()) == 2

    run(main)


def test_connections_refused_over_the_limit():
    async def main() -> None:
        async with serve(make_app(), max_connections=1) as server:
            async with open_raw(server.port) as (reader, writer):
                writer.write(request("GET", "/"))
                await read_response(reader)
                async with open_raw(server.port) as (second, _):
                    assert (await read_response(second))[0] == 503
                    await read_to_eof(second)
            await wait_for(lambda: server.connections == 0)
            snapshot = server.metrics.snapshot()
        assert snapshot["longwire_connections_refused_total"] == {(): 1}
        assert snapshot[CONNECTIONS][("http",)] == 1
        assert snapshot[OPEN] == {("http",): 0, ("websocket",): 0}

    run(main)


def test_servers_sharing_a_directory_answer_with_the_sum(tmp_path):
    """Two servers in one process stand for two workers (a distinct, live pid each)."""

    async def main() -> None:
        directory = str(tmp_path)
        config = {"metrics_path": "/metrics", "metrics_dir": directory}
        first_metrics = Metrics(pid=os.getpid())
        second_metrics = Metrics(pid=os.getppid())
        app = make_app()
        async with serve(app, metrics=first_metrics, **config) as first:
            async with serve(app, metrics=second_metrics, **config) as second:
                for _ in range(2):
                    assert (await get(second.port, "/"))[0] == 200
                assert (await get(first.port, "/missing"))[0] == 404
                async with longwire.connect(f"ws://127.0.0.1:{second.port}/echo") as ws:
                    await ws.send("hi")
                    assert await ws.recv() == "hi"
                    # The second server's timer writes its snapshot (at most once a second).
                    path = tmp_path / f"{os.getppid()}.json"
                    await wait_for(lambda: b'"101"' in path.read_bytes())
                    samples = await scrape(first.port)
                    assert value(samples, REQUESTS, status="200") == 2
                    assert value(samples, REQUESTS, status="404") == 1
                    assert value(samples, OPEN, kind="websocket") == 1  # on the second
                    assert value(samples, OPEN, kind="http") == 1  # this scrape
                # Shutdown writes a last snapshot: no connection open any more.
            assert sorted(os.listdir(directory)) == sorted(
                [f"{os.getpid()}.json", f"{os.getppid()}.json"]
            )
            # The supervisor reaps the second worker and retires it.
            retire(directory, os.getppid())
            samples = await scrape(first.port)
        assert value(samples, REQUESTS, status="200") == 2 + 1  # the previous scrape
        assert value(samples, REQUESTS, status="101") == 1
        assert value(samples, MESSAGES, direction="in") == 1
        assert value(samples, CLOSES, code="1000") == 1
        assert value(samples, OPEN, kind="websocket") == 0

    run(main)


def test_an_unwritable_metrics_dir_fails_the_start(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    async def main() -> None:
        with pytest.raises(longwire.LongwireError, match="cannot write metrics"):
            async with serve(make_app(), metrics_dir=str(blocker / "sub")):
                pass

    run(main)


@pytest.mark.parametrize("path", ["metrics", "/metrics?x", "/a b", "/tab\t", "/frag#x"])
def test_metrics_path_must_be_a_path(path):
    with pytest.raises(ValueError, match="metrics_path"):
        ServerConfig(metrics_path=path)


def test_server_metrics_before_start_and_given():
    given = Metrics(pid=42)
    assert longwire.Server(App(), metrics=given).metrics is given
    fresh = longwire.Server(App()).metrics
    assert fresh.pid == os.getpid()
    assert fresh.snapshot()[REQUESTS] == {}


def test_client_websockets_do_not_count_as_the_servers():
    async def main() -> None:
        async with serve(make_app()) as server:
            async with longwire.connect(f"ws://127.0.0.1:{server.port}/echo") as ws:
                await ws.send(struct.pack("!I", 7))
                await ws.recv()
            await wait_for(lambda: server.connections == 0)
        assert server.metrics.websocket_messages_in == 1
        assert server.metrics.websocket_messages_out == 1

    run(main)
