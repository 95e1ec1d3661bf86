"""Each transport of ``Sessions`` with a Python client (aiohttp) over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from longwire import App
from longwire.aio import Server, ServerConfig
from longwire.realtime import CLOSE_QUEUE_OVERFLOW, TRANSPORTS, Session, Sessions

CONFIG = ServerConfig(access_log=False)


async def echo(session: Session) -> None:
    async for message in session:
        await session.send(message)


def run(
    test: Callable[[str, aiohttp.ClientSession, Sessions], Awaitable[None]],
    handler: Callable[[Session], Awaitable[Any]] = echo,
    **options: Any,
) -> None:
    async def main() -> None:
        app = App()
        sessions = Sessions(app, "/rt", handler, **options)
        async with Server(app, port=0, config=CONFIG) as server, aiohttp.ClientSession() as http:
            try:
                base = f"http://127.0.0.1:{server.port}/rt"
                await asyncio.wait_for(test(base, http, sessions), 10)
            finally:
                await sessions.close()

    asyncio.run(main())


async def open_session(base: str, http: aiohttp.ClientSession) -> str:
    async with http.post(f"{base}/open") as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        opened = await response.json()
    assert opened["t"] == "open"
    assert len(opened["sid"]) >= 32  # token_urlsafe(24): 192 bits
    return str(opened["sid"])


async def post(base: str, http: aiohttp.ClientSession, sid: str, frames: list[Any]) -> Any:
    async with http.post(f"{base}/{sid}/send", data=json.dumps(frames)) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def read_downstream(
    base: str, http: aiohttp.ClientSession, sid: str, transport: str, want: int, *, ack: int = 0
) -> list[Any]:
    """Frames (``msg``/``close``) from one downstream request until ``want`` of them came."""
    frames: list[Any] = []
    if transport == "polling":
        while len(frames) < want:
            async with http.get(f"{base}/{sid}/poll?ack={ack}") as response:
                assert response.status == 200
                batch = [f for f in await response.json() if f["t"] in ("msg", "close")]
            frames += batch
            if batch:
                ack = batch[-1]["s"]
        return frames
    path = "sse" if transport == "sse" else "stream"
    async with http.get(f"{base}/{sid}/{path}?ack={ack}") as response:
        assert response.status == 200
        kind = response.headers["Content-Type"]
        expected = "text/event-stream" if transport == "sse" else "application/x-ndjson"
        assert kind.startswith(expected)
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if transport == "sse":
                if not line.startswith("data: "):
                    continue
                line = line[len("data: "):]
            if not line:
                continue
            packet = json.loads(line)
            frames += [f for f in packet if f["t"] in ("msg", "close")]
            if len(frames) >= want:
                break
    return frames


@pytest.mark.parametrize("transport", ["sse", "streaming", "polling"])
def test_http_transport_echo_resend_and_dedup(transport: str) -> None:
    async def test(base: str, http: aiohttp.ClientSession, sessions: Sessions) -> None:
        sid = await open_session(base, http)
        batch = [
            {"t": "msg", "s": 1, "d": "one"},
            {"t": "msg", "s": 2, "d": "AAH/", "b": 1},
            {"t": "ping"},
        ]
        assert await post(base, http, sid, batch) == [{"t": "ack", "a": 2}, {"t": "pong"}]
        # The same batch again (its answer lost): nothing is delivered twice.
        assert (await post(base, http, sid, batch))[0] == {"t": "ack", "a": 2}
        assert await post(base, http, sid, [{"t": "msg", "s": 3, "d": "three"}]) == [
            {"t": "ack", "a": 3}
        ]
        frames = await read_downstream(base, http, sid, transport, 3)
        assert [(f["s"], f["d"], f.get("b")) for f in frames] == [
            (1, "one", None), (2, "AAH/", 1), (3, "three", None),
        ]
        # A reconnect that acknowledges only the first: the rest are sent again.
        again = await read_downstream(base, http, sid, transport, 2, ack=1)
        assert [f["s"] for f in again] == [2, 3]
        session = sessions.get(sid)
        assert session is not None
        assert session.pings == 2
        # Close: the server answers with its own close frame, after the messages.
        await post(base, http, sid, [{"t": "close", "s": 4, "code": 1000, "reason": "bye"}])
        closing = await read_downstream(base, http, sid, transport, 1, ack=3)
        assert closing == [{"t": "close", "s": 4, "code": 1000, "reason": "bye"}]
        assert (session.close_code, session.close_reason) == (1000, "bye")
        await post(base, http, sid, [{"t": "ack", "a": 4}])
        assert sessions.get(sid) is None  # acknowledged: forgotten
        async with http.get(f"{base}/{sid}/poll") as response:
            assert response.status == 404

    run(test, heartbeat=0.2, poll_timeout=0.5)


def test_websocket_transport_resumes_a_session() -> None:
    async def test(base: str, http: aiohttp.ClientSession, sessions: Sessions) -> None:
        url = base.replace("http", "ws", 1) + "/websocket"
        async with http.ws_connect(url) as ws:
            await ws.send_str(json.dumps([{"t": "hello", "sid": None, "ack": 0}]))
            opened = json.loads(await ws.receive_str())[0]
            assert opened["t"] == "open"
            sid = opened["sid"]
            await ws.send_str(json.dumps([{"t": "msg", "s": 1, "d": "a"}, {"t": "ping"}]))
            got: list[Any] = []
            while len(got) < 3:
                got += json.loads(await ws.receive_str())
            assert {"t": "ack", "a": 1} in got
            assert {"t": "pong"} in got
            assert {"t": "msg", "s": 1, "d": "a"} in got
        # A new connection resumes it: the unacknowledged message comes again,
        # and the open frame says which upstream frames the server has.
        async with http.ws_connect(url) as ws:
            await ws.send_str(json.dumps([{"t": "hello", "sid": sid, "ack": 0}]))
            packets = [json.loads(await ws.receive_str()) for _ in range(2)]
            assert packets[0][0]["ack"] == 1
            assert packets[1] == [{"t": "msg", "s": 1, "d": "a"}]
            # The resent upstream frame is dropped; the new one is echoed.
            await ws.send_str(json.dumps([{"t": "msg", "s": 1, "d": "a"},
                                          {"t": "msg", "s": 2, "d": "b"}]))
            got = []
            while {"t": "msg", "s": 2, "d": "b"} not in got:
                got += json.loads(await ws.receive_str())
            assert [f for f in got if f["t"] == "msg"] == [{"t": "msg", "s": 2, "d": "b"}]
        async with http.ws_connect(url) as ws:
            await ws.send_str(json.dumps([{"t": "hello", "sid": "nope", "ack": 0}]))
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert message.data == 4004

    run(test)


def test_client_script_and_refusals() -> None:
    async def test(base: str, http: aiohttp.ClientSession, sessions: Sessions) -> None:
        for name in ("longwire.js", "longwire.mjs"):
            async with http.get(f"{base}/{name}") as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
                assert "LongwireSocket" in await response.text()
        async with http.get(f"{base}/longwire.mjs") as response:
            assert "export default LongwireSocket" in await response.text()
        async with http.get(f"{base}/unknown/poll") as response:
            assert response.status == 404
        sid = await open_session(base, http)
        async with http.post(f"{base}/{sid}/send", data="not json") as response:
            assert response.status == 400
        async with http.get(f"{base}/{sid}/poll?ack=x") as response:
            assert response.status == 400
        async with http.get(f"{base}/{sid}/sse") as response:
            assert response.status == 404  # not among the transports served
        async with http.post(f"{base}/{sid}/close") as response:  # sendBeacon on pagehide
            assert response.status == 204
        assert sessions.get(sid) is None
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(base.replace("http", "ws", 1) + "/websocket")
        assert refused.value.status == 403

    run(test, transports=("polling",))


def test_session_timeout_and_queue_limit() -> None:
    ended: list[tuple[int | None, str]] = []

    async def silent(session: Session) -> None:
        async for _message in session:
            pass
        ended.append((session.close_code, session.close_reason))

    async def test(base: str, http: aiohttp.ClientSession, sessions: Sessions) -> None:
        sid = await open_session(base, http)
        await asyncio.sleep(0.5)  # no request for longer than session_timeout
        assert sessions.get(sid) is None
        assert ended == [(1006, "session timed out")]
        sid = await open_session(base, http)
        session = sessions.get(sid)
        assert session is not None
        for i in range(3):
            await session.send(str(i))
        # max_queue unacknowledged: the next send waits for an ack (backpressure)...
        blocked = asyncio.ensure_future(session.send("3"))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        frames = await read_downstream(base, http, sid, "polling", 3)
        assert [f["d"] for f in frames] == ["0", "1", "2"]
        async with http.get(f"{base}/{sid}/poll?ack=3") as response:  # ...until one comes
            assert [f["d"] for f in await response.json() if f["t"] == "msg"] == ["3"]
        await asyncio.wait_for(blocked, 1)
        # A client that sends more than the handler reads: 1013.
        await post(base, http, sid, [{"t": "msg", "s": n, "d": "x"} for n in range(1, 5)])
        assert session.close_code == CLOSE_QUEUE_OVERFLOW
        frames = await read_downstream(base, http, sid, "polling", 1, ack=4)
        assert frames[-1] == {"t": "close", "s": 5, "code": 1013, "reason": "queue limit exceeded"}
    run(test, silent, session_timeout=0.3, max_queue=3)


def test_options_are_checked() -> None:
    async def nothing(session: Session) -> None:
        return None

    with pytest.raises(ValueError, match="unknown transports"):
        Sessions(App(), "/rt", nothing, transports=("carrier-pigeon",))
    with pytest.raises(ValueError, match="heartbeat"):
        Sessions(App(), "/rt", nothing, heartbeat=0)
    with pytest.raises(ValueError, match="prefix"):
        Sessions(App(), "rt/", nothing)
    assert TRANSPORTS == ("websocket", "sse", "streaming", "polling")


def test_origins_are_checked_when_a_session_opens_over_http() -> None:
    async def test(base: str, http: aiohttp.ClientSession, sessions: Sessions) -> None:
        for origin in ["https://evil.example", None]:
            headers = {} if origin is None else {"Origin": origin}
            async with http.post(f"{base}/open", headers=headers) as refused:
                assert refused.status == 403
        assert len(sessions) == 0  # no session, no handler
        headers = {"Origin": "https://app.example"}
        async with http.post(f"{base}/open", headers=headers) as opened:
            assert opened.status == 200
        assert len(sessions) == 1

    run(test, origins=["https://app.example"])
