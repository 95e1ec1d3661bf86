"""A hub cluster for the tests: node processes on one ``redis-server``, and protocol clients.

``Node`` runs ``node_app.py`` (a Hub on the Redis broker) as a real
``longwire serve`` process; ``WsClient`` and ``PollClient`` speak
docs/hub-protocol.md over real sockets (the ``websockets`` library and
``httpx``), with nothing from longwire. Every wait is bounded: a client that
does not see what it waits for fails the test with what it saw instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import websockets

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: redis_server

from redis_server import RedisServer, require_redis_server  # noqa: E402

__all__ = [
    "Node",
    "PollClient",
    "RedisServer",
    "RpcError",
    "WsClient",
    "cluster",
    "free_port",
    "require_redis_server",
    "run",
]

STARTUP_TIMEOUT = 30.0  # seconds: importing and binding on a loaded 2-core machine
UNHEALTHY_TIMEOUT = 5.0  # seconds a started node may answer /healthz with 503
WAIT = 10.0  # seconds a client waits for a message that should come
PRESENCE_TTL = 1.5  # the nodes' presence_ttl: a killed node's clients expire quickly
POLL_TIMEOUT = 1.0  # the nodes' poll_timeout: an idle long poll returns quickly
HEARTBEAT = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(coroutine: Any, timeout: float = 60.0) -> Any:
    """Run a test's scenario, bounded in time."""

    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coroutine

    return asyncio.run(bounded())


class Node:
    """One ``longwire serve node_app:app`` process on its own port."""

    def __init__(
        self,
        name: str,
        broker: str,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.broker = broker
        self.env = env or {}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/rt/ws"
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix=f"lw-node-{name}-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Node:
        env = {
            **os.environ,
            "LONGWIRE_BROKER": self.broker,
            "LONGWIRE_NODE": self.name,
            "LONGWIRE_PRESENCE_TTL": str(PRESENCE_TTL),
            "LONGWIRE_POLL_TIMEOUT": str(POLL_TIMEOUT),
            "LONGWIRE_HEARTBEAT": str(HEARTBEAT),
            "LONGWIRE_HUB_SECRET": "",  # the broker's secret, unless self.env gives one
            **self.env,
        }
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "longwire", "serve", "node_app:app",
                "--port", str(self.port),
                "--no-access-log", "--shutdown-timeout", "1",
            ],
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_TIMEOUT
        health = "no answer"
        unhealthy_since: float | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited at startup:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(self.url + "/healthz", timeout=1.0)
                if response.status_code == 200:
                    return self
                health = f"{response.status_code} {response.text}"
                unhealthy_since = unhealthy_since or time.monotonic()
                if time.monotonic() - unhealthy_since > UNHEALTHY_TIMEOUT:
                    break  # it answers, but cannot reach Redis: no use waiting longer
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"node {self.name} not ready (GET /healthz: {health}):\n" + self.log())

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: the node vanishes without closing anything (a crash, a lost machine)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; idempotent."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if not self._log.closed:
            self._log.close()

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


@contextlib.contextmanager
def cluster(
    redis: RedisServer, *names: str, env: dict[str, str] | None = None
) -> Iterator[list[Node]]:
    """Start one node per name on ``redis`` (``env``: extra environment variables for
    each); stop them all on the way out, whatever happens."""
    nodes: list[Node] = []
    try:
        for name in names:
            node = Node(name, redis.url, env=env)
            nodes.append(node)
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.close()


class RpcError(Exception):
    """A JSON-RPC error object answered by the hub."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def _result(answer: dict[str, Any]) -> Any:
    if "error" in answer:
        raise RpcError(answer["error"]["code"], answer["error"]["message"])
    return answer["result"]


class _Inbox:
    """Notifications received, in order, and a way to wait for some."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def add(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self._changed.set()

    def of(self, method: str, ch: str | None = None) -> list[dict[str, Any]]:
        """The params of the notifications ``method`` (on channel ``ch``), oldest first."""
        return [
            m["params"]
            for m in self.messages
            if m.get("method") == method and (ch is None or m["params"].get("ch") == ch)
        ]

    async def until(self, check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        """Wait until ``check()`` is true (its value); fail with the inbox after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while not (value := check()):
                    self._changed.clear()
                    await self._changed.wait()
                return value
        except TimeoutError:
            raise AssertionError(
                f"no {what} within {timeout} s; received: {self.messages!r}"[:3000]
            ) from None


class WsClient:
    """A hub client on ``/rt/ws`` (subprotocol ``jsonrpc``)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.inbox = _Inbox()
        self.hello: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(
        cls, url: str, user: str | None = None, *, session: str | None = None
    ) -> WsClient:
        """Connect to ``url`` (``ws://…/rt/ws``) and call ``connect``."""
        ws = await websockets.connect(
            url, subprotocols=["jsonrpc"], open_timeout=WAIT, close_timeout=2
        )
        assert ws.subprotocol == "jsonrpc"
        client = cls(ws)
        params: dict[str, Any] = {}
        if user is not None:
            params["token"] = user
        if session is not None:
            params["session"] = session
        client.hello = await client.call("connect", params)
        return client

    @property
    def id(self) -> str:
        return str(self.hello["client"])

    @property
    def session(self) -> str:
        return str(self.hello["session"])

    @property
    def node(self) -> str:
        """The node that authenticated it (``node_app`` puts its name in the info)."""
        return str(self.hello["info"]["node"])

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in self.ws:
                message = json.loads(text)
                if "method" in message:
                    self.inbox.add(message)
                else:
                    future = self._answers.pop(message.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(message)
        for future in self._answers.values():
            if not future.done():
                future.set_exception(ConnectionError("the WebSocket closed"))

    async def call(self, method: str, params: Any = None, *, timeout: float = WAIT) -> Any:
        """Call ``method``; its result, or ``RpcError``."""
        call_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._answers[call_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": call_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.ws.send(json.dumps(message))
        async with asyncio.timeout(timeout):
            return _result(await future)

    async def publish(self, ch: str, data: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("publish", {"ch": ch, "data": data})
        return result

    def pubs(self, ch: str) -> list[dict[str, Any]]:
        """The ``pub`` notifications received on ``ch``, in order."""
        return self.inbox.of("pub", ch)

    async def wait_pubs(self, ch: str, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
        """Wait until ``count`` publications of ``ch`` have arrived; all of them."""
        await self.inbox.until(
            lambda: len(self.pubs(ch)) >= count, f"{count} pubs on {ch}", timeout
        )
        return self.pubs(ch)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class PollClient:
    """A long-polling hub client: ``POST /rt/rpc`` up, ``GET /rt/poll`` down.

    Each request goes to the next of ``bases`` (a round-robin load balancer
    without sticky sessions), or always to the one base given (a real load
    balancer). It keeps every position itself, as the protocol says, and
    records every message received, duplicates included, so that a test can
    check what the servers sent, not what a forgiving client kept.
    """

    def __init__(self, http: httpx.AsyncClient, bases: list[str]) -> None:
        self.http = http
        self._bases = itertools.cycle(bases)
        self.session = ""
        self.client_id = ""
        self.positions: dict[str, tuple[str, int]] = {}
        self.received: list[dict[str, Any]] = []
        self.nodes: list[str] = []
        """The ``X-Longwire-Node`` of every response, in order."""
        self._rpc_ids = itertools.count(1)

    def _answered(self, response: httpx.Response) -> None:
        self.nodes.append(response.headers.get("x-longwire-node", "?"))

    async def rpc(self, method: str, params: Any = None) -> Any:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._rpc_ids), "method": method}
        if params is not None:
            message["params"] = params
        query = {"s": self.session} if self.session else {}
        response = await self.http.post(
            next(self._bases) + "/rt/rpc", params=query, json=message, timeout=WAIT
        )
        self._answered(response)
        response.raise_for_status()
        return _result(response.json())

    async def connect(self, user: str) -> dict[str, Any]:
        hello: dict[str, Any] = await self.rpc("connect", {"token": user})
        self.session = hello["session"]
        self.client_id = hello["client"]
        personal = hello["personal"]
        self.positions[personal["ch"]] = (personal["e"], personal["o"])
        return hello

    async def subscribe(self, ch: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.rpc("subscribe", {"ch": ch})
        self.positions[ch] = (result["e"], result["o"])
        return result

    def query(self) -> list[tuple[str, str]]:
        return [("s", self.session)] + [
            ("ch", f"{offset}.{epoch}.{ch}") for ch, (epoch, offset) in self.positions.items()
        ]

    async def poll(self, path: str = "/rt/poll") -> list[dict[str, Any]]:
        """One long poll; its messages (positions updated)."""
        response = await self.http.get(
            next(self._bases) + path, params=self.query(), timeout=WAIT + POLL_TIMEOUT
        )
        self._answered(response)
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()
        for message in messages:
            self.take(message)
        return messages

    def take(self, message: dict[str, Any]) -> None:
        self.received.append(message)
        params = message.get("params") or {}
        if message.get("method") in {"pub", "reset"}:
            epoch, offset = self.positions.get(params["ch"], ("", 0))
            if params["e"] != epoch or params["o"] > offset:
                self.positions[params["ch"]] = (params["e"], params["o"])

    def pubs(self, ch: str) -> list[dict[str, Any]]:
        return [
            m["params"]
            for m in self.received
            if m.get("method") == "pub" and m["params"]["ch"] == ch
        ]
