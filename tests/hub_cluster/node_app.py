"""One node of a hub cluster: the app the cluster tests run as separate server processes.

::

    cd tests/hub_cluster
    LONGWIRE_BROKER=redis://127.0.0.1:6379 LONGWIRE_NODE=a \\
        python3 -m longwire serve node_app:app --port 8001

Environment:
    LONGWIRE_BROKER: the hub's broker URL (default ``memory://``: a single node).
    LONGWIRE_NODE: this node's name, sent in the ``X-Longwire-Node`` header of
        every HTTP response and by ``GET /healthz`` (so a test can see which node
        answered a request that went through a load balancer).
    LONGWIRE_PRESENCE_TTL, LONGWIRE_POLL_TIMEOUT, LONGWIRE_HEARTBEAT: the hub's
        ``presence_ttl``, ``poll_timeout`` and ``heartbeat``, in seconds (short in
        the tests, so that an expired presence or a held poll takes little time).
    LONGWIRE_HUB_SECRET: the hub's ``secret`` (the same on every node); unset or
        empty: the secret the broker keeps (``lw:secret`` in Redis).

Clients authenticate with a token that is their user name (``connect`` with
``{"token": "alice"}``); presence shows it, with the node's name in the info.
The method ``tell {"to": client id, "data": …}`` sends a direct message to
another client (through its personal channel, on whichever node it is).
"""

from __future__ import annotations

import os
from typing import Any

from longwire.app import App, Request, Response
from longwire.hub import Hub, Identity

NODE = os.environ.get("LONGWIRE_NODE", "node")


def authenticate(request: Any, token: str | None) -> Identity:
    return Identity(user=token or None, info={"node": NODE})


hub = Hub(
    broker=os.environ.get("LONGWIRE_BROKER", "memory://"),
    authenticate=authenticate,
    secret=os.environ.get("LONGWIRE_HUB_SECRET") or None,
    presence_ttl=float(os.environ.get("LONGWIRE_PRESENCE_TTL", "30")),
    poll_timeout=float(os.environ.get("LONGWIRE_POLL_TIMEOUT", "25")),
    heartbeat=float(os.environ.get("LONGWIRE_HEARTBEAT", "15")),
)
hub.channel("room:*", history_size=100, presence=True, publish=True)


@hub.method()
async def tell(client: Any, to: str, data: Any) -> bool:
    """Send ``data`` to client ``to`` (its personal channel), wherever it is connected."""
    await hub.send(to, {"from": client.user, "data": data})
    return True


app = App()
app.mount("/rt", hub)


@app.middleware
async def name_the_node(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    response.headers.set("X-Longwire-Node", NODE)
    return response


@app.get("/healthz")
async def healthz(request: Request) -> Response:
    """The load balancer's health check: 200 while the hub can reach its broker, else 503."""
    try:
        await hub.history("health:probe", limit=0)
    except Exception as exc:  # BrokerUnavailable, or the hub failing to start
        return Response.json({"node": NODE, "broker": False, "error": str(exc)}, status=503)
    return Response.json({"node": NODE, "broker": True})
