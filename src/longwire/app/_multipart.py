"""``multipart/form-data`` (RFC 7578 over RFC 2046 §5.1): a streaming push parser and a collector.

``MultipartParser`` turns body bytes, chopped anywhere, into events::

    parser = MultipartParser(parse_boundary(request.headers.get("content-type")))
    for chunk in chunks:
        for event in parser.feed(chunk):
            ...  # PartStarted(name, filename, content_type, headers), PartData, PartEnded
    parser.end()  # raises if the closing boundary never came

``MultipartCollector`` sits on top and turns the events into a ``FormData`` of
``str`` fields and ``UploadFile`` files; a file bigger than ``spool_threshold``
goes to a ``tempfile.SpooledTemporaryFile`` on disk, so a 1 GiB upload keeps
memory flat. ``FormLimits`` gathers the limits of ``Request.form()``, for
multipart and urlencoded bodies both.

The body, as RFC 2046 §5.1.1 has it (CRLF between every two lines)::

    multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF
                      body-part *encapsulation close-delimiter transport-padding
                      [CRLF epilogue]
    encapsulation  := delimiter transport-padding CRLF body-part
    delimiter      := CRLF dash-boundary      ; dash-boundary := "--" boundary
    close-delimiter := delimiter "--"
    body-part      := MIME-part-headers [CRLF *OCTET]

How it parses: the only delimiter a part's content can end at is
``CRLF "--" boundary``, so one ``bytes.find`` per feed finds it; when a feed
ends inside a possible delimiter, only that tail (at most 73 bytes) is held
back, and every other byte goes out as ``PartData`` at once. A part's header
section is found with one ``find(b"\\r\\n\\r\\n")`` bounded by
``max_header_size``. No loop runs per byte. The state machine sits in one
``match`` (``MultipartParser._run``).

Errors are ``longwire.app._forms`` errors: ``MalformedFormError`` (400) when the
body breaks the grammar, ``FormTooLargeError`` (413) when it breaks a limit,
``UnsupportedFormTypeError`` (415) when the Content-Type is not
``multipart/form-data``. After one, the parser refuses more input.
"""

from __future__ import annotations

import enum
import re
import tempfile
import unicodedata
import weakref
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Final, NoReturn
from urllib.parse import unquote_to_bytes

from ..http1._headers import Headers
from ._forms import (
    DEFAULT_MAX_FIELDS,
    DEFAULT_MAX_URLENCODED_SIZE,
    FormData,
    FormError,
    FormTooLargeError,
    MalformedFormError,
    UnsupportedFormTypeError,
    strip_list_suffix,
)

__all__ = [
    "DEFAULT_MAX_MEMORY_SIZE",
    "DEFAULT_SPOOL_THRESHOLD",
    "FormLimits",
    "MultipartCollector",
    "MultipartEvent",
    "MultipartLimits",
    "MultipartParser",
    "PartData",
    "PartEnded",
    "PartStarted",
    "UploadFile",
    "parse_boundary",
    "safe_filename",
]


# Limits


@dataclass(frozen=True, slots=True, kw_only=True)
class MultipartLimits:
    """Limits of one ``multipart/form-data`` body. ``None`` disables a limit.

    Every limit broken answers 413 (``FormTooLargeError``, whose ``limit`` is the
    attribute name below).

    Attributes:
        max_size: largest body, in bytes, preamble and epilogue included.
        max_parts: most parts (fields and files together).
        max_header_size: largest header section of one part, in bytes, from its
            first byte through the blank line that ends it.
        max_field_size: largest content of one part without a ``filename``
            (a plain field, which a collector keeps in memory).
        max_file_size: largest content of one part with a ``filename``.
    """

    # 16 MiB, the same as the HTTP/1.1 core's max_body_size: an application taking
    # bigger uploads raises both on purpose, for the routes that take them. The
    # parser itself never holds more than a feed plus a 73-byte tail, so this
    # bounds disk and time, not memory.
    max_size: int | None = 16 * 1024 * 1024

    # 1000 parts: Werkzeug's max_form_parts and Starlette's max_fields/max_files
    # default; a real form has tens. Each part costs a header parse and objects.
    max_parts: int | None = 1000

    # 8 KiB: a browser writes Content-Disposition (name, filename) and Content-Type,
    # a few hundred bytes; a 255-character non-ASCII filename percent-encoded is
    # under 3 KiB. A part's header section is the one thing the parser buffers
    # while it waits for a delimiter (CRLFCRLF), so it must be bounded.
    max_header_size: int | None = 8192

    # 1 MiB: a plain field is text a person typed (or a hidden input); a collector
    # keeps it in memory, so it must stay small. Anything big should be a file.
    max_field_size: int | None = 1024 * 1024

    # No limit of its own: max_size bounds a file already, and a file streams to
    # the application (or to disk) instead of memory.
    max_file_size: int | None = None

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            least = 1 if limit.name in ("max_parts", "max_header_size") else 0
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < least
            ):
                raise ValueError(f"{limit.name} must be an int >= {least} or None, not {value!r}")


def _too_large(detail: str, limit: str, value: int) -> FormTooLargeError:
    return FormTooLargeError(detail, limit=limit, value=value)


# Events


@dataclass(frozen=True, slots=True, kw_only=True)
class PartStarted:
    """A part's header section was received; its content follows as ``PartData``.

    Attributes:
        name: the ``name`` parameter of its ``Content-Disposition`` (RFC 7578 §4.2),
            decoded as UTF-8 (ISO-8859-1 if it is not valid UTF-8).
        filename: the ``filename*`` (RFC 8187) or ``filename`` parameter as sent,
            decoded likewise, or ``None`` when there is neither: then the part is a
            plain field. May be ``""`` (a browser's empty file input) and may hold
            a path: pass it through ``safe_filename`` before touching a disk.
        content_type: its ``Content-Type``; ``"text/plain"`` when absent (RFC 7578 §4.4).
        headers: all its header fields, values as latin-1 like every ``Headers``.
    """

    name: str
    filename: str | None
    content_type: str = "text/plain"
    headers: Headers = field(default_factory=Headers)

    @property
    def is_file(self) -> bool:
        """Whether the part has a filename (a file input), even an empty one."""
        return self.filename is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class PartData:
    """A piece of the current part's content, in order. Piece boundaries carry no meaning."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PartEnded:
    """The current part's content is complete."""


MultipartEvent = PartStarted | PartData | PartEnded
"""What ``MultipartParser.feed`` returns a list of."""


# Grammar

# RFC 2046 §5.1.1:
#   boundary      := 0*69<bchars> bcharsnospace
#   bchars        := bcharsnospace / " "
#   bcharsnospace := DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / "," / "-" / "."
#                    / "/" / ":" / "=" / "?"
_BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")

# RFC 9110 §5.6.2: token = 1*tchar
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")

# One parameter of Content-Type (RFC 9110 §5.6.6) or Content-Disposition
# (RFC 2183, RFC 6266 §4.1):
#   parameters      = *( OWS ";" OWS [ parameter ] )
#   parameter       = parameter-name "=" parameter-value
#   parameter-value = ( token / quoted-string )
#   quoted-string   = DQUOTE *( qdtext / quoted-pair ) DQUOTE
# Lenient where real clients are: spaces around "=", and an unquoted value of any
# characters but ";" and DQUOTE (some clients do not quote a boundary holding "=").
_PARAMETER = re.compile(
    r"""[ \t]*;[ \t]*(?:([-!#$%&'*+.^_`|~0-9A-Za-z]+)[ \t]*=[ \t]*"""
    r"""(?:"((?:[^"\\]|\\.)*)"|([^;"]*)))?[ \t]*""",
    re.DOTALL,
)
_QUOTED_PAIR = re.compile(r'\\([\\"])')

# RFC 8187 §3.2.1:
#   ext-value  = charset  "'" [ language ] "'" value-chars
#   charset    = "UTF-8" / "ISO-8859-1" / mime-charset
#   value-chars = *( pct-encoded / attr-char )
_EXT_VALUE = re.compile(r"([-!#$%&+^_`{}~0-9A-Za-z]+)'([-0-9A-Za-z]*)'(.*)", re.DOTALL)


def _parameters(value: str, start: int, what: str) -> dict[str, str]:
    """The parameters of a header value from ``start`` (a ``;``), names lowercased.

    Raises:
        MalformedFormError: a parameter is malformed or repeated.
    """
    params: dict[str, str] = {}
    end = len(value)
    match = _PARAMETER.match
    while start < end:
        found = match(value, start)
        if found is None:
            raise MalformedFormError(f"malformed parameters in {what}: {value[start:][:60]!r}")
        start = found.end()
        key = found.group(1)
        if key is None:
            continue  # an empty parameter (";;" or a trailing ";"): allowed by the grammar
        key = key.lower()
        if key in params:
            # RFC 6266 §4.1: a parameter MUST NOT appear more than once. Two
            # parsers picking different copies is how filters get bypassed.
            raise MalformedFormError(f"parameter {key!r} repeated in {what}")
        quoted = found.group(2)
        if quoted is None:
            params[key] = found.group(3).strip(" \t")
        elif "\\" in quoted:
            # quoted-pair (RFC 9110 §5.6.4), but only \" and \\ are unescaped:
            # browsers don't escape (they write " as %22, HTML §4.10.21.8), and old
            # clients send Windows paths ("C:\dir\a.txt") whose backslashes a full
            # unescape would eat.
            params[key] = _QUOTED_PAIR.sub(r"\1", quoted)
        else:
            params[key] = quoted
    return params


def _text(value: str) -> str:
    # Header values are latin-1 decoded wire bytes. Browsers send names and
    # filenames as raw UTF-8 (HTML's form-data encoding), so decode as that; a
    # value that is not valid UTF-8 was latin-1 already.
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _ext_value(value: str) -> str:
    """Decode an RFC 8187 ext-value (``UTF-8''%e2%82%ac%20rates`` -> ``€ rates``).

    Raises:
        MalformedFormError: the value is malformed, or its charset unknown.
    """
    found = _EXT_VALUE.fullmatch(value)
    if found is None:
        raise MalformedFormError(f"malformed filename* value {value[:60]!r}")
    charset = found.group(1)
    try:
        raw = unquote_to_bytes(found.group(3).encode("latin-1"))
        return raw.decode(charset)
    except (LookupError, UnicodeError):
        raise MalformedFormError(f"filename* not decodable as {charset[:20]!r}") from None


def _check_boundary(boundary: str | bytes) -> bytes:
    raw = boundary.encode("latin-1", "replace") if isinstance(boundary, str) else bytes(boundary)
    if not _BOUNDARY.fullmatch(raw):
        raise MalformedFormError(
            "invalid multipart boundary: RFC 2046 §5.1.1 allows 1 to 70 characters "
            "from letters, digits and '()+_,-./:=? (space only inside)"
        )
    return raw


def parse_boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type (RFC 2046 §5.1.1).

    ``parse_boundary('multipart/form-data; boundary="simple boundary"')`` gives
    ``b"simple boundary"``; the unquoted form works too.

    Args:
        content_type: the ``Content-Type`` value, or ``None`` when absent.

    Returns:
        The boundary, as bytes.

    Raises:
        UnsupportedFormTypeError: (415) no Content-Type, or not ``multipart/form-data``.
        MalformedFormError: (400) the boundary is missing or invalid, or the
            parameters are malformed.
    """
    if not content_type:
        raise UnsupportedFormTypeError("missing Content-Type: expected multipart/form-data")
    semicolon = content_type.find(";")
    media_type = (content_type if semicolon < 0 else content_type[:semicolon]).strip(" \t")
    # RFC 9110 §8.3.1: type and subtype are case-insensitive.
    if media_type.lower() != "multipart/form-data":
        raise UnsupportedFormTypeError(
            f"Content-Type is {media_type[:60]!r}, expected multipart/form-data"
        )
    params = {} if semicolon < 0 else _parameters(content_type, semicolon, "Content-Type")
    boundary = params.get("boundary")
    if not boundary:
        # RFC 2046 §5.1.1: the boundary parameter is required for multipart types.
        raise MalformedFormError("multipart/form-data Content-Type has no boundary parameter")
    return _check_boundary(boundary)


# Filenames

# Characters a safe filename never keeps: C0 and C1 controls and DEL (terminal
# escapes, NUL truncation), and the invisible bidirectional controls that make
# "txt.exe" display as "exe.txt" (Unicode TR #9).
_DROPPED: Final = dict.fromkeys(
    [
        *range(0x20),
        *range(0x7F, 0xA0),
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        0xFEFF,
    ]
)
# Characters Windows forbids in a name ("<>:\"|?*"; ":" also opens an NTFS stream).
_REPLACED: Final = {ord(char): "_" for char in '<>:"|?*'}
# Device names Windows reserves, whatever the extension ("con.txt" too).
_WINDOWS_RESERVED: Final = frozenset(
    {
        "con",
        "prn",
        "aux",
        "nul",
        "conin$",
        "conout$",
        *(f"{port}{digit}" for port in ("com", "lpt") for digit in "0123456789¹²³"),
    }
)
# 255 bytes: NAME_MAX on Linux filesystems (ext4, btrfs, XFS) and macOS APFS.
_MAX_FILENAME_BYTES = 255


def safe_filename(filename: str | None) -> str | None:
    """A basename safe to create on any common filesystem, from a client's filename.

    The name is NFKC-normalised (so look-alike slashes and dots from other
    scripts cannot turn into real ones later); control, bidirectional-override
    and BOM characters are dropped; everything up to the last ``/`` or ``\\`` is
    dropped (a path becomes its basename); Windows' forbidden characters
    ``<>:"|?*`` become ``_``; leading and trailing dots and spaces go (so ``..``
    and hidden ``.htaccess`` cannot come through, and Windows would drop trailing
    ones anyway); a Windows device name (``con``, ``aux.txt``, ``COM1``) gets a
    ``_`` prefix; a name over 255 UTF-8 bytes is shortened, keeping its
    extension. Non-ASCII letters are kept.

    ``safe_filename("../../etc/passwd")`` is ``"passwd"``;
    ``safe_filename("C:\\\\Users\\\\ada\\\\cv.pdf")`` is ``"cv.pdf"``.

    Args:
        filename: the filename as the client sent it (``PartStarted.filename``).

    Returns:
        The safe basename, or ``None`` when nothing usable is left (or
        ``filename`` is ``None``). Not unique: pick your own name when storing
        several files in one directory.
    """
    if filename is None:
        return None
    name = unicodedata.normalize("NFKC", filename).translate(_DROPPED)
    name = name.replace("\\", "/").rpartition("/")[2]
    name = name.translate(_REPLACED).strip(" .")
    if not name:
        return None
    if name.split(".", 1)[0].rstrip(" ").lower() in _WINDOWS_RESERVED:
        name = "_" + name
    encoded = name.encode("utf-8")
    if len(encoded) > _MAX_FILENAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        suffix = f".{extension}" if dot and stem and len(extension) <= 16 else ""
        stem = name[: len(name) - len(suffix)]
        room = _MAX_FILENAME_BYTES - len(suffix.encode("utf-8"))
        # Never empty: the name starts with neither dot nor space, and room >= 190.
        stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(" .")
        name = stem + suffix
    return name


# The parser


class _State(enum.Enum):
    PREAMBLE = "preamble"  # before the first delimiter: discarded
    BOUNDARY_LINE = "boundary line"  # after a delimiter: "--", or padding then CRLF
    HEADERS = "headers"  # a part's header section, up to the blank line
    BODY = "body"  # a part's content, up to the next delimiter
    EPILOGUE = "epilogue"  # after the close delimiter: discarded
    DONE = "done"  # end() accepted the body
    ERROR = "error"  # an error was raised: no more input


_NO_HEADERS = b""
_PART_ENDED = PartEnded()


class MultipartParser:
    """A push parser for one ``multipart/form-data`` body.

    Feed the body in pieces of any size, split anywhere; each ``feed`` returns
    the events the bytes completed. A part's content is never held back except
    for a tail shorter than the delimiter, which might be the start of one.

    Args:
        boundary: the boundary, from ``parse_boundary`` (bytes or str).
        limits: the limits to enforce; ``MultipartLimits()`` by default.

    Raises:
        MalformedFormError: ``boundary`` breaks RFC 2046 §5.1.1 (the client chose it).
    """

    __slots__ = (
        "_buf",
        "_delimiter",
        "_error",
        "_is_file",
        "_part_size",
        "_parts",
        "_pos",
        "_received",
        "_scan",
        "_state",
        "boundary",
        "limits",
    )

    def __init__(self, boundary: str | bytes, *, limits: MultipartLimits | None = None) -> None:
        self.boundary = _check_boundary(boundary)
        self.limits = limits if limits is not None else MultipartLimits()
        # RFC 2046 §5.1.1: "the boundary delimiter ... is defined as a line consisting
        # entirely of two hyphen characters followed by the boundary"; the CRLF before
        # it "is conceptually attached to the boundary".
        self._delimiter = b"\r\n--" + self.boundary
        self._state = _State.PREAMBLE
        # The first dash-boundary may open the body with no CRLF before it: start
        # with a virtual CRLF so one search for the delimiter finds both cases.
        self._buf = b"\r\n"
        self._pos = 0  # first unconsumed byte of _buf
        self._scan = 0  # where the search for a part's end of headers resumes
        self._received = 0  # body bytes fed so far
        self._parts = 0  # parts started so far
        self._part_size = 0  # content bytes of the current part
        self._is_file = False  # whether the current part has a filename
        self._error: FormError | None = None

    @property
    def state(self) -> str:
        """Where the parser is: ``"preamble"``, ``"headers"``, ``"body"``, ``"epilogue"``..."""
        return self._state.value

    def feed(self, data: bytes) -> list[MultipartEvent]:
        """Parse the next piece of the body.

        Args:
            data: the bytes that follow what was fed before (may be empty).

        Returns:
            The events these bytes completed, in order.

        Raises:
            MalformedFormError: the body breaks RFC 2046 / RFC 7578.
            FormTooLargeError: the body breaks a limit.
            RuntimeError: ``end()`` accepted the body already.
        """
        self._check_open()
        if data:
            self._received += len(data)
            max_size = self.limits.max_size
            if max_size is not None and self._received > max_size:
                detail = f"form body larger than {max_size} bytes"
                self._fail(_too_large(detail, "max_size", max_size))
            # _pos is 0 here: the previous feed dropped what it consumed.
            buf = self._buf
            self._buf = buf + data if buf else bytes(data)
        events: list[MultipartEvent] = []
        try:
            self._run(events)
        except FormError as exc:
            self._fail(exc)
        # Drop what was consumed: at most a delimiter's length (or an incomplete
        # header section, bounded by max_header_size) stays.
        pos = self._pos
        if pos:
            self._buf = self._buf[pos:]
            self._scan = max(self._scan - pos, 0)
            self._pos = 0
        return events

    def end(self) -> None:
        """Say the body is complete.

        An empty body is taken as a form with no parts (some clients send one
        for a form with no fields).

        Raises:
            MalformedFormError: the body ended before the close delimiter
                (``--boundary--``): it was truncated, or never was multipart.
            RuntimeError: ``end()`` accepted the body already.
        """
        self._check_open()
        if self._state is _State.EPILOGUE or self._received == 0:
            self._state = _State.DONE
            return
        where = {
            _State.PREAMBLE: "before the first boundary",
            _State.BOUNDARY_LINE: "in a boundary line",
            _State.HEADERS: "in a part's header section",
            _State.BODY: "in a part's content",
        }[self._state]
        self._fail(MalformedFormError(f"multipart body ended {where}, without a closing boundary"))

    def _check_open(self) -> None:
        if self._state is _State.ERROR:
            assert self._error is not None
            raise RuntimeError(f"the multipart parser failed already: {self._error.detail}")
        if self._state is _State.DONE:
            raise RuntimeError("the multipart body was ended already")

    def _fail(self, error: FormError) -> NoReturn:
        self._state = _State.ERROR
        self._error = error
        self._buf = b""
        self._pos = 0
        raise error

    def _run(self, events: list[MultipartEvent]) -> None:
        # Every transition is in the step functions below, each of which returns
        # whether it moved (True: run again; False: it needs more bytes).
        while True:
            match self._state:
                case _State.BODY:
                    moved = self._body(events)
                case _State.HEADERS:
                    moved = self._headers(events)
                case _State.BOUNDARY_LINE:
                    moved = self._boundary_line()
                case _State.PREAMBLE:
                    moved = self._preamble()
                case _State.EPILOGUE:
                    # RFC 2046 §5.1.1: the epilogue is to be ignored.
                    self._pos = len(self._buf)
                    moved = False
                case _:  # pragma: no cover - feed() refuses DONE and ERROR first
                    raise AssertionError(self._state)
            if not moved:
                return

    def _preamble(self) -> bool:
        # RFC 2046 §5.1.1: the preamble "is to be ignored": keep only a tail that
        # might be the start of the delimiter.
        buf = self._buf
        delimiter = self._delimiter
        found = buf.find(delimiter, self._pos)
        if found < 0:
            self._pos = max(self._pos, len(buf) - len(delimiter) + 1)
            return False
        self._pos = found + len(delimiter)
        self._state = _State.BOUNDARY_LINE
        return True

    def _boundary_line(self) -> bool:
        # After a delimiter: "--" closes the body (close-delimiter); otherwise
        # transport-padding (*LWSP-char, which "receivers MUST be able to handle")
        # then CRLF, and a part begins.
        buf = self._buf
        pos = self._pos
        if len(buf) - pos < 2:
            if len(buf) > pos and buf[pos] not in b"- \t\r":
                raise MalformedFormError("unexpected bytes after a multipart boundary")
            return False
        if buf.startswith(b"--", pos):
            self._pos = pos + 2
            self._state = _State.EPILOGUE
            return True
        limit = self.limits.max_header_size
        end = buf.find(b"\r\n", pos)
        padding = buf[pos : len(buf) if end < 0 else end]
        # While the CRLF is incomplete, a lone CR may end what we have.
        spaces = padding[:-1] if end < 0 and padding.endswith(b"\r") else padding
        if spaces.translate(None, b" \t"):
            # Anything else after the boundary: the boundary appeared inside the
            # content, which RFC 2046 §5.1.1 forbids, or lines end with bare LF.
            raise MalformedFormError("unexpected bytes after a multipart boundary")
        if limit is not None and len(padding) > limit:
            raise _too_large(
                f"multipart boundary line padding over {limit} bytes", "max_header_size", limit
            )
        if end < 0:
            return False
        max_parts = self.limits.max_parts
        if max_parts is not None and self._parts >= max_parts:
            raise _too_large(f"more than {max_parts} multipart parts", "max_parts", max_parts)
        self._parts += 1
        self._pos = self._scan = end + 2
        self._state = _State.HEADERS
        return True

    def _headers(self, events: list[MultipartEvent]) -> bool:
        buf = self._buf
        pos = self._pos
        limit = self.limits.max_header_size
        if buf.startswith(b"\r\n", pos):
            section = _NO_HEADERS  # a part with no header fields at all
            after = pos + 2
        else:
            stop = len(buf) if limit is None else pos + limit
            end = buf.find(b"\r\n\r\n", max(self._scan, pos), stop)
            if end < 0:
                if limit is not None and len(buf) - pos >= limit:
                    raise _too_large(
                        f"multipart part header section over {limit} bytes",
                        "max_header_size",
                        limit,
                    )
                self._scan = max(pos, len(buf) - 3)
                return False
            section = buf[pos:end]
            after = end + 4
        started = _part_started(section)
        events.append(started)
        self._is_file = started.filename is not None
        self._part_size = 0
        self._pos = after
        self._state = _State.BODY
        return True

    def _body(self, events: list[MultipartEvent]) -> bool:
        buf = self._buf
        pos = self._pos
        delimiter = self._delimiter
        found = buf.find(delimiter, pos)
        if found >= 0:
            if found > pos:
                self._data(events, buf[pos:found])
            events.append(_PART_ENDED)
            self._pos = found + len(delimiter)
            self._state = _State.BOUNDARY_LINE
            return True
        # No whole delimiter: everything is content except a tail that could be the
        # start of one (a CR, then a prefix of "\n--boundary"). Only CRs in the last
        # len(delimiter) - 1 bytes can start such a tail, so this loop is short.
        safe = len(buf)
        candidate = buf.find(b"\r", max(pos, safe - len(delimiter) + 1))
        while candidate >= 0:
            if delimiter.startswith(buf[candidate:]):
                safe = candidate
                break
            candidate = buf.find(b"\r", candidate + 1)
        if safe > pos:
            # A whole-buffer slice of bytes is the buffer itself: no copy then.
            self._data(events, buf[pos:safe])
            self._pos = safe
        return False

    def _data(self, events: list[MultipartEvent], data: bytes) -> None:
        self._part_size += len(data)
        if self._is_file:
            name, limit = "max_file_size", self.limits.max_file_size
        else:
            name, limit = "max_field_size", self.limits.max_field_size
        if limit is not None and self._part_size > limit:
            what = "file" if self._is_file else "field"
            raise _too_large(f"multipart {what} larger than {limit} bytes", name, limit)
        events.append(PartData(data=data))


def _header_fields(section: bytes) -> list[tuple[str, str]]:
    """Split a part's header section into ``(name, value)`` pairs (latin-1 text).

    Raises:
        MalformedFormError: a line is not a header field.
    """
    if not section:
        return []
    text = section.decode("latin-1")
    lines = text.split("\r\n")
    # Every CR and LF must be part of a CRLF between two lines; a bare one, or NUL,
    # is how header injection hides (RFC 9112 §2.2 rules, applied to parts too).
    if text.count("\r") + text.count("\n") != 2 * (len(lines) - 1) or "\x00" in text:
        raise MalformedFormError("bare CR, bare LF or NUL in a multipart part header")
    result: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            # RFC 5322 §2.2.3 (MIME headers): a line starting with whitespace
            # continues the previous field; unfold it.
            if not result:
                raise MalformedFormError("multipart part header starts with whitespace")
            previous_name, previous = result[-1]
            result[-1] = (previous_name, f"{previous} {line.strip(' ' + chr(9))}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise MalformedFormError(f"invalid multipart part header line {line[:60]!r}")
        result.append((name, value.strip(" \t")))
    return result


def _part_started(section: bytes) -> PartStarted:
    """The ``PartStarted`` event for a part's header section.

    Raises:
        MalformedFormError: the headers are malformed, or the Content-Disposition
            is missing, repeated, not ``form-data`` or without a ``name``.
    """
    headers = Headers(_header_fields(section))
    dispositions = headers.get_all("content-disposition")
    # RFC 7578 §4.2: "Each part MUST contain a Content-Disposition header field
    # where the disposition type is "form-data". The Content-Disposition header
    # field MUST also contain an additional parameter of "name"".
    if len(dispositions) != 1:
        what = "no" if not dispositions else "more than one"
        raise MalformedFormError(f"multipart part with {what} Content-Disposition header")
    disposition = dispositions[0]
    semicolon = disposition.find(";")
    kind = (disposition if semicolon < 0 else disposition[:semicolon]).strip(" \t")
    if kind.lower() != "form-data":  # RFC 2183 §2.8: the type is case-insensitive
        raise MalformedFormError(f"multipart part disposition is {kind[:40]!r}, not form-data")
    params = {} if semicolon < 0 else _parameters(disposition, semicolon, "Content-Disposition")
    name = params.get("name")
    if name is None:
        raise MalformedFormError("multipart part Content-Disposition has no name parameter")
    # RFC 7578 §4.2 says senders MUST NOT use RFC 5987's filename*, but some
    # clients do; RFC 6266 §4.3: when both are present, pick filename*.
    extended = params.get("filename*")
    if extended is not None:
        filename: str | None = _ext_value(extended)
    else:
        plain = params.get("filename")
        filename = None if plain is None else _text(plain)
    content_type = headers.get("content-type")
    return PartStarted(
        name=_text(name),
        filename=filename,
        content_type="text/plain" if content_type is None else _text(content_type),
        headers=headers,
    )


# The collector

# 1 MiB: files up to this size stay in memory (fast, no disk I/O for the small
# uploads that are the common case); bigger ones move to a temporary file as they
# grow, so memory per upload is bounded whatever its size.
DEFAULT_SPOOL_THRESHOLD = 1024 * 1024

# 8 MiB: the most a collector keeps in memory at once, fields and unspooled files
# together. max_parts small files could otherwise add up to max_parts times the
# threshold (1 GiB with the defaults); past this budget files go to disk early,
# and fields, which cannot, get 413.
DEFAULT_MAX_MEMORY_SIZE = 8 * 1024 * 1024


class UploadFile:
    """A file part a ``MultipartCollector`` received.

    Attributes:
        name: the form field name.
        filename: the filename as sent (may hold a path, or be ``""``): use
            ``safe_filename`` for anything touching a disk.
        content_type: the part's ``Content-Type``.
        headers: the part's header fields.
        size: the content's size, in bytes.
        file: the content, a ``SpooledTemporaryFile`` positioned at 0 once the
            part is complete.
        in_memory: whether the content is still in memory (not spooled to disk).
    """

    __slots__ = (
        "__weakref__",
        "_finalizer",
        "content_type",
        "file",
        "filename",
        "headers",
        "in_memory",
        "name",
        "size",
    )

    def __init__(
        self,
        *,
        name: str,
        filename: str,
        content_type: str,
        headers: Headers,
        file: tempfile.SpooledTemporaryFile[bytes],
    ) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.headers = headers
        self.file = file
        self.size = 0
        self.in_memory = True
        # Closes the file when this object is garbage, if nobody closed it: a
        # spooled file then goes away without a ResourceWarning. close() runs it
        # at once (a finalizer runs once at most).
        self._finalizer = weakref.finalize(self, file.close)

    @property
    def safe_filename(self) -> str | None:
        """``safe_filename(self.filename)``: a basename safe to store, or ``None``."""
        return safe_filename(self.filename)

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all that is left when negative)."""
        return self.file.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move the read position, as ``io.IOBase.seek``; returns the new position."""
        return self.file.seek(offset, whence)

    def close(self) -> None:
        """Close the file (deleting the temporary file if spooled); a no-op once closed.

        ``Request.close()`` does this for every file of a form once the request
        is done, and so does the garbage collector for a file nobody closed.
        """
        self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether the file is closed."""
        return self.file.closed

    def __enter__(self) -> UploadFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<UploadFile {self.name!r} filename={self.filename!r} "
            f"content_type={self.content_type!r} size={self.size}>"
        )


def _charset(content_type: str) -> str | None:
    semicolon = content_type.find(";")
    if semicolon < 0:
        return None
    try:
        return _parameters(content_type, semicolon, "Content-Type").get("charset")
    except MalformedFormError:
        return None  # a field's own Content-Type only matters for its charset


class MultipartCollector:
    """Collects a ``multipart/form-data`` body into fields and files, sans-I/O.

    ``feed`` the body, then ``end()`` returns a ``FormData`` whose values are
    ``str`` (plain fields) and ``UploadFile`` (parts with a filename). The
    collector owns the files until ``end()`` returns; after that the caller
    does, and ``close()`` closes them all.

    Fields are decoded with their part's ``charset``, else the value of a
    ``_charset_`` field (RFC 7578 §4.6), else ``default_charset``; bytes that
    don't decode become U+FFFD, as in urlencoded forms.

    Args:
        boundary: the boundary, from ``parse_boundary``.
        limits: the parser's limits (``MultipartLimits()`` by default).
        spool_threshold: a file bigger than this many bytes moves to disk.
        max_memory_size: most bytes held in memory at once (fields and unspooled
            files); ``None`` for no budget. Past it files spool early, and
            fields raise ``FormTooLargeError`` (413, ``limit="max_memory_size"``).
        strip_brackets: store ``name[]`` under ``name`` (``strip_list_suffix``).
        default_charset: the charset of fields that name none.
        temp_dir: where spooled files go (``tempfile``'s default when ``None``).

    Raises:
        MalformedFormError: ``boundary`` is invalid.
        ValueError: ``spool_threshold`` or ``max_memory_size`` is invalid.
    """

    def __init__(
        self,
        boundary: str | bytes,
        *,
        limits: MultipartLimits | None = None,
        spool_threshold: int = DEFAULT_SPOOL_THRESHOLD,
        max_memory_size: int | None = DEFAULT_MAX_MEMORY_SIZE,
        strip_brackets: bool = True,
        default_charset: str = "utf-8",
        temp_dir: str | None = None,
    ) -> None:
        if isinstance(spool_threshold, bool) or not isinstance(spool_threshold, int):
            raise ValueError(f"spool_threshold must be an int >= 0, not {spool_threshold!r}")
        if spool_threshold < 0:
            raise ValueError(f"spool_threshold must be an int >= 0, not {spool_threshold!r}")
        if max_memory_size is not None and (
            isinstance(max_memory_size, bool)
            or not isinstance(max_memory_size, int)
            or max_memory_size < 0
        ):
            raise ValueError(
                f"max_memory_size must be an int >= 0 or None, not {max_memory_size!r}"
            )
        self.parser = MultipartParser(boundary, limits=limits)
        self.spool_threshold = spool_threshold
        self.max_memory_size = max_memory_size
        self.strip_brackets = strip_brackets
        self.default_charset = default_charset
        self.temp_dir = temp_dir
        # (name, raw value or file, charset of the part or None), in order.
        self._parts: list[tuple[str, bytearray | UploadFile, str | None]] = []
        self._files: list[UploadFile] = []
        self._current: bytearray | UploadFile | None = None
        self._memory = 0  # bytes of fields and in-memory files held
        self._failed = False

    def feed(self, data: bytes) -> None:
        """Parse the next piece of the body.

        Raises:
            FormError: the body is malformed or breaks a limit (the files
                received so far are closed).
            RuntimeError: the collector failed or ended already.
        """
        self._check_usable()
        try:
            for event in self.parser.feed(data):
                self._handle(event)
        except FormError:
            self._failed = True
            self.close()
            raise

    def end(self) -> FormData[str | UploadFile]:
        """Finish the body and return its fields and files, in order.

        Raises:
            FormError: the body was truncated, or a charset is unknown (400).
            RuntimeError: the collector failed or ended already.
        """
        self._check_usable()
        try:
            self.parser.end()
            return self._result()
        except FormError:
            self._failed = True
            self.close()
            raise

    def _check_usable(self) -> None:
        # The parser refuses input after its own errors; this covers the
        # collector's (max_memory_size, unknown charset) too.
        if self._failed:
            raise RuntimeError("the multipart collector failed already")

    def close(self) -> None:
        """Close every file received (spooled ones are deleted)."""
        for upload in self._files:
            upload.close()

    def _handle(self, event: MultipartEvent) -> None:
        if isinstance(event, PartData):
            current = self._current
            data = event.data
            if isinstance(current, UploadFile):
                current.file.write(data)
                current.size += len(data)
                if current.in_memory:
                    if current.size > self.spool_threshold:
                        # SpooledTemporaryFile moved itself to disk on this write.
                        current.in_memory = False
                        self._memory -= current.size - len(data)
                    else:
                        self._memory += len(data)
                        self._check_memory()
            else:
                assert current is not None
                current += data
                self._memory += len(data)
                self._check_memory()
        elif isinstance(event, PartStarted):
            name = strip_list_suffix(event.name) if self.strip_brackets else event.name
            if event.filename is not None:
                upload = UploadFile(
                    name=name,
                    filename=event.filename,
                    content_type=event.content_type,
                    headers=event.headers,
                    # Owned by the UploadFile; close() (ours or the caller's) closes it.
                    file=tempfile.SpooledTemporaryFile(  # noqa: SIM115
                        max_size=self.spool_threshold, mode="w+b", dir=self.temp_dir
                    ),
                )
                if not self.spool_threshold:
                    # SpooledTemporaryFile(max_size=0) never rolls over: go to disk now.
                    upload.file.rollover()
                    upload.in_memory = False
                self._files.append(upload)
                self._parts.append((name, upload, None))
                self._current = upload
            else:
                value = bytearray()
                self._parts.append((name, value, _charset(event.content_type)))
                self._current = value
        else:  # PartEnded
            if isinstance(self._current, UploadFile):
                self._current.file.seek(0)
            self._current = None

    def _check_memory(self) -> None:
        budget = self.max_memory_size
        if budget is None or self._memory <= budget:
            return
        # Over budget: move every file still in memory to disk, then see whether
        # the fields alone fit.
        for upload in self._files:
            if upload.in_memory and upload.size:
                upload.file.rollover()
                upload.in_memory = False
                self._memory -= upload.size
        if self._memory > budget:
            raise FormTooLargeError(
                f"form fields larger than {budget} bytes in all",
                limit="max_memory_size",
                value=budget,
            )

    def _result(self) -> FormData[str | UploadFile]:
        default = self.default_charset
        # RFC 7578 §4.6: a "_charset_" field names the charset of fields without one.
        for name, value, _ in self._parts:
            if name == "_charset_" and isinstance(value, bytearray):
                default = value.decode("ascii", "replace").strip() or default
                break
        fields: list[tuple[str, str | UploadFile]] = []
        for name, value, charset in self._parts:
            if isinstance(value, UploadFile):
                fields.append((name, value))
                continue
            encoding = charset or default
            try:
                fields.append((name, value.decode(encoding, "replace")))
            except LookupError:
                raise MalformedFormError(f"unknown charset {encoding[:40]!r}") from None
        return FormData(fields)


# All the limits of Request.form()

_MULTIPART_DEFAULTS: Final = MultipartLimits()


@dataclass(frozen=True, slots=True, kw_only=True)
class FormLimits:
    """The limits ``Request.form()`` enforces, for both form types. ``None`` disables one.

    Breaking a limit answers 413 (``FormTooLargeError``, whose ``limit`` is the
    attribute name below). With a ``Content-Encoding``, the size limits apply to
    the decoded body, and the decoder stops at the same size
    (``DecodedContentTooLarge``, also 413).

    Attributes:
        max_urlencoded_size: largest ``application/x-www-form-urlencoded`` body,
            in bytes (it is held in memory while parsed).
        max_fields: most fields of an urlencoded body.
        max_size: largest ``multipart/form-data`` body, in bytes, every part
            included (what a file upload may weigh in all).
        max_parts: most parts (fields and files together) of a multipart body.
        max_header_size: largest header section of one part, in bytes.
        max_field_size: largest plain field (a part without a filename), in bytes.
        max_file_size: largest file, in bytes; ``None`` by default (``max_size``
            bounds it).
        max_memory_size: most bytes of fields and small files held in memory at
            once; past it, files move to disk early and fields are refused.
    """

    max_urlencoded_size: int | None = DEFAULT_MAX_URLENCODED_SIZE
    max_fields: int | None = DEFAULT_MAX_FIELDS
    max_size: int | None = _MULTIPART_DEFAULTS.max_size
    max_parts: int | None = _MULTIPART_DEFAULTS.max_parts
    max_header_size: int | None = _MULTIPART_DEFAULTS.max_header_size
    max_field_size: int | None = _MULTIPART_DEFAULTS.max_field_size
    max_file_size: int | None = _MULTIPART_DEFAULTS.max_file_size
    max_memory_size: int | None = DEFAULT_MAX_MEMORY_SIZE
    _multipart: MultipartLimits = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("max_urlencoded_size", "max_fields", "max_memory_size"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise ValueError(f"{name} must be an int >= 0 or None, not {value!r}")
        # MultipartLimits checks its own (and is built once, here).
        multipart = MultipartLimits(
            max_size=self.max_size,
            max_parts=self.max_parts,
            max_header_size=self.max_header_size,
            max_field_size=self.max_field_size,
            max_file_size=self.max_file_size,
        )
        object.__setattr__(self, "_multipart", multipart)

    @property
    def multipart(self) -> MultipartLimits:
        """The limits of the multipart parser (``max_size`` to ``max_file_size``)."""
        return self._multipart
