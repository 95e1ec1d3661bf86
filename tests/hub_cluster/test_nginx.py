"""Two hub nodes behind nginx, configured by deploy/nginx.conf (the file docs/deployment.md shows).

nginx runs in the foreground (``daemon off; master_process off``) with every
path in a temporary directory and ``deploy/nginx.conf`` included as it is,
only its ``listen`` address and upstream servers replaced. Plain round-robin,
no sticky sessions: WebSocket clients chat across the nodes, an SSE downstream
streams each publication as it is made, long polls alternate between nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cluster_support import (
    STARTUP_TIMEOUT,
    WAIT,
    Node,
    PollClient,
    RedisServer,
    WsClient,
    cluster,
    free_port,
    require_redis_server,
    run,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)
if NGINX is None:
    pytest.skip("nginx is not installed (apt-get install nginx)", allow_module_level=True)

MAIN_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/longwire.conf;
}}
"""


def site_conf(port: int, nodes: list[Node]) -> str:
    """deploy/nginx.conf with our listen address and upstream servers, nothing else changed."""
    text = DEPLOY_CONF.read_text()
    text, listens = re.subn(r"(?m)^(\s*)listen 80;", rf"\1listen 127.0.0.1:{port};", text)
    assert listens == 1, "deploy/nginx.conf must have one `listen 80;` line"
    servers = iter(nodes)
    text, upstreams = re.subn(
        r"(?m)^(\s*server )127\.0\.0\.1:800\d( .*;)$",
        lambda m: f"{m[1]}127.0.0.1:{next(servers).port}{m[2]}",
        text,
    )
    assert upstreams == len(nodes), "deploy/nginx.conf must list the two example nodes"
    return text


class Nginx:
    def __init__(self, tmp: Path, nodes: list[Node]) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/rt/ws"
        (tmp / "longwire.conf").write_text(site_conf(self.port, nodes))
        (tmp / "nginx.conf").write_text(MAIN_CONF.format(tmp=tmp))
        args = [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log")]
        check = subprocess.run(
            [*args, "-t"], capture_output=True, text=True, timeout=30, check=False
        )
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx not ready:\n{self.log()}")

    def log(self) -> str:
        path = self.tmp / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # with master_process off: a fast shutdown
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(scope="module")
def nodes() -> Iterator[list[Node]]:
    require_redis_server()
    with RedisServer() as redis, cluster(redis, "a", "b") as started:
        yield started


@pytest.fixture(scope="module")
def nginx(nodes: list[Node], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), nodes)
    try:
        yield proxy
    finally:
        proxy.stop()


def test_the_example_configuration_is_round_robin_without_stickiness() -> None:
    text = re.sub(r"#.*", "", DEPLOY_CONF.read_text())  # the directives, not the comments
    for directive in ("ip_hash", "hash ", "sticky", "least_conn"):
        assert directive not in text
    for needed in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_buffering off;",
        "proxy_read_timeout 1h;",
    ):
        assert needed in text


def test_the_deployment_doc_shows_the_configuration_that_runs() -> None:
    blocks = re.findall(r"```nginx\n(.*?)```", DEPLOYMENT_DOC.read_text(), re.DOTALL)
    assert DEPLOY_CONF.read_text() in blocks, "docs/deployment.md must quote deploy/nginx.conf"


def test_requests_alternate_between_the_nodes(nginx: Nginx) -> None:
    names = [httpx.get(nginx.url + "/healthz", timeout=WAIT).json()["node"] for _ in range(4)]
    assert sorted(names) == ["a", "a", "b", "b"]
    assert names[0] != names[1]


def test_websocket_chat_through_nginx(nginx: Nginx) -> None:
    """WebSocket clients through nginx land on both nodes and see each other's messages."""
    ch = "room:nginx-ws"

    async def scenario() -> None:
        clients = [await WsClient.open(nginx.ws_url, f"user{i}") for i in range(4)]
        try:
            assert {client.node for client in clients} == {"a", "b"}
            for client in clients:
                await client.call("subscribe", {"ch": ch})
            for i, client in enumerate(clients):
                await client.publish(ch, {"from": i})
            for client in clients:
                pubs = await client.wait_pubs(ch, 4)
                assert [(p["o"], p["d"]) for p in pubs] == [(i + 1, {"from": i}) for i in range(4)]
            presence = await clients[0].call("presence", {"ch": ch})
            assert {c["info"]["node"] for c in presence["clients"].values()} == {"a", "b"}
        finally:
            for client in clients:
                await client.close()

    run(scenario())


def test_sse_through_nginx_is_not_buffered(nginx: Nginx) -> None:
    """Each publication comes out of nginx on the SSE stream as soon as it is made."""
    ch = "room:nginx-sse"

    async def scenario() -> None:
        writer = await WsClient.open(nginx.ws_url, "writer")
        async with httpx.AsyncClient() as http:
            reader = PollClient(http, [nginx.url])
            await reader.connect("reader")
            await reader.subscribe(ch)
            try:
                async with http.stream(
                    "GET", nginx.url + "/rt/sse", params=reader.query(), timeout=WAIT
                ) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    lines = response.aiter_lines()

                    async def next_message() -> dict[str, Any]:
                        async for line in lines:
                            if line.startswith("data: "):
                                message: dict[str, Any] = httpx.Response(
                                    200, content=line[6:]
                                ).json()
                                return message
                        raise AssertionError("the SSE stream ended")

                    opening = await next_message()
                    assert opening["method"] == "open"
                    for i in range(1, 6):
                        sent = time.monotonic()
                        await writer.publish(ch, {"n": i})
                        # A buffering proxy would hold these few bytes until its
                        # buffer fills, the stream ends or the timeout passes.
                        async with asyncio.timeout(2.0):
                            message = await next_message()
                        assert message["method"] == "pub"
                        assert (message["params"]["o"], message["params"]["d"]) == (i, {"n": i})
                        assert time.monotonic() - sent < 2.0
                        await asyncio.sleep(0.1)
            finally:
                await writer.close()

    run(scenario())


def test_long_polling_through_nginx_alternates_nodes(nginx: Nginx) -> None:
    """A long-poll client through nginx: its requests go to both nodes; nothing lost or doubled."""
    ch = "room:nginx-poll"
    count = 12

    async def scenario() -> None:
        writer = await WsClient.open(nginx.ws_url, "writer")
        async with httpx.AsyncClient() as http:
            poller = PollClient(http, [nginx.url])
            await poller.connect("polly")
            await poller.subscribe(ch)

            async def publish() -> None:
                for i in range(1, count + 1):
                    await writer.publish(ch, {"n": i})
                    await asyncio.sleep(0.03)

            try:
                publishing = asyncio.create_task(publish())
                deadline = time.monotonic() + 3 * WAIT
                while time.monotonic() < deadline and not (
                    publishing.done() and len(poller.pubs(ch)) >= count
                ):
                    await poller.poll()
                await publishing
            finally:
                await writer.close()
            pubs = poller.pubs(ch)
            assert [(p["o"], p["d"]) for p in pubs] == [(i, {"n": i}) for i in range(1, count + 1)]
            polls = poller.nodes[2:]
            assert set(polls) == {"a", "b"}, poller.nodes

    run(scenario())
