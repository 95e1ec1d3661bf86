"""EventSource over real loopback sockets: longwire, aiohttp and sse-starlette servers."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trustme
from aiohttp import web

from leakcheck import run_without_leaks
from longwire import App, Response, StreamingResponse
from longwire.aio import EventSource, EventSourceError, EventSourceState, Server, ServerConfig
from longwire.sse import CONTENT_TYPE, encode_comment, encode_event

DEADLINE = 10.0


def run(coro: Any) -> Any:
    return run_without_leaks(coro, timeout=DEADLINE)


async def collect(source: EventSource, limit: int = 100) -> list[tuple[str, str, str]]:
    """(type, data, id) of every event until the iteration ends."""
    out = []
    async for event in source:
        out.append((event.type, event.data, event.id))
        if len(out) >= limit:
            break
    return out


def events_app(seen: list[dict[str, str | None]]) -> App:
    app = App()

    async def stream(chunks: list[bytes], hold: bool = False) -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
        while hold:
            await asyncio.sleep(0.05)
            yield encode_comment()

    def record(request: Any) -> None:
        seen.append({name: request.headers.get(name) for name in (
            "Last-Event-ID", "Accept", "Cache-Control", "X-Token",
        )})

    @app.get("/events")
    async def events(request: Any) -> Response:
        """Three events, then a clean end; the reconnection gets a 204."""
        record(request)
        if request.headers.get("Last-Event-ID") == "3":
            return Response(status=204)
        chunks = [encode_event("one", id="1", retry=50), encode_event("a\nb", event="two", id="2"),
                  encode_event("three", id="3"), b"data: unfinished\n"]
        return StreamingResponse(stream(chunks), content_type=CONTENT_TYPE)

    @app.get("/forever")
    async def forever(request: Any) -> Response:
        record(request)
        chunks = [encode_event("hello", id="é1")]
        return StreamingResponse(stream(chunks, hold=True), content_type="Text/Event-Stream; x=y")

    @app.get("/error")
    async def error(request: Any) -> Response:
        return Response("nope", status=500)

    @app.get("/plain")
    async def plain(request: Any) -> Response:
        return Response("data: x\n\n", content_type="text/plain")

    @app.get("/hop/{n:int}")
    async def hop(request: Any) -> Response:
        n = request.path_params["n"]
        target = "/events" if n == 0 else f"/hop/{n - 1}"
        return Response.redirect(target, status=(301, 302, 303, 307, 308)[n % 5])

    return app


@asynccontextmanager
async def longwire_server(
    seen: list[dict[str, str | None]], **options: Any
) -> AsyncIterator[Server]:
    config = ServerConfig(access_log=False, **options)
    async with Server(events_app(seen), port=0, config=config) as server:
        yield server


# Against a longwire server


def test_events_in_order_reconnect_with_last_event_id_then_204_stops():
    seen: list[dict[str, str | None]] = []

    async def main() -> None:
        async with longwire_server(seen) as server:
            url = f"http://127.0.0.1:{server.port}/events"
            async with EventSource(url, retry=5.0, headers={"X-Token": "t"}) as source:
                assert source.ready_state is EventSourceState.CONNECTING
                assert source.url == url
                started = time.monotonic()
                got = await collect(source)
                elapsed = time.monotonic() - started
                # The unfinished last block is dropped at the end of the stream.
                assert got == [
                    ("message", "one", "1"), ("two", "a\nb", "2"), ("message", "three", "3"),
                ]
                # The server's retry: 50 ms, not the 5 s given.
                assert source.retry == 0.05
                assert 0.05 <= elapsed < 2
                assert source.ready_state is EventSourceState.CLOSED
                assert source.last_event_id == "3"

    run(main())
    first, second = seen
    assert first == {"Last-Event-ID": None, "Accept": "text/event-stream",
                     "Cache-Control": "no-cache", "X-Token": "t"}
    assert second["Last-Event-ID"] == "3"
    assert second["X-Token"] == "t"


def test_initial_last_event_id_and_content_type_parameters():
    seen: list[dict[str, str | None]] = []

    async def main() -> None:
        async with longwire_server(seen) as server:
            url = f"http://127.0.0.1:{server.port}/forever"
            async with EventSource(url, last_event_id="41") as source:
                event = await anext(source)
                assert source.ready_state is EventSourceState.OPEN
                assert (event.data, event.id) == ("hello", "é1")

    run(main())
    assert seen[0]["Last-Event-ID"] == "41"


@pytest.mark.parametrize(
    ("path", "status", "content_type", "match"),
    [("/error", 500, "text/plain; charset=utf-8", "answered 500"),
     ("/plain", 200, "text/plain", "Content-Type 'text/plain'"),
     ("/missing", 404, "text/plain; charset=utf-8", "answered 404")],
)
def test_bad_status_or_type_fails_without_reconnecting(path, status, content_type, match):
    async def main() -> None:
        async with longwire_server([]) as server:
            url = f"http://127.0.0.1:{server.port}{path}"
            async with EventSource(url, retry=0.01) as source:
                with pytest.raises(EventSourceError, match=match) as info:
                    await anext(source)
                assert (info.value.status, info.value.content_type) == (status, content_type)
                assert source.ready_state is EventSourceState.CLOSED
                with pytest.raises(StopAsyncIteration):
                    await anext(source)

    run(main())


def test_redirects_of_every_kind_are_followed():
    seen: list[dict[str, str | None]] = []

    async def main() -> None:
        async with longwire_server(seen) as server:
            # /hop/5 .. /hop/1 answer 301, 308, 307, 303, 302, then /hop/0 another 301.
            url = f"http://127.0.0.1:{server.port}/hop/5"
            async with EventSource(url) as source:
                assert (await anext(source)).data == "one"
                assert source.url == url

    run(main())


def test_too_many_redirects_is_a_network_error():
    async def main() -> None:
        async with longwire_server([]) as server:
            url = f"http://127.0.0.1:{server.port}/hop/3"
            async with EventSource(url, retry=0.01, max_redirects=2) as source:
                reading = asyncio.ensure_future(anext(source))
                async with asyncio.timeout(5):  # generous: the machine may be busy
                    while source.last_error is None:
                        await asyncio.sleep(0.01)
                assert "more than 2 redirects" in str(source.last_error)
                assert source.ready_state is EventSourceState.CONNECTING  # retrying
                assert not reading.done()
                reading.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await reading

    run(main())


def test_https_with_a_trusted_certificate():
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def main() -> None:
        async with longwire_server([], ssl=server_context) as server:
            url = f"https://127.0.0.1:{server.port}/events"
            async with EventSource(url, ssl=client_context) as source:
                assert (await anext(source)).data == "one"
            # Without trusting the CA, the TLS failure is a network error: it retries.
            async with EventSource(url, retry=0.01) as source:
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.3):
                        await anext(source)
                assert isinstance(source.last_error, ssl.SSLCertVerificationError)

    run(main())


def test_https_default_context_is_built_once_for_all_connections(monkeypatch):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    built: list[ssl.SSLContext] = []
    create_default_context = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = create_default_context(*args, **kwargs)
        ca.configure_trust(context)  # the system's CAs, plus the test CA
        built.append(context)
        return context

    monkeypatch.setattr(ssl, "create_default_context", counting)
    seen: list[dict[str, str | None]] = []

    async def main() -> None:
        async with longwire_server(seen, ssl=server_context) as server:
            # Two connections (the second answered 204), each through 3 redirects.
            url = f"https://127.0.0.1:{server.port}/hop/2"
            async with EventSource(url) as source:
                assert [data for _, data, _ in await collect(source)] == ["one", "a\nb", "three"]
                assert source.ready_state is EventSourceState.CLOSED

    run(main())
    assert len(seen) == 2
    assert len(built) == 1


def test_close_from_another_task_ends_the_iteration():
    async def main() -> None:
        async with longwire_server([]) as server:
            source = EventSource(f"http://127.0.0.1:{server.port}/forever")
            got: list[str] = []

            async def consume() -> None:
                async for event in source:
                    got.append(event.data)

            task = asyncio.create_task(consume())
            while not got:
                await asyncio.sleep(0.01)
            await source.close()
            await asyncio.wait_for(task, 1)
            assert got == ["hello"]
            assert source.ready_state is EventSourceState.CLOSED

    run(main())


def test_close_while_waiting_to_reconnect_and_cancellation_leak_nothing():
    async def main() -> None:
        # Nothing listens on this port: every attempt fails, then waits 60 s.
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        source = EventSource(f"http://127.0.0.1:{port}/", retry=60)
        task = asyncio.create_task(anext(source))
        await asyncio.sleep(0.1)
        assert isinstance(source.last_error, ConnectionRefusedError)
        started = time.monotonic()
        await source.close()
        with pytest.raises(StopAsyncIteration):
            await task
        assert time.monotonic() - started < 1

        # Cancelling the iterating task while it reads closes nothing by itself,
        # leaving the block closes the connection.
        async with (
            longwire_server([]) as server,
            EventSource(f"http://127.0.0.1:{server.port}/forever") as source,
        ):
            await anext(source)
            reading = asyncio.create_task(anext(source))
            await asyncio.sleep(0.02)
            reading.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reading

    run(main())


def test_read_timeout_reconnects():
    seen: list[dict[str, str | None]] = []

    async def main() -> None:
        async with longwire_server(seen) as server:
            # The heartbeat comes every 50 ms: 10 ms without a byte counts as lost.
            url = f"http://127.0.0.1:{server.port}/forever"
            async with EventSource(url, retry=0.01, read_timeout=0.01) as source:
                assert (await anext(source)).id == "é1"
                assert (await anext(source)).id == "é1"  # after a reconnection
                assert isinstance(source.last_error, TimeoutError)

    run(main())
    assert seen[1]["Last-Event-ID"] == "é1".encode().decode("latin-1")


def test_a_line_over_the_limit_fails_the_connection():
    async def main() -> None:
        async with longwire_server([]) as server:
            url = f"http://127.0.0.1:{server.port}/events"
            async with EventSource(url, max_line_size=5) as source:
                with pytest.raises(EventSourceError, match="longer than 5"):
                    await anext(source)
                assert source.ready_state is EventSourceState.CLOSED

    run(main())


def test_invalid_arguments():
    with pytest.raises(ValueError, match="http"):
        EventSource("ws://example.com/")
    with pytest.raises(ValueError, match="retry"):
        EventSource("http://example.com/", retry=5, max_retry=1)


# Against aiohttp: the server drops the connection in the middle of the stream.


def test_aiohttp_drop_reconnects_with_last_event_id():
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Last-Event-ID"))
        if len(seen) == 3:
            return web.Response(status=204)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        n = len(seen)
        await response.write(encode_event(f"event {n}", id=str(n), retry=20))
        await response.write(b"data: half an event")
        assert request.transport is not None
        request.transport.abort()  # no clean end: a network error
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            async with EventSource(f"http://127.0.0.1:{port}/") as source:
                got = await collect(source)
            assert got == [("message", "event 1", "1"), ("message", "event 2", "2")]
            assert source.retry == 0.02
        finally:
            await runner.cleanup()

    run(main())
    assert seen == [None, "1", "2"]


# Against sse-starlette on uvicorn


def test_sse_starlette_on_uvicorn():
    import uvicorn
    from sse_starlette.sse import EventSourceResponse, ServerSentEvent
    from starlette.applications import Starlette
    from starlette.routing import Route

    seen: list[str | None] = []

    async def endpoint(request: Any) -> Any:
        seen.append(request.headers.get("last-event-id"))
        start = int(seen[-1] or 0)

        async def gen() -> AsyncIterator[ServerSentEvent]:
            for i in range(start + 1, start + 3):
                yield ServerSentEvent(data=f"line {i}\nsecond", event="tick", id=str(i), retry=20)

        return EventSourceResponse(gen())

    async def main() -> None:
        config = uvicorn.Config(
            Starlette(routes=[Route("/sse", endpoint)]),
            host="127.0.0.1", port=0, log_level="warning", lifespan="off",
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            async with EventSource(f"http://127.0.0.1:{port}/sse") as source:
                got = await collect(source, limit=4)
        finally:
            server.should_exit = True
            await serving
            # sse-starlette polls for shutdown in a task of its own, one per loop, that
            # outlives the server: stop it here so the leak check sees only ours.
            for task in asyncio.all_tasks():
                if task.get_coro().__qualname__ == "_shutdown_watcher":  # type: ignore[union-attr]
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        assert got == [("tick", f"line {i}\nsecond", str(i)) for i in range(1, 5)]
        assert source.retry == 0.02

    run(main())
    assert seen == [None, "2"]


# docs/sse-client.md


def test_docs_examples_run(capsys):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "sse-client.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert [block.splitlines()[0] for block in blocks] == ["# sse_client.py", "# decoder.py"]
    exec(compile(blocks[1], "decoder.py", "exec"), {})
    namespace: dict[str, Any] = {"__name__": "sse_client"}
    exec(compile(blocks[0], "sse_client.py", "exec"), namespace)

    async def main() -> None:
        async with longwire_server([]) as server:
            await namespace["main"](f"http://127.0.0.1:{server.port}/events")
            await namespace["main"](f"http://127.0.0.1:{server.port}/error")

    run(main())
    *events, failure = capsys.readouterr().out.splitlines()
    assert events == ["message one 1", "two a", "b 2", "message three 3"]
    assert failure.startswith("failed: http://127.0.0.1:")
    assert failure.endswith("answered 500 Internal Server Error, not 200: "
                            "the EventSource is closed 500 text/plain; charset=utf-8")
