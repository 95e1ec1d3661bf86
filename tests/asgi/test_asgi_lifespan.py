"""The ASGI lifespan protocol around longwire's server: startup, shutdown, state, modes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from leakcheck import run_without_leaks
from longwire import LongwireError
from longwire.aio import Server, ServerConfig
from longwire.asgi import ASGIApp
from raw_http import exchange, open_raw, read_response, request

TIMEOUT = 10.0


def run(main: Any) -> None:
    run_without_leaks(main(), timeout=TIMEOUT)


def make_app(events: list[str], *, fail_startup: bool = False, fail_shutdown: bool = False):
    """A lifespan-aware app recording what happens; its requests see the state."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    if fail_startup:
                        await send({"type": "lifespan.startup.failed", "message": "no database"})
                        return
                    scope["state"]["db"] = {"connected": True}
                    scope["state"]["counter"] = 0
                    await send({"type": "lifespan.startup.complete"})
                else:
                    if fail_shutdown:
                        await send({"type": "lifespan.shutdown.failed", "message": "stuck"})
                    else:
                        await send({"type": "lifespan.shutdown.complete"})
                    return
        events.append(f"http {scope['path']}")
        state = scope["state"]
        state["counter"] += 1  # the copy is shallow: a new key per request does not leak
        body = repr((state["counter"], state["db"] is app.db)).encode()  # type: ignore[attr-defined]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    app.db = None  # type: ignore[attr-defined]
    return app


def test_startup_state_and_shutdown_in_order():
    events: list[str] = []
    app = make_app(events)

    async def main():
        asgi = ASGIApp(app)
        server = Server(asgi, port=0, config=ServerConfig(access_log=False))
        await server.start()
        assert events == ["lifespan.startup"]
        app.db = asgi.state["db"]
        try:
            async with open_raw(server.port) as (reader, writer):
                writer.write(request("GET", "/a") + request("GET", "/b"))
                first = await read_response(reader)
                second = await read_response(reader)
        finally:
            await server.shutdown()
        # Each request starts from the lifespan's state (a copy), sharing its objects.
        assert first.body == b"(1, True)"
        assert second.body == b"(1, True)"
        assert asgi.state["counter"] == 0
        assert events == ["lifespan.startup", "http /a", "http /b", "lifespan.shutdown"]

    run(main)


def test_startup_failure_stops_the_server_from_starting():
    events: list[str] = []

    async def main():
        server = Server(ASGIApp(make_app(events, fail_startup=True)), port=0)
        with pytest.raises(LongwireError, match="ASGI lifespan startup failed: no database"):
            await server.start()
        assert server.connections == 0

    run(main)


def test_shutdown_failure_is_logged(caplog):
    async def main():
        async with Server(
            ASGIApp(make_app([], fail_shutdown=True)), port=0, config=ServerConfig(access_log=False)
        ):
            pass

    with caplog.at_level(logging.ERROR, logger="longwire.asgi"):
        run(main)
    assert any("shutdown failed: stuck" in r.message for r in caplog.records)


async def http_only(scope, receive, send):
    if scope["type"] == "lifespan":
        raise ValueError("lifespan is not supported here")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str("state" in scope).encode()})


def test_an_app_without_lifespan_support_is_tolerated_in_auto_mode(caplog):
    async def main():
        async with Server(
            ASGIApp(http_only), port=0, config=ServerConfig(access_log=False)
        ) as server:
            response = await exchange(server.port, request())
            assert response.body == b"False"  # no lifespan, no state

    with caplog.at_level(logging.DEBUG, logger="longwire.asgi"):
        run(main)
    unsupported = [r for r in caplog.records if "appears unsupported" in r.message]
    assert unsupported
    assert unsupported[0].levelno == logging.DEBUG


def test_lifespan_on_requires_support_and_off_never_calls():
    calls: list[str] = []

    async def recording(scope, receive, send):
        calls.append(scope["type"])
        await http_only(scope, receive, send)

    async def main():
        with pytest.raises(LongwireError, match="does not support lifespan"):
            await Server(ASGIApp(http_only, lifespan="on"), port=0).start()
        async with Server(
            ASGIApp(recording, lifespan="off"), port=0, config=ServerConfig(access_log=False)
        ) as server:
            await exchange(server.port, request())
        assert calls == ["http"]

    run(main)
    with pytest.raises(ValueError, match="lifespan"):
        ASGIApp(http_only, lifespan="maybe")  # type: ignore[arg-type]
