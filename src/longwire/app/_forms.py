"""Form bodies: ``FormData``, the errors form parsers raise, and the urlencoded parser.

``application/x-www-form-urlencoded`` is parsed as the WHATWG URL Standard says
(§5.1 "application/x-www-form-urlencoded parsing"): split on ``&``, split each
non-empty piece at its first ``=``, turn ``+`` into a space, percent-decode the
bytes, then decode them as UTF-8 with invalid sequences replaced by U+FFFD. That
is what browsers send and what ``URLSearchParams`` reads, so a name or value
survives a browser round trip unchanged.

Sans-I/O: the caller feeds body bytes (``UrlencodedParser``) or hands over the
whole body (``parse_urlencoded``); nothing here reads a socket.

The errors are ``HTTPError`` subclasses, so a handler that lets one propagate
answers with the right status, and the text tells the client what was wrong::

    HTTPError
    └── FormError                   a body could not be read as a form
        ├── MalformedFormError      400: the bytes break the format's grammar
        ├── FormTooLargeError       413: a limit was exceeded (``limit`` names it)
        └── UnsupportedFormTypeError  415: the Content-Type is not the form type expected

``_multipart`` raises the same classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar, overload
from urllib.parse import unquote_to_bytes

from ._errors import HTTPError

__all__ = [
    "DEFAULT_MAX_FIELDS",
    "DEFAULT_MAX_URLENCODED_SIZE",
    "FormData",
    "FormError",
    "FormTooLargeError",
    "MalformedFormError",
    "UnsupportedFormTypeError",
    "UrlencodedParser",
    "parse_urlencoded",
    "strip_list_suffix",
]

# Covariant: a FormData is read-only, so a FormData[str] (a urlencoded form) is
# a FormData[str | UploadFile] (what Request.form() returns) too.
V_co = TypeVar("V_co", covariant=True)
D = TypeVar("D")

# Limits

# 1000 fields: PHP's max_input_vars, Django's DATA_UPLOAD_MAX_NUMBER_FIELDS and
# Werkzeug's max_form_parts all default to 1000, so a form that works elsewhere
# works here. Real forms carry tens of fields; a body of a million "a&a&a..."
# pieces costs a million small objects, which is what the bound stops.
DEFAULT_MAX_FIELDS = 1000

# 2 MiB: the whole body is held in memory (the result holds all of it anyway).
# Urlencoded forms carry text; files travel as multipart. Django's
# DATA_UPLOAD_MAX_MEMORY_SIZE is 2.5 MB for the same reason.
DEFAULT_MAX_URLENCODED_SIZE = 2 * 1024 * 1024


# Errors


class FormError(HTTPError):
    """A request body could not be read as a form.

    The ``detail`` is safe to send to the client: it describes what the client
    sent, never our internals.

    Args:
        detail: what was wrong, in one line.
        status: the HTTP status to answer with.
    """

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(status, detail)


class MalformedFormError(FormError):
    """The body (or its Content-Type) breaks the grammar of its format: 400 Bad Request."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, 400)


class FormTooLargeError(FormError):
    """The body exceeds a limit: 413 Content Too Large (RFC 9110 §15.5.14).

    Attributes:
        limit: the name of the limit that was exceeded, e.g. ``"max_fields"``.
        value: that limit's value.
    """

    def __init__(self, detail: str, *, limit: str, value: int) -> None:
        super().__init__(detail, 413)
        self.limit = limit
        self.value = value


class UnsupportedFormTypeError(FormError):
    """The Content-Type is missing or not the form type expected: 415 (RFC 9110 §15.5.16)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, 415)


def _check_limit(name: str, value: int | None) -> int | None:
    # A limit is an int >= 0 or None; anything else is a programming error.
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"{name} must be an int >= 0 or None, not {value!r}")
    return value


# FormData


def strip_list_suffix(name: str) -> str:
    """``name`` without a trailing ``[]`` (``"tags[]"`` -> ``"tags"``).

    PHP, Rails and JavaScript libraries (jQuery's ``$.param``, ``qs`` with
    ``arrayFormat: "brackets"``) name repeated fields ``tags[]``. Stripping the
    suffix lets ``form.getall("tags")`` work whichever convention the client
    follows. Only an exact trailing ``[]`` goes: ``a[b]`` (PHP's nested arrays)
    is kept verbatim, and so is a name that is just ``[]``.
    """
    if name.endswith("[]") and len(name) > 2:
        return name[:-2]
    return name


class FormData(Generic[V_co]):
    """Form fields: an ordered multi-dict, read-only.

    Repeated names keep every value, in the order they were sent. ``form[name]``
    and ``get`` give the *first* value (as ``Request.query`` does); ``getall``
    gives them all. Iterating (and ``len``) covers the distinct names, like a
    ``dict``; ``items()`` gives every ``(name, value)`` pair, repeats included.

    Args:
        fields: ``(name, value)`` pairs, in order.
    """

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: Iterable[tuple[str, V_co]] = ()) -> None:
        self._fields: list[tuple[str, V_co]] = list(fields)
        index: dict[str, list[V_co]] = {}
        for name, value in self._fields:
            values = index.get(name)
            if values is None:
                index[name] = [value]
            else:
                values.append(value)
        self._index = index

    @overload
    def get(self, name: str) -> V_co | None: ...
    @overload
    def get(self, name: str, default: D) -> V_co | D: ...

    def get(self, name: str, default: object = None) -> object:
        """The first value of ``name``, or ``default`` when absent."""
        values = self._index.get(name)
        return default if values is None else values[0]

    def getall(self, name: str) -> list[V_co]:
        """Every value of ``name``, in order (an empty list when absent)."""
        return list(self._index.get(name, ()))

    getlist = getall

    def items(self) -> list[tuple[str, V_co]]:
        """Every ``(name, value)`` pair, in order, repeated names included."""
        return list(self._fields)

    def keys(self) -> list[str]:
        """The distinct names, in the order of their first appearance."""
        return list(self._index)

    def values(self) -> list[V_co]:
        """Every value, in order, repeated names included."""
        return [value for _, value in self._fields]

    def to_dict(self) -> dict[str, V_co]:
        """A ``dict`` of each name's first value."""
        return {name: values[0] for name, values in self._index.items()}

    def __getitem__(self, name: str) -> V_co:
        return self._index[name][0]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __bool__(self) -> bool:
        return bool(self._fields)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FormData):
            return self._fields == other._fields
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compares by content, like a list

    def __repr__(self) -> str:
        return f"FormData({self._fields!r})"


# application/x-www-form-urlencoded


def _decode(raw: bytes) -> str:
    # WHATWG URL §5.1 steps 3.3-3.4: "+" becomes 0x20 *before* percent-decoding
    # (so "%2B" stays a plus), then percent-decode the bytes (a "%" not followed by
    # two hex digits stays literal: unquote_to_bytes does the same), then "UTF-8
    # decode without BOM or fail" -> a BOM is kept as U+FEFF, and invalid sequences
    # become U+FFFD, which is what errors="replace" does.
    if b"+" in raw:
        raw = raw.replace(b"+", b" ")
    if b"%" in raw:
        raw = unquote_to_bytes(raw)
    return raw.decode("utf-8", "replace")


class UrlencodedParser:
    """An incremental ``application/x-www-form-urlencoded`` parser.

    Feed the body as it arrives, then call ``end()`` for the fields. Complete
    fields are parsed as soon as the ``&`` after them arrives, so the field
    limit trips early and the work is spread over the feeds; what waits for
    its ``&`` is at most ``max_size`` bytes.

    Args:
        max_fields: most fields (non-empty ``&``-separated pieces); beyond: 413.
        max_size: largest body in bytes; beyond: 413.
        strip_brackets: store ``name[]`` under ``name`` (``strip_list_suffix``).

    Raises:
        ValueError: a limit is neither ``None`` nor an int >= 0.
    """

    __slots__ = ("_buf", "_closed", "_fields", "_size", "max_fields", "max_size", "strip_brackets")

    def __init__(
        self,
        *,
        max_fields: int | None = DEFAULT_MAX_FIELDS,
        max_size: int | None = DEFAULT_MAX_URLENCODED_SIZE,
        strip_brackets: bool = True,
    ) -> None:
        self.max_fields = _check_limit("max_fields", max_fields)
        self.max_size = _check_limit("max_size", max_size)
        self.strip_brackets = strip_brackets
        self._buf = bytearray()
        self._fields: list[tuple[str, str]] = []
        self._size = 0
        self._closed = False

    def feed(self, data: bytes) -> None:
        """Add the next piece of the body.

        Raises:
            FormTooLargeError: the body exceeds ``max_size`` or has more than
                ``max_fields`` fields.
            RuntimeError: ``end()`` was called already.
        """
        if self._closed:
            raise RuntimeError("feed() after end()")
        if not data:
            return
        self._size += len(data)
        if self.max_size is not None and self._size > self.max_size:
            limit = self.max_size
            raise FormTooLargeError(
                f"form body larger than {limit} bytes", limit="max_size", value=limit
            )
        buf = self._buf
        buf += data
        # Only the new bytes can hold a new "&": search them alone, so feeding a
        # long field byte by byte stays linear.
        cut = buf.rfind(b"&", len(buf) - len(data))
        if cut >= 0:
            self._parse(bytes(buf[:cut]))
            del buf[: cut + 1]

    def end(self) -> FormData[str]:
        """Finish the body and return its fields.

        Raises:
            FormTooLargeError: the last field is one too many.
            RuntimeError: ``end()`` was called already.
        """
        if self._closed:
            raise RuntimeError("end() called twice")
        self._closed = True
        if self._buf:
            self._parse(bytes(self._buf))
            self._buf.clear()
        return FormData(self._fields)

    def _parse(self, chunk: bytes) -> None:
        fields = self._fields
        limit = self.max_fields
        strip = self.strip_brackets
        # WHATWG URL §5.1 step 1: split on "&"; step 3.1: skip empty sequences.
        for piece in chunk.split(b"&"):
            if not piece:
                continue
            if limit is not None and len(fields) >= limit:
                raise FormTooLargeError(
                    f"more than {limit} form fields", limit="max_fields", value=limit
                )
            # Step 3.2: name before the first "=", value after; no "=" -> empty value.
            raw_name, _, raw_value = piece.partition(b"=")
            name = _decode(raw_name)
            if strip:
                name = strip_list_suffix(name)
            fields.append((name, _decode(raw_value)))


def parse_urlencoded(
    body: bytes | str,
    *,
    max_fields: int | None = DEFAULT_MAX_FIELDS,
    max_size: int | None = DEFAULT_MAX_URLENCODED_SIZE,
    strip_brackets: bool = True,
) -> FormData[str]:
    """Parse a whole ``application/x-www-form-urlencoded`` body (or a query string).

    ``parse_urlencoded(b"a=1&tags[]=x&tags[]=y&q=caf%C3%A9+au+lait")`` gives
    ``a`` -> ``"1"``, ``tags`` -> ``["x", "y"]``, ``q`` -> ``"café au lait"``.

    Args:
        body: the body; a ``str`` is encoded as UTF-8 first.
        max_fields: most fields; beyond: 413.
        max_size: largest body in bytes (of ``body`` as UTF-8); beyond: 413.
        strip_brackets: store ``name[]`` under ``name`` (``strip_list_suffix``).

    Returns:
        The fields, in order, repeated names kept.

    Raises:
        FormTooLargeError: a limit was exceeded.
        ValueError: a limit is neither ``None`` nor an int >= 0.
    """
    parser = UrlencodedParser(
        max_fields=max_fields, max_size=max_size, strip_brackets=strip_brackets
    )
    parser.feed(body.encode("utf-8") if isinstance(body, str) else body)
    return parser.end()
