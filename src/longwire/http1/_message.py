"""What reading and writing HTTP/1.1 messages share.

The reader (``_readers``) and the writer (``_writers``) apply the same rules to
the messages they handle: which fields frame a message, how its body is delimited
(RFC 9112 §6), whether the connection persists after it (RFC 9112 §9.3). Those
rules, the field-name cache both validate names through, and ``Cycle``, the record
of one request and its response that both directions update, live here, once.
"""

from __future__ import annotations

from typing import Final

from . import _abnf

__all__ = [
    "CHUNKED",
    "LENGTH",
    "NAME_CACHE",
    "NO_BODY",
    "NO_CONTENT",
    "SPECIAL_FIELDS",
    "UNTIL_CLOSE",
    "WHITESPACE",
    "Cycle",
    "coding_names",
    "list_tokens",
    "lower_field_name",
    "persistent",
]

# How a body is delimited (RFC 9112 §6.3).
NO_BODY: Final = 0  # HEAD, 1xx, 204, 304, or a request without framing headers
LENGTH: Final = 1  # Content-Length
CHUNKED: Final = 2  # Transfer-Encoding ending in chunked
UNTIL_CLOSE: Final = 3  # a response read until the connection closes

# The fields that decide how a message is framed or whether the connection lives.
SPECIAL_FIELDS: Final = frozenset(
    ("content-length", "transfer-encoding", "host", "connection", "upgrade", "expect")
)

# Field names seen before, mapped to their lowercase form: one dict lookup both
# proves a name is a valid token and lowercases it. Names repeat across requests
# ("Host", "Accept", ...), so this saves a regex match and a str.lower() per line.
# Bounded (entries and name length) so a peer inventing names cannot grow it.
NAME_CACHE: dict[str, str] = {}
_NAME_CACHE_SIZE: Final = 512
_NAME_CACHE_NAME_LENGTH: Final = 64

WHITESPACE: Final = " \t"  # OWS / BWS (RFC 9110 §5.6.3)
# Statuses whose responses never have content (RFC 9110 §15.3.5, §15.4.5).
NO_CONTENT: Final = frozenset((204, 304))

_TOKEN = _abnf.TOKEN.fullmatch


class Cycle:
    """One request and its response, from the request head to the response's end."""

    __slots__ = ("http11", "keep_alive", "method", "switch", "waiting_100")

    def __init__(self, method: str, http11: bool, keep_alive: bool, switch: str | None) -> None:
        self.method = method
        # Whether the request was HTTP/1.1 (its response may use chunked and 1xx).
        self.http11 = http11
        # Whether the connection may be reused after this cycle: the request's say,
        # then also the response's once it is known (RFC 9112 §9.3).
        self.keep_alive = keep_alive
        # "upgrade" or "connect" while a protocol switch is proposed and undecided.
        self.switch = switch
        # Expect: 100-continue and no body byte nor answer has gone by yet.
        self.waiting_100 = False


def lower_field_name(name: str) -> str | None:
    """The lowercase form of field name ``name``, or ``None`` if it is not a token."""
    if not _TOKEN(name):
        return None
    lower = name.lower()
    if len(NAME_CACHE) < _NAME_CACHE_SIZE and len(name) <= _NAME_CACHE_NAME_LENGTH:
        NAME_CACHE[name] = lower
    return lower


def persistent(connection: list[str], http11: bool) -> bool:
    """Whether a message with these Connection values lets the connection persist.

    RFC 9112 §9.3: HTTP/1.1 persists unless "close" is given; HTTP/1.0 persists
    only when "keep-alive" is.
    """
    if not connection:
        return http11
    if len(connection) == 1 and "," not in connection[0]:
        # The common case: one field with one option (values arrive stripped).
        token = connection[0].lower()
        return token != "close" and (http11 or token == "keep-alive")
    tokens = list_tokens(connection)
    return "close" not in tokens and (http11 or "keep-alive" in tokens)


def list_tokens(values: list[str]) -> set[str]:
    # RFC 9110 §5.6.1: #element lists; tokens compared case-insensitively.
    return {token.strip(WHITESPACE).lower() for value in values for token in value.split(",")}


def coding_names(codings: list[str]) -> list[str]:
    """The transfer codings named in Transfer-Encoding values, lowercased, in order."""
    return [
        name
        for name in (item.strip(" \t").lower() for v in codings for item in v.split(","))
        if name
    ]
