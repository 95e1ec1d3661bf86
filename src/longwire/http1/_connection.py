"""``Connection``: one HTTP/1.1 connection, either side, without I/O.

Bytes go in through ``receive_data`` / ``receive_eof`` and come out as events;
events go in through ``send`` and come out as bytes. Everything the peer or the
application can get wrong raises ``RemoteProtocolError`` or ``LocalProtocolError``
(both carry ``status_hint``) and moves that side to ``State.ERROR``.

This module keeps the state: each direction's ``State``, the cycles in flight, and
the decisions that span both messages of a cycle (keep-alive, protocol switches).
The work is done elsewhere: ``_receivebuffer`` cuts heads out of received bytes,
``_readers`` says what they mean and frames bodies, ``_writers`` checks and
serializes what we send, ``_message`` holds the rules both directions share, and
``_state`` the transition tables.

A cycle is one request and its response. Requests may be pipelined: the server
parses ahead (up to ``Limits.max_pipelined_requests`` unanswered) and answers in
order; the client may send ahead and matches responses to its requests in order.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from .._errors import LocalProtocolError, RemoteProtocolError
from .._role import Role
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
from ._message import NO_BODY, UNTIL_CLOSE, Cycle
from ._readers import Reader, end_of_message
from ._receivebuffer import ReceiveBuffer
from ._state import RECEIVING, SENDING, State
from ._writers import Writer

__all__ = ["Connection"]

IDLE: Final = State.IDLE
SEND_BODY: Final = State.SEND_BODY
DONE: Final = State.DONE
MUST_CLOSE: Final = State.MUST_CLOSE
CLOSED: Final = State.CLOSED
MIGHT_SWITCH_PROTOCOL: Final = State.MIGHT_SWITCH_PROTOCOL
SWITCHED_PROTOCOL: Final = State.SWITCHED_PROTOCOL
ERROR: Final = State.ERROR


class Connection:
    """A sans-I/O HTTP/1.1 connection: feed it bytes, get events; give it events, get bytes.

    Args:
        role: ``Role.SERVER`` to receive requests and send responses,
            ``Role.CLIENT`` for the opposite.
        limits: bounds on what the peer may send (see ``Limits``); defaults apply
            when ``None``.

    Attributes:
        role: the ``role`` given.
        limits: the ``Limits`` in force.
        max_body_size: the body limit in force, initialised from ``limits``; the
            application may change it between events, and it applies to the body
            being read (``None`` for no limit).
    """

    def __init__(self, role: Role, *, limits: Limits | None = None) -> None:
        if limits is None:
            limits = Limits()
        self.role = role
        self.max_body_size: int | None = limits.max_body_size
        self._is_server = role is Role.SERVER
        self._send_table = SENDING[role]
        self._receive_table = RECEIVING[role]

        # Each direction's state; our_state / their_state pick by role.
        self._req_state = IDLE
        self._resp_state = IDLE
        # Cycles whose response has not ended yet, oldest first.
        self._cycles: deque[Cycle] = deque()
        # The cycle of the most recent request head (its request may be complete).
        self._last_request: Cycle | None = None
        # Set when a 101 (or a 2xx to CONNECT) is sent or received.
        self._switched = False

        # The received bytes, the message being read, the message being written.
        self._buffer = ReceiveBuffer(self._is_server, limits)
        self._rx = Reader(self._buffer)
        self._tx = Writer(self._is_server)
        self._eof = False
        self._error: RemoteProtocolError | None = None

    # Public state

    @property
    def our_state(self) -> State:
        """The state of the direction we send in."""
        return self._resp_state if self._is_server else self._req_state

    @property
    def their_state(self) -> State:
        """The state of the direction the peer sends in."""
        return self._req_state if self._is_server else self._resp_state

    @property
    def limits(self) -> Limits:
        """The ``Limits`` in force."""
        return self._buffer.limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        self._buffer.limits = limits

    @property
    def keep_alive(self) -> bool:
        """Whether the connection can be reused once the current cycle ends."""
        if self._req_state in _FINISHED or self._resp_state in _FINISHED:
            return False
        return self._cycles[0].keep_alive if self._cycles else True

    @property
    def trailing_data(self) -> bytes:
        """Received bytes not parsed yet.

        After ``SWITCHED_PROTOCOL``: every byte that followed the head that switched,
        to hand to the next protocol (e.g. the WebSocket core). Bytes received after
        the switch are appended here too.
        """
        buffer = self._buffer
        return bytes(buffer.buf[buffer.pos :])

    @property
    def reading_paused(self) -> bool:
        """(Server) whether parsing stopped until we answer.

        True when ``Limits.max_pipelined_requests`` requests are unanswered, or an
        upgrade request awaits our decision. The I/O layer should stop reading the
        socket, and call ``receive_data(b"")`` after it sends a response.
        """
        if not self._is_server:
            return False
        if self._req_state is MIGHT_SWITCH_PROTOCOL:
            return True
        limit = self._buffer.limits.max_pipelined_requests
        return self._req_state is IDLE and limit is not None and len(self._cycles) >= limit

    @property
    def client_is_waiting_for_100_continue(self) -> bool:
        """Whether the client sent ``Expect: 100-continue`` and still waits to send its body.

        True from such a request (HTTP/1.1, with a body) until a 1xx or final
        response, or the first body byte, goes by.
        """
        last = self._last_request
        return last is not None and last.waiting_100

    def __repr__(self) -> str:
        return (
            f"<Connection {self.role.value} our_state={self.our_state.name} "
            f"their_state={self.their_state.name}>"
        )

    # Receiving

    def receive_data(self, data: bytes) -> list[Event]:
        """Add received bytes and return every event they complete, in order.

        ``receive_data(b"")`` adds nothing and parses what is buffered: call it to
        resume after ``reading_paused`` (it does not mean end of file; that is
        ``receive_eof``). Once the peer's last message is complete (``their_state``
        is ``DONE`` or ``MUST_CLOSE``), further bytes are ignored. After a protocol
        switch they are kept for ``trailing_data``.

        Raises:
            RemoteProtocolError: the bytes break HTTP/1.1 or a limit; ``status_hint``
                is the status to answer with (server) or ``None`` (client). Events
                parsed earlier in the same call are discarded with the exception;
                ``their_state`` becomes ``ERROR`` and every later call raises again.
            LocalProtocolError: bytes given after ``receive_eof``.
        """
        if self._error is not None:
            raise RemoteProtocolError(self._error.message, status_hint=self._error.status_hint)
        if data:
            if self._eof:
                raise LocalProtocolError("receive_data() got bytes after receive_eof()")
            state = self._req_state if self._is_server else self._resp_state
            if state is DONE or state is MUST_CLOSE:
                return []
            self._buffer.buf += data
        return self._parse()

    def receive_eof(self) -> list[Event]:
        """The peer closed its sending side; return the events that completes.

        A close-delimited response body ends (``EndOfMessage``); then, at a point
        between messages, ``ConnectionClosed`` comes and ``their_state`` becomes
        ``CLOSED``. If parsing is paused, the events come with the ``receive_data(b"")``
        that resumes it.

        Raises:
            RemoteProtocolError: the connection closed in the middle of a message
                (``status_hint`` is ``None``: there is nobody left to answer).
        """
        if self._error is not None:
            raise RemoteProtocolError(self._error.message, status_hint=self._error.status_hint)
        self._eof = True
        return self._parse()

    def _parse(self) -> list[Event]:
        events: list[Event] = []
        try:
            if self._is_server:
                self._parse_requests(events)
            else:
                self._parse_responses(events)
            if self._eof:
                self._parse_eof(events)
        except RemoteProtocolError as exc:
            self._fail(exc)
            raise
        buffer = self._buffer
        state = self._req_state if self._is_server else self._resp_state
        if state is DONE or state is MUST_CLOSE:
            buffer.pos = len(buffer.buf)  # after the peer's last message: ignored
        pos = buffer.pos
        if pos:
            # Drop the consumed bytes (here rather than in a ReceiveBuffer method: this
            # runs once per receive_data call, and a call costs more than the work).
            # bytearray keeps an offset to its start: deleting a prefix is O(1).
            del buffer.buf[:pos]
            buffer.scan = max(0, buffer.scan - pos)
            buffer.pos = 0
        return events

    def _fail(self, exc: RemoteProtocolError) -> None:
        self._error = exc
        if self._is_server:
            if self._req_state is IDLE:
                # The failed request never became a cycle: make it one, so the
                # application can answer it (in order) with exc.status_hint.
                self._cycles.append(Cycle("", http11=False, keep_alive=False, switch=None))
            elif self._last_request is not None:
                self._last_request.keep_alive = False
            self._req_state = ERROR
        else:
            self._resp_state = ERROR

    def _parse_requests(self, events: list[Event]) -> None:
        rx = self._rx
        limit = self._buffer.limits.max_pipelined_requests
        while True:
            state = self._req_state
            if state is IDLE:
                if limit is not None and len(self._cycles) >= limit:
                    return  # paused: too many requests unanswered
                head = rx.read_request(self.max_body_size)
                if head is None:
                    return
                request, cycle, has_body = head
                self._cycles.append(cycle)
                self._last_request = cycle
                self._received(Request)
                events.append(request)
                if not has_body:
                    self._received_end(events, end_of_message())
            elif state is SEND_BODY:
                if not self._read_body(events):
                    return
            else:
                return  # DONE, MUST_CLOSE, MIGHT_SWITCH_PROTOCOL, ...: parse nothing more

    def _parse_responses(self, events: list[Event]) -> None:
        rx = self._rx
        while True:
            state = self._resp_state
            if state is IDLE:
                head = rx.read_response(self._cycles, self._req_state, self.max_body_size)
                if head is None:
                    return
                response, switched, has_body = head
                if switched:
                    self._switched = True
                if type(response) is InformationalResponse:
                    self._received(InformationalResponse)
                    events.append(response)
                    continue
                self._received(Response)
                events.append(response)
                if not has_body and not switched:
                    self._received_end(events, end_of_message())
            elif state is SEND_BODY:
                if not self._read_body(events):
                    return
            else:
                return

    def _parse_eof(self, events: list[Event]) -> None:
        state = self._req_state if self._is_server else self._resp_state
        if state is SEND_BODY:
            if self._rx.framing != UNTIL_CLOSE:
                raise self._buffer.error("connection closed in the middle of a message body", None)
            # RFC 9112 §6.3 item 8: the close ends a close-delimited response body.
            self._received_end(events, end_of_message())
            state = self._resp_state
        if state is IDLE and self._buffer.pos < len(self._buffer.buf):
            if self.reading_paused:
                return  # the ConnectionClosed comes when parsing resumes
            raise self._buffer.error("connection closed in the middle of a message head", None)
        if (state, ConnectionClosed) in self._receive_table and state is not CLOSED:
            self._received(ConnectionClosed)
            events.append(ConnectionClosed())

    # Receiving: bodies

    def _read_body(self, events: list[Event]) -> bool:
        """Turn buffered body bytes into events; False when more bytes are needed."""
        rx = self._rx
        limit = self.max_body_size
        while True:
            event = rx.read_body(limit)
            if event is None:
                return False
            if not isinstance(event, Data):
                self._received_end(events, event)
                return True
            last = self._last_request
            if self._is_server and last is not None:
                last.waiting_100 = False  # the client stopped waiting: body bytes came
            self._received(Data)
            events.append(event)

    # Transitions

    def _received(self, event_type: type) -> None:
        """Move the peer's direction along its table (any other decision: ``_settle``)."""
        state = self._req_state if self._is_server else self._resp_state
        new = self._receive_table.get((state, event_type))
        if new is None:  # pragma: no cover - the parser only produces legal events
            raise self._buffer.error(f"unexpected {event_type.__name__} in state {state.name}")
        if self._is_server:
            self._req_state = new
        else:
            self._resp_state = new
        if event_type is not Data and event_type is not Request:
            # A request head or a piece of body decides nothing; the rest may.
            self._settle()

    def _received_end(self, events: list[Event], event: EndOfMessage) -> None:
        self._rx.framing = NO_BODY
        if self._is_server and self._last_request is not None:
            self._last_request.waiting_100 = False
        self._received(EndOfMessage)
        events.append(event)

    def _settle(self) -> None:
        """Apply, after a table transition, the decisions that depend on the messages.

        This is the one place where keep-alive (RFC 9112 §9.3) and protocol switches
        (RFC 9110 §7.8, §9.3.6) change states. Applying it twice changes nothing.
        """
        if self._switched:
            # 101 Switching Protocols, or 2xx to CONNECT: HTTP/1.1 is over.
            self._req_state = self._resp_state = SWITCHED_PROTOCOL
            self._cycles.clear()
            return
        req, resp = self._req_state, self._resp_state
        if resp is DONE:
            # A response ended, and with it its cycle. The connection is reused
            # only if both the request and the response allowed it.
            cycle = self._cycles.popleft()
            resp = IDLE if cycle.keep_alive else MUST_CLOSE
        last = self._last_request
        if last is not None:
            if req is MIGHT_SWITCH_PROTOCOL and last.switch is None:
                req = DONE  # the switch was declined by a final response
            if req is DONE:
                if last.switch is not None:
                    req = MIGHT_SWITCH_PROTOCOL  # wait for the answer, parse nothing
                elif last.keep_alive:
                    req = IDLE  # ready for the next request (pipelined or not)
                # else: that was the last request; DONE until its response ends.
        if resp is MUST_CLOSE and req in _BETWEEN_MESSAGES:
            req = MUST_CLOSE
        self._req_state, self._resp_state = req, resp

    # Sending

    def send(self, event: Event) -> bytes:
        """Validate ``event`` against the protocol and return its bytes to write.

        ``send(ConnectionClosed())`` records that we closed and returns ``b""``.

        Raises:
            LocalProtocolError: the event is not allowed now or is malformed (e.g. a
                response with no request to answer, a body on a HEAD/204/304
                response, a header name that is not a token or a value with CR, LF
                or NUL, more or fewer bytes than Content-Length). ``our_state``
                becomes ``ERROR``.
        """
        try:
            return self._send(event)
        except LocalProtocolError:
            self._our_error()
            raise

    def send_response(self, response: Response, body: bytes = b"") -> bytes:
        """(Server) Send a whole response at once; return its bytes.

        The same as ``send(response) + send(Data(data=body)) + send(EndOfMessage())``
        (``Data`` left out when ``body`` is empty), in one call: the common case
        of a server, made cheaper. A 101 or a 2xx to CONNECT goes through ``send``.

        Raises:
            LocalProtocolError: as ``send`` would for any of the three events.
        """
        cycles = self._cycles
        if (
            not self._is_server
            or self._resp_state is not IDLE
            or type(response) is not Response
            or not cycles
            or cycles[0].method == "CONNECT"
        ):
            data = self.send(response)
            if body:
                data += self.send(Data(data=body))
            return data + self.send(EndOfMessage())
        try:
            tx = self._tx
            last = self._last_request
            head = tx.response(response, cycles, self._req_state, last)[0]  # never switches
            data = head + tx.data(body, last) if body else head
            data += tx.end(_NO_TRAILERS, last)
        except LocalProtocolError:
            self._resp_state = ERROR
            raise
        self._resp_state = DONE
        self._settle()
        return data

    def send_external_data(self, size: int) -> None:
        """Account for ``size`` body bytes the caller writes itself, as ``sendfile`` does.

        The same checks as ``send(Data(data=...))`` with ``size`` bytes, and
        nothing to write: the caller sends the bytes as they are. Only for a
        body framed by ``Content-Length`` (or, from a server, by closing the
        connection): a chunked body needs framing around its bytes.

        Raises:
            LocalProtocolError: body data is not allowed now, the body is
                chunked, or ``size`` is more than what is left of
                ``Content-Length``. ``our_state`` becomes ``ERROR``.
        """
        state = self.our_state
        try:
            if (state, Data) not in self._send_table:
                raise LocalProtocolError(f"cannot send Data when our_state is {state.name}")
            self._tx.external_data(size, self._last_request)
        except LocalProtocolError:
            self._our_error()
            raise

    def _our_error(self) -> None:
        """Our side broke the protocol: ``our_state`` becomes ``ERROR``."""
        if self._is_server:
            self._resp_state = ERROR
        else:
            self._req_state = ERROR

    def _send(self, event: Event) -> bytes:
        state = self.our_state
        new = self._send_table.get((state, type(event)))
        if new is None:
            raise LocalProtocolError(
                f"cannot send {type(event).__name__} when our_state is {state.name}"
            )
        if isinstance(event, Data):
            return self._tx.data(event.data, self._last_request)
        if isinstance(event, EndOfMessage):
            data = self._tx.end(event.trailers, self._last_request)
        elif isinstance(event, Request):
            data, cycle = self._tx.request(event)
            self._cycles.append(cycle)
            self._last_request = cycle
        elif isinstance(event, ConnectionClosed):
            data = b""
        else:
            data, switched = self._tx.response(
                event, self._cycles, self._req_state, self._last_request
            )
            if switched:
                self._switched = True
        if self._is_server:
            self._resp_state = new
        else:
            self._req_state = new
        self._settle()
        return data


_NO_TRAILERS: Final = Headers()  # never mutated
_FINISHED: Final = frozenset((MUST_CLOSE, CLOSED, ERROR, SWITCHED_PROTOCOL))
_BETWEEN_MESSAGES: Final = frozenset((IDLE, DONE, MIGHT_SWITCH_PROTOCOL))
