"""Proactive content negotiation as pure functions (RFC 9110 §12.4, §12.5).

The server lists what it can send, best first; the request's ``Accept*`` field
says what the client wants; each ``best_*`` function picks one:

- ``best_media_type(offers, accept)``: ``Accept`` (§12.5.1), media ranges with
  parameters, the more specific range overriding the less specific one.
- ``best_language(offers, accept_language)``: ``Accept-Language`` (§12.5.4),
  basic filtering (RFC 4647 §3.3.1): the range ``en`` matches ``en-GB``.
- ``best_charset(offers, accept_charset)``: ``Accept-Charset`` (§12.5.2).
- ``best_encoding(offers, accept_encoding)``: ``Accept-Encoding`` (§12.5.3),
  with the ``identity`` rules; ``longwire.app._coding.choose_coding`` wraps it
  with the codings longwire can produce.
- ``media_type_quality``, ``language_quality``, ``charset_quality``,
  ``encoding_quality``: the qvalue the field gives one offer.
- ``parse_accept``, ``parse_accept_language``, ``parse_accept_charset``,
  ``parse_accept_encoding``: the parsed fields.
- ``field_value(headers, name)``: a field's lines joined into one list value,
  ``None`` when absent (the distinction that matters here).
- ``add_vary(headers, *names)``: record in ``Vary`` what the choice depended on
  (§12.5.5).

A typical handler::

    accept = field_value(request.headers, "Accept")
    chosen = best_media_type(["application/json", "text/html"], accept)
    if chosen is None:
        raise HTTPError(406)  # or ignore the field and send the default (§12.5.1)
    add_vary(response.headers, "Accept")

Rules applied everywhere:

- Ties between equal qvalues go to the server: the earlier offer wins.
- ``q=0`` means "not acceptable" (§12.4.2): such an offer is never chosen.
- A field that is absent, empty, or has no valid element at all counts as
  absent: every offer is acceptable at q=1 and the first one wins. The one
  exception is an *empty* ``Accept-Encoding``, which means "identity only"
  (§12.5.3).
- Malformed elements are skipped, the rest of the field still counts (§5.6.1.2
  asks recipients to be robust with lists). A qvalue outside the grammar of
  §12.4.2 (``q=1.5``, ``q=0.1234``, ``q=-1``, ``q=high``) makes its element
  malformed, so skipped: clamping would be a guess, and rounding ``0.0001``
  down to 0 would turn a preference into a refusal.
- When two equally specific elements match the same offer (``gzip;q=0.2,
  gzip;q=0.8``, or ``text/plain;a=1`` and ``text/plain;b=2`` for
  ``text/plain;a=1;b=2``), the higher qvalue counts.

Parsed fields, and each ``best_*`` choice, are cached by the raw value (LRUs of
``CACHE_SIZE`` entries, for values up to ``CACHE_MAX_LENGTH`` characters):
browsers send the same few values over and over, and a server offers the same
few lists, so most requests cost a dictionary lookup (about 1 us).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from ..http1._headers import Headers, HeadersLike

__all__ = [
    "CACHE_MAX_LENGTH",
    "CACHE_SIZE",
    "MediaRange",
    "Preference",
    "add_vary",
    "best_charset",
    "best_encoding",
    "best_language",
    "best_media_type",
    "charset_quality",
    "encoding_quality",
    "field_value",
    "language_quality",
    "media_type_quality",
    "parse_accept",
    "parse_accept_charset",
    "parse_accept_encoding",
    "parse_accept_language",
]

# Caching

# 256 distinct values: a server sees a handful of Accept* values per browser
# version, so this holds every common one. Longer values are parsed every time
# (and not kept): real ones are well under 512 characters (Chrome's Accept is
# 135), so only odd or hostile clients pay, and the cache holds at most
# 256 x 1 KiB.
CACHE_SIZE: Final = 256
CACHE_MAX_LENGTH: Final = 1024

_T = TypeVar("_T")


def _cached(parse: Callable[[str], _T]) -> Callable[[str], _T]:
    """``parse`` behind an LRU cache for values up to ``CACHE_MAX_LENGTH`` characters.

    Whatever ``parse`` returns is shared between callers, so it must be immutable.
    """
    cached = functools.lru_cache(maxsize=CACHE_SIZE)(parse)

    @functools.wraps(parse)
    def wrapper(value: str) -> _T:
        if len(value) <= CACHE_MAX_LENGTH:
            return cached(value)
        return parse(value)

    return wrapper


_Choice = Callable[[tuple[str, ...], str | None], str | None]


def _cached_choice(choose: _Choice) -> _Choice:
    """``choose(offers, field_value)`` behind an LRU cache, as ``_cached`` does for parsing.

    A server offers the same few lists and browsers send the same few values, so
    the whole choice is worth keeping, not only the parsed field.
    """
    cached = functools.lru_cache(maxsize=CACHE_SIZE)(choose)

    @functools.wraps(choose)
    def wrapper(offers: tuple[str, ...], value: str | None) -> str | None:
        if value is not None and len(value) > CACHE_MAX_LENGTH:
            return choose(offers, value)
        return cached(offers, value)

    return wrapper


# Grammar

# RFC 9110 §5.6.2:  token = 1*tchar
_TOKEN = r"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
# RFC 9110 §5.6.4:
#   quoted-string  = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext         = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair    = "\" ( HTAB / SP / VCHAR / obs-text )
# Values are latin-1 decoded wire bytes, so obs-text is \x80-\xff.
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*+"'
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# RFC 9110 §12.4.2:
#   weight = OWS ";" OWS "q=" qvalue
#   qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
# ABNF strings are case-insensitive (RFC 5234 §2.3), so "Q=" is a weight too.
_QVALUE_TEXT = r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?"
_QVALUE = re.compile(_QVALUE_TEXT)
_WEIGHT = rf"(?:[ \t]*;[ \t]*[qQ]=({_QVALUE_TEXT}))?"

# RFC 9110 §5.6.1: a list is comma-separated, but a comma inside a quoted-string
# (a media type parameter) separates nothing. One element is a run of anything
# but commas and quotes, or quoted-strings; an unterminated quote runs to the
# end of the value (that element is then malformed). Possessive quantifiers: each
# character is looked at once, whatever the value.
_LIST_ELEMENT = re.compile(r'(?:[^,"]++|"(?:[^"\\]++|\\.)*+"?)++', re.DOTALL)

# RFC 9110 §12.5.1:
#   media-range = ( "*/*" / ( type "/" "*" ) / ( type "/" subtype ) ) parameters
# §5.6.6:
#   parameters      = *( OWS ";" OWS [ parameter ] )
#   parameter       = parameter-name "=" parameter-value
#   parameter-value = ( token / quoted-string )
# "*" is a tchar, so "*/*" and "type/*" match the token form; "*/subtype" is
# refused after the match.
_MEDIA_RANGE = re.compile(
    rf"({_TOKEN})/({_TOKEN})((?:[ \t]*+;[ \t]*+(?:{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))?)*+)"
)
_PARAMETER = re.compile(rf";[ \t]*({_TOKEN})=({_TOKEN}|{_QUOTED})")
# A media type the server offers (§8.3.1): no wildcard, parameters as above.
_MEDIA_TYPE = _MEDIA_RANGE

# RFC 9110 §12.5.4:  Accept-Language = #( language-range [ weight ] )
# RFC 4647 §2.1:     language-range  = (1*8ALPHA *("-" 1*8alphanum)) / "*"
_LANGUAGE_RANGE = r"\*|[A-Za-z]{1,8}(?:-[0-9A-Za-z]{1,8})*+"
_LANGUAGE_ELEMENT = re.compile(rf"({_LANGUAGE_RANGE}){_WEIGHT}")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[0-9A-Za-z]{1,8})*+")

# RFC 9110 §12.5.2:  Accept-Charset  = #( ( token / "*" ) [ weight ] )
# RFC 9110 §12.5.3:  Accept-Encoding = #( codings [ weight ] )
#                    codings         = content-coding / "identity" / "*"
#                    content-coding  = token
# "*" is a tchar, so both are a token and a weight.
_TOKEN_ELEMENT = re.compile(rf"({_TOKEN}){_WEIGHT}")
_TOKEN_ONLY = re.compile(_TOKEN)

# RFC 9110 §8.4.1.1, §8.4.1.3: "A recipient SHOULD consider "x-compress" to be
# equivalent to "compress"" and "x-gzip" to "gzip".
_CODING_ALIASES: Final = {"x-gzip": "gzip", "x-compress": "compress"}

_ANY: Final = "*"
_IDENTITY: Final = "identity"


def _elements(value: str) -> list[str]:
    """The non-empty elements of a list-valued field, stripped of OWS (RFC 9110 §5.6.1)."""
    pieces = value.split(",") if '"' not in value else _LIST_ELEMENT.findall(value)
    return [stripped for piece in pieces if (stripped := piece.strip(" \t"))]


def _unquote(value: str) -> str:
    """A parameter value without its quotes and quoted-pair backslashes (RFC 9110 §5.6.4)."""
    if value.startswith('"'):
        return _QUOTED_PAIR.sub(r"\1", value[1:-1])
    return value


def _parameter(name: str, value: str) -> tuple[str, str]:
    """A ``(name, value)`` pair from a parameter as written.

    The name is lowercased (RFC 9110 §5.6.6: "Parameter names are
    case-insensitive"); the value is unquoted (the token and quoted-string forms
    are equivalent), and a ``charset`` value is lowercased too (§8.3.2: charset
    names are case-insensitive). Other values keep their case: whether they are
    case-sensitive depends on the parameter.
    """
    name = name.lower()
    value = _unquote(value)
    if name == "charset":
        value = value.lower()
    return name, value


def _parameters(text: str) -> tuple[tuple[str, str], ...]:
    """The ``(name, value)`` pairs of a parameters text that matched the grammar."""
    return tuple(_parameter(match[1], match[2]) for match in _PARAMETER.finditer(text))


# Parsed elements


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One element of an ``Accept`` field (RFC 9110 §12.5.1).

    Attributes:
        type: the type, lowercased; ``"*"`` in ``*/*``.
        subtype: the subtype, lowercased; ``"*"`` in ``*/*`` and ``type/*``.
        params: the media type parameters before the weight, as ``(name, value)``
            pairs (names lowercased, values unquoted).
        q: the qvalue, from 0 to 1 (1 when absent).
    """

    type: str
    subtype: str
    params: tuple[tuple[str, str], ...] = ()
    q: float = 1.0

    @property
    def precedence(self) -> tuple[int, int]:
        """How specific the range is (§12.5.1): ``*/*`` < ``type/*`` < ``type/subtype``,
        then more parameters before fewer."""
        if self.type == _ANY:
            level = 0
        elif self.subtype == _ANY:
            level = 1
        else:
            level = 2
        return level, len(self.params)

    def matches(self, type: str, subtype: str, params: tuple[tuple[str, str], ...] = ()) -> bool:
        """Whether the media type ``type/subtype;params`` (lowercase) falls in this range.

        A range with parameters matches only a media type that has each of them
        with the same value (§12.5.1: ``text/plain;format=flowed`` matches
        ``text/plain;format=flowed`` and not ``text/plain``).
        """
        if self.type != _ANY and (self.type != type or self.subtype not in (_ANY, subtype)):
            return False
        return all(param in params for param in self.params)


@dataclass(frozen=True, slots=True)
class Preference:
    """One element of ``Accept-Language``, ``Accept-Charset`` or ``Accept-Encoding``.

    Attributes:
        value: the language range, charset or coding, lowercased (``"*"`` for any);
            ``x-gzip`` and ``x-compress`` are given as ``gzip`` and ``compress``.
        q: the qvalue, from 0 to 1 (1 when absent).
    """

    value: str
    q: float = 1.0


# Parsing


def _media_range(element: str) -> MediaRange | None:
    match = _MEDIA_RANGE.fullmatch(element)
    if match is None:
        return None
    type_, subtype = match[1].lower(), match[2].lower()
    if type_ == _ANY and subtype != _ANY:  # "*/html" is not a media-range
        return None
    params = []
    q = 1.0
    for parameter in _PARAMETER.finditer(match[3]):
        name, value = parameter[1], parameter[2]
        if name in ("q", "Q"):
            # RFC 9110 §12.5.1: the "q" parameter is the weight ("the media type
            # registry disallows any parameter named "q""), and its value a bare
            # qvalue. Parameters after it were the accept-ext of RFC 7231 §5.3.2,
            # which never had a meaning: ignored.
            if _QVALUE.fullmatch(value) is None:
                return None
            q = float(value)
            break
        params.append(_parameter(name, value))
    return MediaRange(type_, subtype, tuple(params), q)


@_cached
def _parse_accept(value: str) -> tuple[MediaRange, ...] | None:
    ranges = [media_range for element in _elements(value) if (media_range := _media_range(element))]
    return tuple(ranges) or None


def parse_accept(value: str | None) -> tuple[MediaRange, ...] | None:
    """Parse an ``Accept`` field value (RFC 9110 §12.5.1).

    Args:
        value: the field value (several field lines joined with ``", "``, see
            ``field_value``), or ``None`` when the request has none.

    Returns:
        The valid media ranges in order, or ``None`` when the field is to be
        treated as absent: ``None``, empty, or without a single valid element.
    """
    if value is None:
        return None
    return _parse_accept(value)


def _weighted(pattern: re.Pattern[str], elements: list[str]) -> list[Preference]:
    """The elements that match ``pattern`` (a value, then an optional weight)."""
    preferences = []
    for element in elements:
        match = pattern.fullmatch(element)
        if match is not None:
            q = 1.0 if match[2] is None else float(match[2])
            preferences.append(Preference(match[1].lower(), q))
    return preferences


@_cached
def _parse_accept_language(value: str) -> tuple[Preference, ...] | None:
    return tuple(_weighted(_LANGUAGE_ELEMENT, _elements(value))) or None


def parse_accept_language(value: str | None) -> tuple[Preference, ...] | None:
    """Parse an ``Accept-Language`` field value (RFC 9110 §12.5.4, RFC 4647 §2.1).

    Args:
        value: the field value, or ``None`` when the request has none.

    Returns:
        The valid language ranges (lowercased) in order, or ``None`` when the
        field is to be treated as absent: ``None``, empty, or without a single
        valid element.
    """
    if value is None:
        return None
    return _parse_accept_language(value)


@_cached
def _parse_accept_charset(value: str) -> tuple[Preference, ...] | None:
    return tuple(_weighted(_TOKEN_ELEMENT, _elements(value))) or None


def parse_accept_charset(value: str | None) -> tuple[Preference, ...] | None:
    """Parse an ``Accept-Charset`` field value (RFC 9110 §12.5.2).

    Args:
        value: the field value, or ``None`` when the request has none.

    Returns:
        The valid charsets (lowercased) in order, or ``None`` when the field is to
        be treated as absent: ``None``, empty, or without a single valid element.
    """
    if value is None:
        return None
    return _parse_accept_charset(value)


@_cached
def _parse_accept_encoding(value: str) -> tuple[Preference, ...] | None:
    elements = _elements(value)
    if not elements:
        # RFC 9110 §12.5.3: "An Accept-Encoding header field with a field value
        # that is empty implies that the user agent does not want any content
        # coding in response." Empty list elements (", ,") make an empty list too.
        return ()
    preferences = [
        Preference(_CODING_ALIASES.get(preference.value, preference.value), preference.q)
        for preference in _weighted(_TOKEN_ELEMENT, elements)
    ]
    return tuple(preferences) or None


def parse_accept_encoding(value: str | None) -> tuple[Preference, ...] | None:
    """Parse an ``Accept-Encoding`` field value (RFC 9110 §12.5.3).

    Args:
        value: the field value, or ``None`` when the request has none.

    Returns:
        The valid codings (lowercased, ``x-gzip`` as ``gzip``) in order; ``()``
        for an empty field (identity only); ``None`` when the field is to be
        treated as absent: ``None``, or without a single valid element.
    """
    if value is None:
        return None
    return _parse_accept_encoding(value)


# Server offers: parsed once each, and checked, since a bad one is a bug.


@functools.lru_cache(maxsize=CACHE_SIZE)
def _offer_media_type(offer: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    match = _MEDIA_TYPE.fullmatch(offer.strip(" \t"))
    if match is None or _ANY in (match[1], match[2]):
        raise ValueError(f"offer {offer!r} is not a media type such as 'text/html'")
    return match[1].lower(), match[2].lower(), _parameters(match[3])


def _check_token(offer: str, what: str) -> str:
    if _TOKEN_ONLY.fullmatch(offer) is None or offer == _ANY:
        raise ValueError(f"offer {offer!r} is not a {what}")
    return offer.lower()


# Qualities

# Better than anything a field can say about an offer it does not mention, so
# that the absent-field default (q=1) compares as a plain q=1.
_UNMENTIONED: Final = -1.0


def _media_quality(offer: str, ranges: tuple[MediaRange, ...]) -> float:
    type_, subtype, params = _offer_media_type(offer)
    # RFC 9110 §12.5.1: "The media type quality factor associated with a given type
    # is determined by finding the media range with the highest precedence that
    # matches the type."
    best_precedence = (-1, -1)
    q = 0.0
    for media_range in ranges:
        if media_range.matches(type_, subtype, params):
            precedence = media_range.precedence
            if precedence > best_precedence:
                best_precedence, q = precedence, media_range.q
            elif precedence == best_precedence and media_range.q > q:
                q = media_range.q
    return q


def media_type_quality(media_type: str, accept: str | None) -> float:
    """The qvalue an ``Accept`` field gives a media type (RFC 9110 §12.5.1).

    Args:
        media_type: a media type the server could send, such as
            ``"text/html; charset=utf-8"``.
        accept: the ``Accept`` field value, or ``None``.

    Returns:
        From 0 (not acceptable: no range matches, or the best match says q=0) to 1.
        1 when the field is absent or wholly malformed.

    Raises:
        ValueError: ``media_type`` is not a media type (or has a wildcard).
    """
    ranges = parse_accept(accept)
    if ranges is None:
        _offer_media_type(media_type)  # still a bug to report
        return 1.0
    return _media_quality(media_type, ranges)


def _best(offers: Iterable[str], quality: Callable[[str], float]) -> str | None:
    """The offer with the highest non-zero quality; the earliest among equals."""
    best: str | None = None
    best_q = 0.0
    for offer in offers:
        q = quality(offer)
        if q > best_q:
            best, best_q = offer, q
            if q == 1.0:  # nothing later can beat it: ties go to the earlier offer
                break
    return best


@_cached_choice
def _choose_media_type(offers: tuple[str, ...], accept: str | None) -> str | None:
    ranges = parse_accept(accept)
    if ranges is None:
        for offer in offers:
            _offer_media_type(offer)
        return offers[0] if offers else None
    return _best(offers, lambda offer: _media_quality(offer, ranges))


def best_media_type(offers: Iterable[str], accept: str | None) -> str | None:
    """Choose the media type to send (RFC 9110 §12.5.1).

    Args:
        offers: the media types the server can send, in its order of
            preference, such as ``["application/json", "text/html"]``.
        accept: the ``Accept`` field value, or ``None`` when the request has none.

    Returns:
        The chosen offer (the string given), or ``None`` when no offer is
        acceptable. Then the server "can either honor the header field by
        sending a 406 (Not Acceptable) response or disregard the header field by
        treating the response as if it is not subject to content negotiation"
        (§12.5.1). Without a usable field, the first offer (a request without
        ``Accept`` "implies that the user agent will accept any media type").

    Raises:
        ValueError: an offer is not a media type (or has a wildcard).
    """
    return _choose_media_type(tuple(offers), accept)


def _language_quality(offer: str, preferences: tuple[Preference, ...]) -> float:
    tag = offer.lower()
    # RFC 4647 §3.3.1 (basic filtering): "A language range matches a particular
    # language tag if, in a case-insensitive comparison, it exactly equals the
    # tag, or if it exactly equals a prefix of the tag such that the first
    # character following the prefix is "-"." "*" matches every tag. As with media
    # ranges, the longest (most specific) matching range sets the quality.
    best_length = -1
    q = 0.0
    for preference in preferences:
        language_range = preference.value
        if language_range == _ANY:
            length = 0
        elif tag == language_range or (
            tag.startswith(language_range) and tag[len(language_range)] == "-"
        ):
            length = len(language_range)
        else:
            continue
        if length > best_length:
            best_length, q = length, preference.q
        elif length == best_length and preference.q > q:
            q = preference.q
    return q


def _check_language(offer: str) -> str:
    if _LANGUAGE_TAG.fullmatch(offer) is None:
        raise ValueError(f"offer {offer!r} is not a language tag such as 'en-GB'")
    return offer


def language_quality(language: str, accept_language: str | None) -> float:
    """The qvalue an ``Accept-Language`` field gives a language tag (RFC 9110 §12.5.4).

    Args:
        language: a language tag the server could send, such as ``"en-GB"``.
        accept_language: the ``Accept-Language`` field value, or ``None``.

    Returns:
        From 0 (not acceptable) to 1; 1 when the field is absent or wholly malformed.

    Raises:
        ValueError: ``language`` is not a language tag.
    """
    _check_language(language)
    preferences = parse_accept_language(accept_language)
    return 1.0 if preferences is None else _language_quality(language, preferences)


@_cached_choice
def _choose_language(offers: tuple[str, ...], accept_language: str | None) -> str | None:
    for offer in offers:
        _check_language(offer)
    preferences = parse_accept_language(accept_language)
    if preferences is None:
        return offers[0] if offers else None
    return _best(offers, lambda offer: _language_quality(offer, preferences))


def best_language(offers: Iterable[str], accept_language: str | None) -> str | None:
    """Choose the language to send (RFC 9110 §12.5.4, RFC 4647 §3.3.1 basic filtering).

    Args:
        offers: the language tags the server can send, in its order of preference.
        accept_language: the ``Accept-Language`` field value, or ``None``.

    Returns:
        The chosen offer (the string given), or ``None`` when none is acceptable
        (send a 406, or the default language: §12.5.4 notes that a user's
        language list is rarely complete). The first offer without a usable field.

    Raises:
        ValueError: an offer is not a language tag.
    """
    return _choose_language(tuple(offers), accept_language)


def _token_quality(offer: str, preferences: tuple[Preference, ...]) -> float:
    """The quality of a charset or coding: its own element, else ``*``'s, else unmentioned."""
    q = wildcard = _UNMENTIONED
    for preference in preferences:
        if preference.value == offer:
            q = max(q, preference.q)
        elif preference.value == _ANY:
            wildcard = max(wildcard, preference.q)
    return q if q != _UNMENTIONED else wildcard


def charset_quality(charset: str, accept_charset: str | None) -> float:
    """The qvalue an ``Accept-Charset`` field gives a charset (RFC 9110 §12.5.2).

    Args:
        charset: a charset the server could send, such as ``"utf-8"``.
        accept_charset: the ``Accept-Charset`` field value, or ``None``.

    Returns:
        From 0 (not acceptable: not listed, and no ``*``) to 1; 1 when the field
        is absent or wholly malformed.

    Raises:
        ValueError: ``charset`` is not a token.
    """
    name = _check_token(charset, "charset")
    preferences = parse_accept_charset(accept_charset)
    if preferences is None:
        return 1.0
    return max(_token_quality(name, preferences), 0.0)


@_cached_choice
def _choose_charset(offers: tuple[str, ...], accept_charset: str | None) -> str | None:
    names = {offer: _check_token(offer, "charset") for offer in offers}
    preferences = parse_accept_charset(accept_charset)
    if preferences is None:
        return next(iter(names), None)
    return _best(names, lambda offer: max(_token_quality(names[offer], preferences), 0.0))


def best_charset(offers: Iterable[str], accept_charset: str | None) -> str | None:
    """Choose the charset to send (RFC 9110 §12.5.2).

    Args:
        offers: the charsets the server can send, in its order of preference.
        accept_charset: the ``Accept-Charset`` field value, or ``None``.

    Returns:
        The chosen offer (the string given), or ``None`` when none is
        acceptable; the first offer without a usable field. (§12.5.2: "*"
        "matches every charset that is not mentioned elsewhere".)

    Raises:
        ValueError: an offer is not a token.
    """
    return _choose_charset(tuple(offers), accept_charset)


def _identity_quality(preferences: tuple[Preference, ...]) -> float:
    """The quality of "no content coding" under a parsed ``Accept-Encoding``.

    RFC 9110 §12.5.3: "If the representation has no content coding, then it is
    acceptable by default unless specifically excluded by the Accept-Encoding
    header field stating either "identity;q=0" or "*;q=0" without a more specific
    entry for "identity"." An explicit ``identity`` (or ``*``) entry gives its
    qvalue; otherwise identity is acceptable but ranks below every listed coding
    (``_IDENTITY_DEFAULT``): a client that lists ``gzip;q=0.5`` and nothing else
    asks for gzip, not for identity at an implied q=1.
    """
    q = _token_quality(_IDENTITY, preferences)
    if q == _UNMENTIONED:
        return _IDENTITY_DEFAULT
    return q


# Acceptable, but below any qvalue a field can give (the smallest is 0.001).
_IDENTITY_DEFAULT: Final = 0.0005


def encoding_quality(coding: str, accept_encoding: str | None) -> float:
    """The qvalue an ``Accept-Encoding`` field gives a content coding (RFC 9110 §12.5.3).

    Args:
        coding: a content coding (``"gzip"``, ``"x-gzip"`` counts as ``"gzip"``),
            or ``"identity"`` for none.
        accept_encoding: the ``Accept-Encoding`` field value, or ``None``.

    Returns:
        From 0 (not acceptable) to 1. Without a usable field every coding gets 1
        ("If no Accept-Encoding header field is in the request, any content
        coding is considered acceptable by the user agent"). ``identity`` not
        mentioned (nor ``*``) gets a small positive value: acceptable, below
        every listed coding.

    Raises:
        ValueError: ``coding`` is not a token (or is ``*``).
    """
    name = _check_token(coding, "content coding")
    name = _CODING_ALIASES.get(name, name)
    preferences = parse_accept_encoding(accept_encoding)
    if preferences is None:
        return 1.0
    if name == _IDENTITY:
        return _identity_quality(preferences)
    return max(_token_quality(name, preferences), 0.0)


@_cached_choice
def _choose_encoding(offers: tuple[str, ...], accept_encoding: str | None) -> str | None:
    names = {}
    for offer in offers:
        name = _check_token(offer, "content coding")
        names[offer] = _CODING_ALIASES.get(name, name)
    preferences = parse_accept_encoding(accept_encoding)
    if preferences is None:
        return _IDENTITY
    best = _best(
        (offer for offer, name in names.items() if name != _IDENTITY),
        lambda offer: max(_token_quality(names[offer], preferences), 0.0),
    )
    best_q = 0.0 if best is None else max(_token_quality(names[best], preferences), 0.0)
    identity_q = _identity_quality(preferences)
    if identity_q > best_q:
        return _IDENTITY
    return best


def best_encoding(offers: Iterable[str], accept_encoding: str | None) -> str | None:
    """Choose the content coding of a response (RFC 9110 §12.5.3).

    Args:
        offers: the content codings the server can apply, in its order of
            preference (``"identity"`` is always considered, after them).
        accept_encoding: the ``Accept-Encoding`` field value, or ``None``.

    Returns:
        An offer (the string given), ``"identity"`` (send without a content
        coding), or ``None`` when nothing is acceptable: identity refused
        (``identity;q=0``, or ``*;q=0`` without ``identity``) and no offer
        acceptable. §12.5.3 leaves that case open; most servers send identity
        anyway (a 406 is the strict answer).

        Without the field, or with one without a valid element: ``"identity"``.
        The RFC lets a server then use any coding, but a client that does not
        say it can decode gzip often cannot (nginx and Apache do the same).
        An empty field: ``"identity"`` (§12.5.3: no content coding wanted).
        Among equal qvalues the earlier offer wins, and any offer beats an
        identity that is only acceptable by default.

    Raises:
        ValueError: an offer is not a token (or is ``*``).
    """
    return _choose_encoding(tuple(offers), accept_encoding)


# Request fields and Vary


def field_value(headers: HeadersLike, name: str) -> str | None:
    """The value of a list-valued field, its lines joined (RFC 9110 §5.3).

    Args:
        headers: the request's header fields.
        name: the field name (any case).

    Returns:
        The field lines' values joined with ``", "``; ``None`` when there is no
        such field (which ``best_*`` treat differently from an empty value).
    """
    values = Headers.coerce(headers).get_all(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


def add_vary(headers: Headers, *names: str) -> None:
    """Add field names to a response's ``Vary`` (RFC 9110 §12.5.5), in place.

    Call it whenever the response was chosen with a request field, including
    when the choice came out as the default: a cache must not hand a gzip body
    to a client that did not ask for one, nor the identity body it stored for
    that client to everyone else.

    Existing ``Vary`` lines are merged into one, in order, names already there
    (any case) are not repeated, and ``*`` ("anything about the request might
    play a role") absorbs everything: ``Vary: *`` stays ``*``, and adding ``*``
    makes it ``*``.

    Args:
        headers: the response's header fields (modified).
        names: the request field names the response depends on, such as
            ``"Accept-Encoding"``.

    Raises:
        ValueError: a name is not a field name (a token) nor ``*``.
    """
    for name in names:
        if _TOKEN_ONLY.fullmatch(name) is None:
            raise ValueError(f"{name!r} is not a field name")
    current = headers.get_list("vary")
    if _ANY in current:
        if len(current) > 1 or len(headers.get_all("vary")) > 1:
            headers.set("Vary", _ANY)
        return
    if _ANY in names:
        headers.set("Vary", _ANY)
        return
    seen = {item.lower() for item in current}
    added = False
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            current.append(name)
            added = True
    if added:
        headers.set("Vary", ", ".join(current))
