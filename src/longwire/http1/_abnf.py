"""The RFC 9110 / RFC 9112 grammar the HTTP/1.1 core checks, one compiled pattern per rule.

Each pattern sits under the ABNF it implements. Heads are decoded as latin-1, so
the ``str`` patterns below see each byte as the code point of the same value
(``\\x80-\\xff`` is obs-text). Core rules (RFC 5234 appendix B.1): ``SP`` is
``\\x20``, ``HTAB`` ``\\x09``, ``VCHAR`` ``\\x21-\\x7e``, ``DIGIT`` ``0-9``,
``HEXDIG`` ``0-9A-Fa-f``; a ``CTL`` is ``\\x00-\\x1f`` or ``\\x7f``.

The parser does not run a regex per byte class per line: one ``bytes.translate``
pass over a whole head finds every forbidden control character (see
``HEAD_CHARACTERS``), and the patterns here then only check structure.
"""

from __future__ import annotations

import re

__all__ = [
    "CHUNK_SIZE_LINE",
    "CONTENT_LENGTH",
    "FIELD_VALUE",
    "HEAD_CHARACTERS",
    "HTTP_VERSION",
    "METHOD",
    "REASON_PHRASE",
    "REQUEST_LINE",
    "REQUEST_TARGET",
    "STATUS_LINE",
    "TOKEN",
]

# RFC 9110 §5.6.2:
#   token          = 1*tchar
#   tchar          = "!" / "#" / "$" / "%" / "&" / "'" / "*"
#                  / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
#                  / DIGIT / ALPHA
_TOKEN = r"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
TOKEN = re.compile(_TOKEN)

# RFC 9110 §9.1:  method = token
METHOD = TOKEN

# RFC 9110 §5.5:
#   field-value    = *field-content
#   field-content  = field-vchar
#                    [ 1*( SP / HTAB / field-vchar ) field-vchar ]
#   field-vchar    = VCHAR / obs-text
#   obs-text       = %x80-FF
# What we accept from the application when sending: no CR, LF, NUL or other CTL
# (the header-injection characters) and no leading or trailing whitespace, which
# a recipient strips (RFC 9112 §5.1), so the value would not round-trip.
_FIELD_VCHAR = r"[\x21-\x7e\x80-\xff]"
FIELD_VALUE = re.compile(rf"(?:{_FIELD_VCHAR}(?:[\t\x20-\x7e\x80-\xff]*{_FIELD_VCHAR})?)?")

# RFC 9112 §2.3:  HTTP-version = HTTP-name "/" DIGIT "." DIGIT
#                 HTTP-name    = %s"HTTP"   (case-sensitive)
_HTTP_VERSION = r"HTTP/([0-9]\.[0-9])"
HTTP_VERSION = re.compile(_HTTP_VERSION)

# RFC 9112 §3.2, request-target in its four forms (origin, absolute, authority,
# asterisk). All four are made of visible ASCII, and none contains SP, so for
# framing purposes the target is 1*VCHAR; interpreting it is the application's job.
_REQUEST_TARGET = r"[\x21-\x7e]+"
REQUEST_TARGET = re.compile(_REQUEST_TARGET)

# RFC 9112 §3:  request-line = method SP request-target SP HTTP-version
# Exactly one SP between the parts: RFC 9112 §3 allows lenient parsers to accept
# other whitespace, but doing so is what request smuggling feeds on.
REQUEST_LINE = re.compile(rf"({_TOKEN}) ({_REQUEST_TARGET}) {_HTTP_VERSION}")

# RFC 9112 §4:  status-line   = HTTP-version SP status-code SP [ reason-phrase ]
#               status-code   = 3DIGIT
#               reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
# RFC 9112 §4 asks clients to accept a status line without the final SP too
# ("HTTP/1.1 200"), which some servers send.
_REASON_PHRASE = r"[\t\x20-\x7e\x80-\xff]*"
REASON_PHRASE = re.compile(_REASON_PHRASE)
STATUS_LINE = re.compile(rf"{_HTTP_VERSION} ([0-9]{{3}})(?: ({_REASON_PHRASE}))?")

# RFC 9110 §8.6:  Content-Length = 1*DIGIT
# At most 18 digits: every such number fits in a signed 64-bit integer, and a
# longer one is an attack or a bug, and bounding it keeps int() cheap.
CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")

# RFC 9112 §7.1:
#   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#   chunk-size     = 1*HEXDIG
#   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
# Extensions carry no meaning we use, so after the first ";" anything printable
# (HTAB, SP, VCHAR, obs-text) is accepted and ignored. At most 16 hex digits: the
# size of any real chunk fits in 64 bits. Applied to bytes, without the CRLF.
CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?")

# The bytes a line of a head may contain: HTAB, SP, VCHAR and obs-text, i.e.
# anything but CTLs other than HTAB (RFC 9110 §5.5: "a recipient of CR, LF, or NUL
# within a field value MUST either reject the message or replace each of those
# characters with SP"; we reject, as we do the other CTLs). CR and LF only appear
# as CRLF line ends. ``head.translate(None, HEAD_CHARACTERS)`` deletes every such
# byte: what remains are the line ends and any forbidden byte.
HEAD_CHARACTERS = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
