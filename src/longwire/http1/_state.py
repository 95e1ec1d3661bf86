"""The HTTP/1.1 connection state machine, as data.

A connection carries two directions: requests (client to server) and responses
(server to client). Each direction has a ``State``, and each moves by looking up
``(state, type(event))`` in its table below. A pair missing from the table is an
illegal transition: ``LocalProtocolError`` when we try to send the event,
``RemoteProtocolError`` when the peer's bytes produce it.

The tables only say what is *legal*. What happens once a message ends - whether
the connection is reused, whether the protocol is switched - depends on the
headers of both messages of a cycle, so ``Connection`` applies those decisions
right after the table lookup, in one method (``Connection._settle``), using the
states described here:

``IDLE``
    Between messages: a new message head may come.
``SEND_BODY``
    A head has been sent; the body (``Data``, then ``EndOfMessage``) follows.
``DONE``
    This side has finished its last message on this connection (keep-alive is off)
    and waits for the other direction to finish the cycle.
``MUST_CLOSE``
    The last cycle is complete and the connection cannot be reused: close it.
``CLOSED``
    This side has closed (``ConnectionClosed``).
``MIGHT_SWITCH_PROTOCOL``
    The request side sent a complete request proposing a protocol switch
    (``Upgrade`` or ``CONNECT``) and waits for the answer: a 101 (or a 2xx to
    ``CONNECT``) switches, any other final response resumes HTTP.
``SWITCHED_PROTOCOL``
    The connection now speaks another protocol; HTTP/1.1 is over for both sides.
``ERROR``
    A protocol error happened on this side; nothing more can be done with it.
"""

from __future__ import annotations

import enum

from .._role import Role
from ._events import ConnectionClosed, Data, EndOfMessage, InformationalResponse, Request, Response

__all__ = ["RECEIVING", "REQUEST_SIDE", "RESPONSE_SIDE", "SENDING", "State", "Transitions"]


class State(enum.Enum):
    """Where one direction of an HTTP/1.1 connection is (see the module docstring)."""

    IDLE = "IDLE"
    SEND_BODY = "SEND_BODY"
    DONE = "DONE"
    MUST_CLOSE = "MUST_CLOSE"
    CLOSED = "CLOSED"
    MIGHT_SWITCH_PROTOCOL = "MIGHT_SWITCH_PROTOCOL"
    SWITCHED_PROTOCOL = "SWITCHED_PROTOCOL"
    ERROR = "ERROR"

    def __repr__(self) -> str:
        return f"State.{self.name}"

    # Members are singletons, so identity hashing is correct, and it is C-fast:
    # Enum's own __hash__ is Python code, run for every table lookup.
    __hash__ = object.__hash__


Transitions = dict[tuple[State, type], State]

IDLE = State.IDLE
SEND_BODY = State.SEND_BODY
DONE = State.DONE
MUST_CLOSE = State.MUST_CLOSE
CLOSED = State.CLOSED
MIGHT_SWITCH_PROTOCOL = State.MIGHT_SWITCH_PROTOCOL

# Closing is allowed at any point where no message is half-sent. (Closing in the
# middle of a close-delimited response body is how such a body ends, but the
# body's EndOfMessage comes first: the receiver emits it on end of file.)
_CLOSING: Transitions = {
    (IDLE, ConnectionClosed): CLOSED,
    (DONE, ConnectionClosed): CLOSED,
    (MUST_CLOSE, ConnectionClosed): CLOSED,
    (MIGHT_SWITCH_PROTOCOL, ConnectionClosed): CLOSED,
    (CLOSED, ConnectionClosed): CLOSED,
}

# The request direction: what a client sends and a server receives.
REQUEST_SIDE: Transitions = {
    (IDLE, Request): SEND_BODY,
    (SEND_BODY, Data): SEND_BODY,
    (SEND_BODY, EndOfMessage): DONE,
    **_CLOSING,
}

# The response direction: what a server sends and a client receives. Any number
# of 1xx interim responses may precede the final one (RFC 9110 §15.2).
RESPONSE_SIDE: Transitions = {
    (IDLE, InformationalResponse): IDLE,
    (IDLE, Response): SEND_BODY,
    (SEND_BODY, Data): SEND_BODY,
    (SEND_BODY, EndOfMessage): DONE,
    **_CLOSING,
}

# Which table governs what each role sends, and what it receives.
SENDING: dict[Role, Transitions] = {Role.CLIENT: REQUEST_SIDE, Role.SERVER: RESPONSE_SIDE}
RECEIVING: dict[Role, Transitions] = {Role.CLIENT: RESPONSE_SIDE, Role.SERVER: REQUEST_SIDE}
