"""Sans-I/O HTTP/1.1 (RFC 9112): a ``Connection`` turns bytes into events and events into bytes.

A minimal keep-alive server loop (the I/O is yours; ``sock`` is a connected socket)::

    from longwire import Role
    from longwire.http1 import Connection, Data, EndOfMessage, Response, State

    conn = Connection(Role.SERVER)
    while conn.our_state is not State.MUST_CLOSE and (data := sock.recv(65536)):
        for event in conn.receive_data(data):
            if isinstance(event, EndOfMessage):  # a whole request came: answer it
                head = Response(status_code=200, headers=[("Content-Length", "6")])
                out = conn.send(head) + conn.send(Data(data=b"hello\\n"))
                sock.sendall(out + conn.send(EndOfMessage()))
    sock.close()

Errors the peer causes raise ``RemoteProtocolError`` with ``status_hint`` (the
status to answer with before closing); misuse of ``send`` raises
``LocalProtocolError``. ``Limits`` bounds everything a peer can make us buffer.
"""

from .._role import Role
from ._connection import Connection
from ._events import (
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
)
from ._headers import Headers
from ._limits import Limits
from ._state import State

__all__ = [
    "Connection",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Headers",
    "InformationalResponse",
    "Limits",
    "Request",
    "Response",
    "Role",
    "State",
]
