"""One logical session over several transports, and the browser client that uses them.

::

    from longwire.app import App
    from longwire.realtime import Sessions

    app = App()

    async def echo(session):
        async for message in session:
            await session.send(message)

    sessions = Sessions(app, "/rt", echo)

The browser loads ``/rt/longwire.js`` and opens ``new LongwireSocket("/rt")``:
WebSocket first, then Server-Sent Events with POSTs upstream, then HTTP
streaming, then long polling. Messages keep their order and arrive exactly once
across reconnects (sequence numbers and acknowledgements both ways). See
docs/realtime.md for the wire protocol, the limits and CORS.
"""

from ._protocol import CLOSE_QUEUE_OVERFLOW, CLOSE_SESSION_UNKNOWN
from ._session import Session
from ._transports import TRANSPORTS, SessionHandler, Sessions

__all__ = [
    "CLOSE_QUEUE_OVERFLOW",
    "CLOSE_SESSION_UNKNOWN",
    "TRANSPORTS",
    "Session",
    "SessionHandler",
    "Sessions",
]
