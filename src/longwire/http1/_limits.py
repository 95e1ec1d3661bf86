"""The limits that bound what a peer can make the HTTP/1.1 core buffer or do.

Every limit is a named field with its reasoning beside it; ``None`` turns one off.
When the peer breaks a limit, ``Connection.receive_data`` raises
``RemoteProtocolError`` whose ``status_hint`` is the status a server answers with
(``None`` on the client side, where there is nobody to answer).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Limits of one HTTP/1.1 connection. ``None`` disables a limit.

    Attributes:
        max_request_line_size: longest request line (status line on the client side),
            in bytes without its CRLF. Breaking it: 414 URI Too Long.
        max_header_size: largest header section, in bytes from the first byte of the
            start line through the blank line that ends it; also bounds a chunked
            body's trailer section. Breaking it: 431 Request Header Fields Too Large.
        max_header_count: most field lines in a header (or trailer) section.
            Breaking it: 431.
        max_body_size: largest message body, in bytes: checked against a declared
            Content-Length before any of the body is read, and against the running
            total of a chunked or close-delimited body. Breaking it: 413 Content Too
            Large for a request. ``Connection.max_body_size`` starts from this value and
            the application may change it between events (e.g. for an upload route).
        max_chunk_line_size: longest chunk-size line of a chunked body, extensions
            included, in bytes without its CRLF. Breaking it: 400.
        max_pipelined_requests: (server) how many requests may be received but not yet
            fully answered before the connection stops parsing (``reading_paused``).
    """

    # 8 KiB: the request-target is where oversized input usually hides (long query
    # strings). RFC 9112 §3 recommends supporting request lines of at least 8000
    # octets; nginx's large_client_header_buffers and Apache's LimitRequestLine both
    # default to 8 KiB, so a real client that works elsewhere fits here.
    max_request_line_size: int | None = 8192

    # 64 KiB for the whole head: generous for cookie-heavy browsers (a few KiB is
    # typical; RFC 6265 §6.1 has user agents store cookies of 4 KiB each, and they
    # send many) and for large bearer tokens, yet small enough that thousands of slow
    # connections each buffering an incomplete head stay cheap. h11 and Node.js
    # default to 16 KiB; we trade a little memory for fewer false rejections.
    max_header_size: int | None = 65536

    # 100 field lines: Apache's LimitRequestFields default. Real requests carry
    # 10-30; many tiny fields are a cheap way to burn CPU per byte, so bound them.
    max_header_count: int | None = 100

    # 16 MiB: an application accepting bigger uploads raises it on purpose
    # (``Connection.max_body_size``, per request). Bodies are streamed as Data
    # events, so this bounds what the application is asked to handle, not what the
    # core buffers (the core never holds more than one received chunk of body).
    max_body_size: int | None = 16 * 1024 * 1024

    # 4 KiB: a chunk-size line is at most 16 hex digits plus optional extensions,
    # which nobody uses; the bound only stops a peer from streaming an endless
    # "extension" that we would have to buffer while looking for its CRLF.
    max_chunk_line_size: int | None = 4096

    # 32 requests: pipelining clients rarely send more than a handful ahead. The
    # bound keeps a peer from making us parse (and queue events for) an unbounded
    # backlog of requests it has not waited for; the I/O layer stops reading the
    # socket while paused, so TCP flow control pushes back on the peer.
    max_pipelined_requests: int | None = 32

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            # A zero body limit is meaningful (no bodies at all); zero elsewhere is not.
            least = 0 if field.name == "max_body_size" else 1
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < least
            ):
                raise ValueError(f"{field.name} must be an int >= {least} or None, not {value!r}")
