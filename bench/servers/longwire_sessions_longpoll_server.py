"""longwire long-poll benchmark server: ``longwire.realtime.Sessions``, polling transport only.

``Sessions(app, "/rt", push, transports=["polling"], max_queue=QUEUE)``, with
its defaults otherwise (``poll_timeout`` 25 s). The client speaks longwire's
own session protocol: ``POST /rt/open``, then ``GET /rt/{sid}/poll?ack=N``
(docs/realtime.md). The handler ``push`` sends the same 32-byte text as the
minimal-protocol peers with ``await session.send`` in a loop: with ``QUEUE``
(100) messages unacknowledged, ``send`` waits for the next acknowledgement
(the session's backpressure), as the peers' producers do. Settings:
``access_log=False``, the default asyncio loop (``uvloop`` per ``--uvloop``).
"""

from __future__ import annotations

from _common import announce, parse_args
from _longpoll_common import DATA, QUEUE

from longwire.app import App
from longwire.realtime import Session, Sessions


async def push(session: Session) -> None:
    while True:
        await session.send(DATA)


def build() -> App:
    app = App()
    Sessions(app, "/rt", push, transports=["polling"], max_queue=QUEUE)
    return app


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    build().run(
        host=args.host, port=args.port, access_log=False, uvloop=args.uvloop,
        ready=lambda server: announce(args.port),
    )
