"""Sans-I/O WebSocket: RFC 6455 framing and handshake, RFC 7692 permessage-deflate.

No sockets, no asyncio, no clocks. The handshake classes turn HTTP/1.1 events
(:mod:`longwire.http1`) into a :class:`Connection`; the connection turns bytes
into events and calls into bytes::

    ws.receive_data(data)        # -> [Message, Ping, Pong, CloseReceived, ConnectionFailed]
    ws.send_message("hello")     # queue frames (pongs and close replies are queued for you)
    transport.write(ws.data_to_send())
"""

from ._close import CloseCode
from ._deflate import PerMessageDeflate, PerMessageDeflateRuntime
from ._events import CloseReceived, ConnectionFailed, Event, Message, Ping, Pong
from ._frames import Frame, Opcode
from ._handshake import GUID, ClientHandshake, ServerHandshake, accept_key
from ._masking import SPEEDUPS, apply_mask
from ._protocol import DEFAULT_MAX_MESSAGE_SIZE, Connection, PreparedMessage, State

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "GUID",
    "SPEEDUPS",
    "ClientHandshake",
    "CloseCode",
    "CloseReceived",
    "Connection",
    "ConnectionFailed",
    "Event",
    "Frame",
    "Message",
    "Opcode",
    "PerMessageDeflate",
    "PerMessageDeflateRuntime",
    "Ping",
    "Pong",
    "PreparedMessage",
    "ServerHandshake",
    "State",
    "accept_key",
    "apply_mask",
]
