"""The permessage-deflate extension (RFC 7692 §7), negotiation and per-message transform.

Two halves:

- :class:`PerMessageDeflate` is what the application configures. It writes the
  client's offer, chooses the server's response, and checks that response on
  the client; each path ends in a :class:`PerMessageDeflateRuntime`.
- :class:`PerMessageDeflateRuntime` belongs to one connection. The protocol
  core hands it each message to send (:meth:`~PerMessageDeflateRuntime.compress`)
  and each RSV1 message's frame payloads as they arrive
  (:meth:`~PerMessageDeflateRuntime.decompress`).

Parameters arrive already parsed from ``Sec-WebSocket-Extensions`` (see
``_header_values``): a list of ``(name, value)`` pairs, names lowercased,
values unquoted, ``None`` for a bare parameter.

Errors, translated at this boundary::

    server_accept    an unacceptable offer is declined (skipped), never an error
    client_accept    HandshakeError            the server's response breaks RFC 7692 §7
    decompress       RemoteProtocolError 1007  zlib.error: the peer sent corrupt DEFLATE data
                     RemoteProtocolError 1009  the message inflates past max_size
                     RemoteProtocolError 1008  too many DEFLATE streams in one frame
    PerMessageDeflate(...)  LocalProtocolError a setting is out of range
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import ClassVar

from .._errors import HandshakeError, LocalProtocolError, RemoteProtocolError
from .._role import Role
from ._header_values import ExtensionParams as Params

__all__ = ["DeflateParameters", "PerMessageDeflate", "PerMessageDeflateRuntime"]

_SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"
_KNOWN_PARAMS = frozenset(
    (
        _SERVER_NO_CONTEXT_TAKEOVER,
        _CLIENT_NO_CONTEXT_TAKEOVER,
        _SERVER_MAX_WINDOW_BITS,
        _CLIENT_MAX_WINDOW_BITS,
    )
)

# RFC 7692 §7.1.2.1 and §7.1.2.2: a window-bits value is "a decimal integer value without
# leading zeroes between 8 to 15, inclusive" — so "08" or "+9" is invalid, not 8 or 9.
_WINDOW_BITS_VALUES = {str(bits): bits for bits in range(8, 16)}
_MAX_WINDOW_BITS = 15
# zlib refuses an 8-bit window for raw deflate ("Invalid initialization option",
# madler/zlib#171), so with an agreed 8-bit window we never compress.
_MIN_COMPRESS_WINDOW_BITS = 9
# For inflating, 9 rather than 8: some peers' zlib bindings (Node.js among them) quietly
# turn an agreed 8 into 9 when compressing. A larger inflate window decodes every stream a
# smaller one does, so this costs 256 bytes and loses nothing.
_MIN_DECOMPRESS_WINDOW_BITS = 9

# RFC 7692 §7.2.1 / §7.2.2: the empty stored block that ends a Z_SYNC_FLUSH; the sender
# strips it from each message and the receiver appends it back.
_TAIL = b"\x00\x00\xff\xff"

# RFC 7692 §7.2.1 lets a sender end a DEFLATE stream (a block with BFINAL set) and start
# another in the same message. Python's zlib stops at each stream end and copies the
# rest of the input aside, so a frame packed with tiny finished streams would cost
# quadratic time. A real sender ends at most one or two streams per frame.
_MAX_STREAMS_PER_FRAME = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class PerMessageDeflate:
    """permessage-deflate settings (RFC 7692 §7), the same class for clients and servers.

    The four negotiation fields mean what the RFC parameters of the same name mean.
    A client offers them; a server requires them of every offer it accepts.

    Attributes:
        server_no_context_takeover: the server starts every message with an empty
            window, so neither end keeps the server's compression context between
            messages. A client asks for it (and fails the handshake if the server
            refuses); a server imposes it on itself.
        client_no_context_takeover: the same for the client's messages. A client
            promises it; a server imposes it on the client.
        server_max_window_bits: the largest LZ77 window the server compresses with,
            8 to 15 (None: no limit, which means 15). A client asks for it; a server
            announces it, also to clients that did not ask (RFC 7692 §7.1.2.1).
        client_max_window_bits: the largest window the client compresses with, 8 to 15
            (None: no limit). A client offers it; a server only accepts offers that
            let it set this limit, and declines the others.
        compress_level: zlib level, 0 (store only) to 9 (smallest output).
        mem_level: zlib memLevel, 1 to 9: memory for compression state against speed
            and ratio; 5 is frugal at little cost in ratio (zlib's default is 8).
        min_size: messages shorter than this many bytes are sent uncompressed.
            Empty messages are never compressed.

    Memory: zlib holds, per connection and direction, a compressor of about
    ``(1 << (wbits + 2)) + (1 << (mem_level + 9))`` bytes plus ~6 KiB of state
    (144 KiB + 6 KiB for the defaults wbits=15, mem_level=5) and a decompressor
    of about ``1 << wbits`` bytes plus ~7 KiB (39 KiB at wbits=15). Both are
    created on the first message that needs them. With context takeover they are
    kept for the life of the connection; with ``*_no_context_takeover`` that side's
    object is freed after every message, so an idle connection with both
    ``no_context_takeover`` flags holds no zlib memory at all.
    With an 8-bit window for our own messages we send them uncompressed, because
    zlib cannot compress with it (the RFC lets any message go uncompressed).

    Raises:
        LocalProtocolError: a setting is out of range.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None
    compress_level: int = 6
    mem_level: int = 5
    min_size: int = 0

    def __post_init__(self) -> None:
        for name in (_SERVER_MAX_WINDOW_BITS, _CLIENT_MAX_WINDOW_BITS):
            bits = getattr(self, name)
            if bits is not None and not 8 <= bits <= _MAX_WINDOW_BITS:
                raise LocalProtocolError(f"{name} must be between 8 and 15, not {bits}")
        if not 0 <= self.compress_level <= 9:
            raise LocalProtocolError(
                f"compress_level must be between 0 and 9, not {self.compress_level}"
            )
        if not 1 <= self.mem_level <= 9:
            raise LocalProtocolError(f"mem_level must be between 1 and 9, not {self.mem_level}")
        if self.min_size < 0:
            raise LocalProtocolError(f"min_size must not be negative, not {self.min_size}")

    def client_offer(self) -> Params:
        """The parameters of the client's permessage-deflate offer."""
        params = DeflateParameters(
            server_no_context_takeover=self.server_no_context_takeover,
            client_no_context_takeover=self.client_no_context_takeover,
            server_max_window_bits=self.server_max_window_bits,
        ).to_params()
        # RFC 7692 §7.1.2.2: "By including this parameter in an extension negotiation offer,
        # a client informs the peer server that the client supports the
        # "client_max_window_bits" extension parameter in an extension negotiation response".
        # We always do, so always offer it, with our own limit as its value if we have one.
        client_bits = self.client_max_window_bits
        params.append((_CLIENT_MAX_WINDOW_BITS, None if client_bits is None else str(client_bits)))
        return params

    def server_accept(self, offers: list[Params]) -> tuple[Params, PerMessageDeflateRuntime] | None:
        """Accept the first acceptable offer, in the client's order of preference.

        Args:
            offers: the parameters of every permessage-deflate offer, in order.

        Returns:
            The response parameters and the server's runtime, or None when every
            offer is declined (the connection then goes on without compression).
        """
        # RFC 7692 §5: "The order of elements is important as it specifies the client's
        # preference. [...] It is recommended that a server accepts PMCEs with higher
        # preference if the server supports them."
        for offer in offers:
            try:
                agreed = self._agree_to(_parse_params(offer, in_offer=True))
            except ValueError:
                continue  # declined: try the next offer
            return agreed.to_params(), self._runtime(Role.SERVER, agreed)
        return None

    def _agree_to(self, offer: dict[str, int | None]) -> DeflateParameters:
        """The parameters in force if we accept ``offer``; ValueError if we cannot."""
        # RFC 7692 §7.1.1.1: "A server accepts an extension negotiation offer that includes
        # the "server_no_context_takeover" extension parameter by including the
        # "server_no_context_takeover" extension parameter in the corresponding extension
        # negotiation response to the offer." And: "A server MAY include the
        # "server_no_context_takeover" extension parameter in an extension negotiation
        # response even if the extension negotiation offer being accepted by the extension
        # negotiation response didn't include the "server_no_context_takeover" extension
        # parameter."
        server_no_context_takeover = (
            _SERVER_NO_CONTEXT_TAKEOVER in offer or self.server_no_context_takeover
        )
        # RFC 7692 §7.1.1.2: "A server MAY include the "client_no_context_takeover" extension
        # parameter in an extension negotiation response." We echo the client's own hint too,
        # so both ends (and our decompressor, which can then drop its context) agree.
        client_no_context_takeover = (
            _CLIENT_NO_CONTEXT_TAKEOVER in offer or self.client_no_context_takeover
        )
        # RFC 7692 §7.1.2.1: "A server accepts an extension negotiation offer with this
        # parameter by including the "server_max_window_bits" extension parameter in the
        # extension negotiation response to send back to the client with the same or smaller
        # value as the offer." And: "A server MAY include the "server_max_window_bits"
        # extension parameter in an extension negotiation response even if the extension
        # negotiation offer being accepted by the response didn't include the
        # "server_max_window_bits" extension parameter." So: the smaller of the two, or ours.
        server_max_window_bits = _smaller(
            offer.get(_SERVER_MAX_WINDOW_BITS), self.server_max_window_bits
        )
        if _CLIENT_MAX_WINDOW_BITS in offer:
            # RFC 7692 §7.1.2.2: "If the "client_max_window_bits" extension parameter in a
            # received extension negotiation offer has a value, the server may either ignore
            # this value or use this value to avoid allocating an unnecessarily big LZ77
            # sliding window by including the "client_max_window_bits" extension parameter in
            # the corresponding extension negotiation response to the offer with a value
            # equal to or smaller than the received value." We use it: a smaller window for
            # our decompressor.
            client_max_window_bits = _smaller(
                offer[_CLIENT_MAX_WINDOW_BITS], self.client_max_window_bits
            )
        elif self.client_max_window_bits is not None:
            # RFC 7692 §7.1.2.2: "If a received extension negotiation offer doesn't have the
            # "client_max_window_bits" extension parameter, the corresponding extension
            # negotiation response to the offer MUST NOT include the "client_max_window_bits"
            # extension parameter." We cannot impose our limit, so: RFC 7692 §7: decline
            # when "The server doesn't support the offered configuration."
            raise ValueError("the offer lacks client_max_window_bits, which we require")
        else:
            client_max_window_bits = None
        return DeflateParameters(
            server_no_context_takeover=server_no_context_takeover,
            client_no_context_takeover=client_no_context_takeover,
            server_max_window_bits=server_max_window_bits,
            client_max_window_bits=client_max_window_bits,
        )

    def client_accept(self, params: Params) -> PerMessageDeflateRuntime:
        """Check the server's response to our :meth:`client_offer` and build our runtime.

        Args:
            params: the parameters of the server's permessage-deflate response.

        Raises:
            HandshakeError: the response breaks RFC 7692 §7 or does not honour the offer.
                Its ``status`` is 101, what the server answered.
        """

        def fail(message: str) -> HandshakeError:
            return HandshakeError(f"invalid permessage-deflate response: {message}", status=101)

        # RFC 7692 §7: "A client MUST _Fail the WebSocket Connection_ if the peer server
        # accepted an extension negotiation offer for this extension with an extension
        # negotiation response meeting any of the following conditions": an unknown
        # parameter, an invalid value, a duplicate, or "The client does not support the
        # configuration that the response represents."
        try:
            response = _parse_params(params, in_offer=False)
        except ValueError as exc:
            raise fail(str(exc)) from exc

        # RFC 7692 §7.1.1.1: "A server accepts an extension negotiation offer that includes
        # the "server_no_context_takeover" extension parameter by including the
        # "server_no_context_takeover" extension parameter in the corresponding extension
        # negotiation response to the offer." Without it, that is not our offer accepted.
        server_no_context_takeover = _SERVER_NO_CONTEXT_TAKEOVER in response
        if self.server_no_context_takeover and not server_no_context_takeover:
            raise fail("server_no_context_takeover was requested but not accepted")

        # RFC 7692 §7.1.1.2: "By including the "client_no_context_takeover" extension
        # parameter in an extension negotiation response, a server prevents the peer client
        # from using context takeover." Our own setting holds whatever the server says.
        client_no_context_takeover = (
            _CLIENT_NO_CONTEXT_TAKEOVER in response or self.client_no_context_takeover
        )

        # RFC 7692 §7.1.2.1: the server answers our server_max_window_bits "with the same or
        # smaller value as the offer", and "MAY include the "server_max_window_bits"
        # extension parameter in an extension negotiation response even if the extension
        # negotiation offer being accepted by the response didn't include" it.
        server_max_window_bits = response.get(_SERVER_MAX_WINDOW_BITS)
        requested = self.server_max_window_bits
        if requested is not None:
            if server_max_window_bits is None:
                raise fail(f"server_max_window_bits={requested} was requested but not accepted")
            if server_max_window_bits > requested:
                raise fail(
                    f"server_max_window_bits={server_max_window_bits} is larger than the "
                    f"{requested} requested"
                )

        # RFC 7692 §7.1.2.2: we always offer client_max_window_bits, so the server may answer
        # it. If we offered a value, "even if the server doesn't include the
        # "client_max_window_bits" extension parameter in the corresponding extension
        # negotiation response with a value greater than the one in the extension
        # negotiation offer or if the server doesn't include the extension parameter at all,
        # the client is not going to use an LZ77 sliding window size greater than the size
        # specified by the value in the extension negotiation offer": keep the smaller.
        client_max_window_bits = _smaller(
            response.get(_CLIENT_MAX_WINDOW_BITS), self.client_max_window_bits
        )

        agreed = DeflateParameters(
            server_no_context_takeover=server_no_context_takeover,
            client_no_context_takeover=client_no_context_takeover,
            server_max_window_bits=server_max_window_bits,
            client_max_window_bits=client_max_window_bits,
        )
        return self._runtime(Role.CLIENT, agreed)

    def _runtime(self, role: Role, agreed: DeflateParameters) -> PerMessageDeflateRuntime:
        return PerMessageDeflateRuntime(
            role,
            agreed,
            compress_level=self.compress_level,
            mem_level=self.mem_level,
            min_size=self.min_size,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeflateParameters:
    """The permessage-deflate parameters in force on a connection (RFC 7692 §7.1).

    A window of None means no limit was agreed: 15 bits, a 32 KiB window.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None

    def to_params(self) -> Params:
        """These parameters as a server's response."""
        params: Params = []
        if self.server_no_context_takeover:
            params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
        if self.client_no_context_takeover:
            params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
        if self.server_max_window_bits is not None:
            params.append((_SERVER_MAX_WINDOW_BITS, str(self.server_max_window_bits)))
        if self.client_max_window_bits is not None:
            params.append((_CLIENT_MAX_WINDOW_BITS, str(self.client_max_window_bits)))
        return params


class PerMessageDeflateRuntime:
    """Compression state of one connection that agreed on permessage-deflate.

    Which agreed parameters rule our compressor and which our decompressor
    follows from ``role``: the ``server_*`` ones govern what the server sends,
    the ``client_*`` ones what the client sends (RFC 7692 §7.1).

    zlib objects are created on the first message that needs them and, on a
    side with no context takeover, freed after every message.

    Args:
        role: which end of the connection we are.
        agreed: the parameters in force.
        compress_level, mem_level, min_size: as in :class:`PerMessageDeflate`.
    """

    name: ClassVar[str] = "permessage-deflate"

    __slots__ = (
        "_compress_level",
        "_decoder",
        "_encoder",
        "_local_no_context_takeover",
        "_local_window_bits",
        "_mem_level",
        "_message_has_data",
        "_min_size",
        "_remote_no_context_takeover",
        "_remote_window_bits",
        "agreed",
        "role",
    )

    def __init__(
        self,
        role: Role,
        agreed: DeflateParameters,
        *,
        compress_level: int = 6,
        mem_level: int = 5,
        min_size: int = 0,
    ) -> None:
        self.role = role
        self.agreed = agreed
        server = (agreed.server_max_window_bits, agreed.server_no_context_takeover)
        client = (agreed.client_max_window_bits, agreed.client_no_context_takeover)
        local, remote = (server, client) if role is Role.SERVER else (client, server)
        self._local_window_bits = local[0] or _MAX_WINDOW_BITS
        self._local_no_context_takeover = local[1]
        self._remote_window_bits = max(remote[0] or _MAX_WINDOW_BITS, _MIN_DECOMPRESS_WINDOW_BITS)
        self._remote_no_context_takeover = remote[1]
        self._compress_level = compress_level
        self._mem_level = mem_level
        self._min_size = min_size
        self._encoder: zlib._Compress | None = None
        self._decoder: zlib._Decompress | None = None
        self._message_has_data = False  # some frame of the message being received had data

    def __repr__(self) -> str:
        return f"PerMessageDeflateRuntime({self.role.name}, {self.agreed})"

    @property
    def live_contexts(self) -> int:
        """How many zlib objects (0 to 2) this connection holds right now."""
        return (self._encoder is not None) + (self._decoder is not None)

    def compress(self, data: bytes) -> bytes | None:
        """Compress one whole message.

        Returns:
            The payload to send in frame(s) of a message with RSV1 set, or None
            when the message should be sent uncompressed: it is empty or shorter
            than ``min_size``, or our agreed window is 8 bits (see the class doc).
            With context takeover, a returned payload must be sent: the shared
            window already holds the message.
        """
        # RFC 7692 §6: on a connection using the extension, the RSV1 bit "indicates whether a
        # message is compressed or not", so any message may go uncompressed.
        if not data or len(data) < self._min_size:
            return None
        if self._local_window_bits < _MIN_COMPRESS_WINDOW_BITS:
            return None
        encoder = self._encoder
        if encoder is None:
            encoder = zlib.compressobj(
                self._compress_level, zlib.DEFLATED, -self._local_window_bits, self._mem_level
            )
        # RFC 7692 §7.2.1: "If the "agreed parameters" contain the "client_no_context_takeover"
        # extension parameter, the client MUST start compressing each new message with an
        # empty LZ77 sliding window" (and the same for the server): a fresh compressor.
        self._encoder = None if self._local_no_context_takeover else encoder
        head = encoder.compress(data)
        # Z_SYNC_FLUSH ends the data on a byte boundary with an empty stored block,
        # 00 00 ff ff. RFC 7692 §7.2.1: "If the resulting data does not end with an empty
        # DEFLATE block with no compression (the "BTYPE" bits are set to 00), append an empty
        # DEFLATE block with no compression to the tail end. Remove 4 octets (that are 0x00
        # 0x00 0xff 0xff) from the tail end."
        tail = encoder.flush(zlib.Z_SYNC_FLUSH)
        return head + memoryview(tail)[: -len(_TAIL)]

    def decompress(self, data: bytes, *, fin: bool, max_size: int | None) -> bytes:
        """Decompress the payload of one frame of a compressed message.

        Feed every frame of the message, in order, with ``fin`` set on the last.

        Args:
            data: the frame's payload.
            fin: whether this is the message's last frame.
            max_size: the most bytes this call may return (None: no limit). zlib
                never inflates more than one byte past it, however the input is built.

        Raises:
            RemoteProtocolError: close code 1009 if the output would exceed
                ``max_size``; 1007 if the data is not valid DEFLATE; 1008 if one
                frame ends too many DEFLATE streams.
        """
        room = None if max_size is None else max_size + 1
        if data:
            self._message_has_data = True
        try:
            out = self._inflate(data, room) if data else b""
            # A message whose payload is empty carries no DEFLATE data at all: RFC 7692
            # §7.2.1 always leaves at least the octet holding the empty block's header
            # (§7.2.3.6 sends 0x00 for an empty message). Some senders send nothing
            # instead; take that as an empty message and leave the window alone.
            if fin and self._message_has_data and (room is None or len(out) < room):
                out += self._inflate_tail(None if room is None else room - len(out))
        except zlib.error as exc:
            self._drop_decoder()
            raise RemoteProtocolError(f"invalid compressed data: {exc}", close_code=1007) from exc
        except RemoteProtocolError:
            self._drop_decoder()
            raise
        if max_size is not None and len(out) > max_size:
            self._drop_decoder()  # it holds the unread rest of the input
            raise RemoteProtocolError("message too big", close_code=1009)
        # RFC 7692 §7.2.2: "If the "agreed parameters" contain the "server_no_context_takeover"
        # extension parameter, the client MAY decompress each new message with an empty LZ77
        # sliding window. Otherwise, the client MUST decompress each new message using the
        # LZ77 sliding window used to process the last compressed message." (And the same
        # for the server with "client_no_context_takeover".)
        if fin:
            self._message_has_data = False
            if self._remote_no_context_takeover:
                self._decoder = None
        return out

    def _drop_decoder(self) -> None:
        self._decoder = None
        self._message_has_data = False

    def _inflate_tail(self, room: int | None) -> bytes:
        """Finish the message's DEFLATE data."""
        if self._decoder is not None and self._decoder.eof:
            # The payload ended with a BFINAL block and nothing after it: there is no block
            # for the tail to complete, and fed to a fresh stream it would open a stored
            # block that swallows the next message.
            return b""
        # RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the
        # payload of the message." Fed on its own, so a large payload is not copied.
        return self._inflate(_TAIL, room)

    def _inflate(self, data: bytes, room: int | None) -> bytes:
        """Inflate ``data`` into at most ``room`` bytes (None: unbounded), across stream ends."""
        out = b""
        for _ in range(_MAX_STREAMS_PER_FRAME):
            decoder = self._decoder
            if decoder is None or decoder.eof:
                decoder = self._decoder = zlib.decompressobj(-self._remote_window_bits)
            # max_length 0 means no limit to zlib; room - len(out) is at least 1 here.
            out += decoder.decompress(data, 0 if room is None else room - len(out))
            if not (decoder.eof and decoder.unused_data):
                return out
            if room is not None and len(out) >= room:
                return out  # the caller reports the message as too big
            # RFC 7692 §7.2.1: "An endpoint MAY use both DEFLATE blocks with the "BFINAL" bit
            # set to 0 and DEFLATE blocks with the "BFINAL" bit set to 1." [...] "The next
            # DEFLATE block follows the padded data if any." zlib stops at a BFINAL block;
            # what follows it is a new stream. A sender that finished its stream cannot refer
            # back into it, so the new stream starts with an empty window.
            data = decoder.unused_data
        raise RemoteProtocolError(
            f"more than {_MAX_STREAMS_PER_FRAME} DEFLATE streams in one frame", close_code=1008
        )


def _parse_params(params: Params, *, in_offer: bool) -> dict[str, int | None]:
    """Check parameters against RFC 7692 §7 and return them by name.

    Window sizes become ints; a bare parameter maps to None.

    Raises:
        ValueError: an unknown or duplicate parameter, or an invalid value.
    """
    # RFC 7692 §7: an offer is declined (and a response fails the connection) if it
    # "contains an extension parameter not defined for use in an offer" / "in a response",
    # "contains an extension parameter with an invalid value", or "contains multiple
    # extension parameters with the same name".
    parsed: dict[str, int | None] = {}
    for name, value in params:
        if name not in _KNOWN_PARAMS:
            raise ValueError(f"unknown parameter {name!r}")
        if name in parsed:
            raise ValueError(f"duplicate parameter {name!r}")
        if name in (_SERVER_NO_CONTEXT_TAKEOVER, _CLIENT_NO_CONTEXT_TAKEOVER):
            # RFC 7692 §7.1.1.1, §7.1.1.2: "This extension parameter has no value."
            if value is not None:
                raise ValueError(f"{name} takes no value, got {value!r}")
            parsed[name] = None
        elif value is None:
            # RFC 7692 §7.1.2.2: in an offer, client_max_window_bits "has no value or a
            # decimal integer value"; in a response it "has a decimal integer value".
            # §7.1.2.1: server_max_window_bits always has one.
            if not (in_offer and name == _CLIENT_MAX_WINDOW_BITS):
                raise ValueError(f"{name} needs a value")
            parsed[name] = None
        elif value in _WINDOW_BITS_VALUES:
            parsed[name] = _WINDOW_BITS_VALUES[value]
        else:
            raise ValueError(f"{name}={value!r} is not a number from 8 to 15")
    return parsed


def _smaller(a: int | None, b: int | None) -> int | None:
    """The smaller of two optional limits, None meaning no limit."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
