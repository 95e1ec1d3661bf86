"""longwire hub broadcast server: ``await hub.publish("bench", payload(i))`` per message.

``hub = Hub(broker=--broker)`` (``memory://``, or ``redis://127.0.0.1:P`` for
the two-node cell, where the same script runs as each node and ``GO`` goes to
one of them), ``hub.channel("bench")`` (defaults: no history, no presence,
subscribe allowed), mounted with ``app.mount("/rt", hub)`` on ``longwire.App``
served by ``app.run`` (longwire's asyncio server; ``--uvloop``: on uvloop),
``access_log=False``, ``max_connections`` 20,000 (the default refuses above
10,000, the 10,000-subscriber cell needs a few more). Subscribers speak the
hub protocol on ``ws://…/rt/ws`` (subprotocol ``jsonrpc``): ``connect``,
``subscribe {"ch": "bench"}``, then a ``pub`` notification per publication.
``COUNT`` answers -1: the client counts its ``subscribe`` results.
"""

from __future__ import annotations

from typing import Any

from _common import announce, raise_nofile_limit
from broadcast_common import parse_args, payload, serve_control

import longwire
from longwire.hub import Hub

CHANNEL = "bench"


def build(args: Any) -> longwire.App:
    hub = Hub(broker=args.broker)
    hub.channel(CHANNEL)
    app = longwire.App()
    if hasattr(app, "mount"):
        app.mount("/rt", hub)
    else:  # pragma: no cover - before App.mount existed
        hub.longwire_mount(app, "/rt")

    async def publish(first: int, count: int) -> None:
        for index in range(first, first + count):
            await hub.publish(CHANNEL, payload(index))

    @app.on_startup
    async def control() -> None:
        await serve_control(args.host, args.control_port, publish, lambda: -1)

    return app


if __name__ == "__main__":
    arguments = parse_args(__doc__.splitlines()[0])
    raise_nofile_limit()
    build(arguments).run(
        host=arguments.host,
        port=arguments.port,
        access_log=False,
        uvloop=arguments.uvloop,
        max_connections=20_000,
        ready=lambda server: announce(arguments.port),
    )
