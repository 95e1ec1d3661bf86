"""Conditional requests as pure functions: entity tags, HTTP-dates, preconditions (RFC 9110 §13).

Nothing here touches a file or a clock: the caller passes in what it knows about the
selected representation (its ``ETag``, its modification time) and the current time.

- ``ETag``, ``parse_etag``, ``parse_etag_list``, ``strong_compare``, ``weak_compare``:
  entity tags and the two comparison functions (§8.8.3).
- ``file_etag``, ``content_etag``: a strong entity tag for a file (from ``stat``
  data) or for bytes (from a hash of the content).
- ``parse_http_date``, ``format_http_date``: the three HTTP-date forms in, the
  IMF-fixdate form out (§5.6.7), as whole seconds since the epoch.
- ``evaluate_preconditions``: the five steps of §13.2.2 in their order, returning an
  ``Outcome``: proceed (honouring a ``Range`` or not), 304 or 412.
- ``not_modified_headers``: the fields of a 200 that a 304 carries (§15.4.5).

A typical static-file GET::

    tag = file_etag(st.st_mtime_ns, st.st_size)
    outcome = evaluate_preconditions(
        request.method, request.headers, etag=tag, last_modified=st.st_mtime, now=now
    )
    if outcome is Outcome.NOT_MODIFIED:
        return Response(b"", 304, not_modified_headers(headers_of_the_200))
    if outcome is Outcome.PRECONDITION_FAILED:
        return Response(b"", 412)
    range_header = request.headers.get("range") if outcome.honour_range else None
    # ... then longwire.app._ranges.select_ranges(range_header, st.st_size)

§13.2.1: evaluate preconditions only when the response without them would be a
2xx (or a 412): a 404 stays a 404 whatever ``If-Match`` says.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Final, Literal

from ..http1._headers import Headers, HeadersLike

__all__ = [
    "ETag",
    "Outcome",
    "content_etag",
    "evaluate_preconditions",
    "file_etag",
    "format_http_date",
    "last_modified_seconds",
    "not_modified_headers",
    "parse_etag",
    "parse_etag_list",
    "parse_http_date",
    "strong_compare",
    "weak_compare",
]

# Entity tags

# RFC 9110 §8.8.3:
#   entity-tag = [ weak ] opaque-tag
#   weak       = %s"W/"
#   opaque-tag = DQUOTE *etagc DQUOTE
#   etagc      = %x21 / %x23-7E / obs-text
# Values are latin-1 decoded wire bytes, so obs-text is \x80-\xff; anything above
# \xff cannot come off the wire and is refused.
_ETAGC = r"[\x21\x23-\x7e\x80-\xff]"
_OPAQUE = re.compile(f"{_ETAGC}*")
_ENTITY_TAG = re.compile(f'(W/)?"({_ETAGC}*)"')
_ELEMENT = f'(?:W/)?"{_ETAGC}*+"'
# RFC 9110 §13.1.1/§13.1.2:  If-Match = "*" / #entity-tag
# RFC 9110 §5.6.1.2: "a recipient MUST accept empty list elements", with OWS around
# the commas; the list needs at least one entity-tag, and two entity-tags need a
# comma between them. Possessive quantifiers (none can give back anything the next
# token could use: an entity-tag starts with W or DQUOTE) keep the match linear in
# the length of the value, and fast: about 70 ns per member.
_ETAG_LIST = re.compile(rf"[\t ,]*+{_ELEMENT}(?:[\t ]*+,[\t ,]*+{_ELEMENT})*+[\t ,]*+")
# Run on a value _ETAG_LIST accepted: every quoted string in it is an entity-tag.
_LIST_MEMBER = re.compile(r'(W/)?"([^"]*)"')

_ANY: Final = "*"


@dataclass(frozen=True, slots=True)
class ETag:
    """An entity tag (RFC 9110 §8.8.3): ``ETag("abc")`` is ``"abc"``, ``ETag("abc", weak=True)``
    is ``W/"abc"``; ``str()`` gives the field value.

    Attributes:
        opaque: the opaque-tag without its double quotes.
        weak: whether the tag is weak (``W/`` prefix).

    Raises:
        ValueError: ``opaque`` holds a character an entity tag cannot carry (a
            double quote, a space, a control character, or one above ``\\xff``).
    """

    opaque: str
    weak: bool = False

    def __post_init__(self) -> None:
        if _OPAQUE.fullmatch(self.opaque) is None:
            raise ValueError(f"invalid entity-tag characters in {self.opaque!r}")

    def __str__(self) -> str:
        return f'W/"{self.opaque}"' if self.weak else f'"{self.opaque}"'


def parse_etag(value: str) -> ETag | None:
    """Parse one entity-tag, such as an ``ETag`` or ``If-Range`` field value.

    Args:
        value: the field value; surrounding spaces and tabs are ignored.

    Returns:
        The ``ETag``, or ``None`` when ``value`` is not exactly one entity-tag
        (unquoted, lowercase ``w/``, trailing garbage...).
    """
    match = _ENTITY_TAG.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    return ETag(match[2], weak=match[1] is not None)


def _parse_list(value: str) -> Literal["*"] | list[tuple[str, str]] | None:
    """``"*"``, the ``(weak prefix, opaque)`` pairs of a list, or ``None`` when malformed."""
    if value.strip(" \t") == "*":
        return _ANY
    if _ETAG_LIST.fullmatch(value) is None:
        return None
    return _LIST_MEMBER.findall(value)


def parse_etag_list(value: str) -> Literal["*"] | tuple[ETag, ...] | None:
    """Parse an ``If-Match`` or ``If-None-Match`` field value (RFC 9110 §13.1.1, §13.1.2).

    Field lines of the same name form one list (§5.3): join them with ``", "``
    before calling.

    Args:
        value: the field value.

    Returns:
        ``"*"``; or the entity tags in order (at least one); or ``None`` when the
        value is malformed: anything but ``*`` alone or a comma-separated list of
        entity-tags (empty elements and spaces around commas are fine).
    """
    members = _parse_list(value)
    if members is None or isinstance(members, str):  # malformed or "*"
        return members
    return tuple(ETag(opaque, weak=bool(weak)) for weak, opaque in members)


def strong_compare(a: ETag, b: ETag) -> bool:
    """RFC 9110 §8.8.3.2 strong comparison: both tags strong and their opaque-tags identical."""
    return not a.weak and not b.weak and a.opaque == b.opaque


def weak_compare(a: ETag, b: ETag) -> bool:
    """RFC 9110 §8.8.3.2 weak comparison: opaque-tags identical, either or both may be weak."""
    return a.opaque == b.opaque


def file_etag(
    mtime_ns: int, size: int, *, inode: int | None = None, now: float | None = None
) -> ETag:
    """An entity tag for a file, from what ``os.stat`` says about it.

    The tag is ``"<mtime_ns hex>-<size hex>"`` (``inode`` in front when given):
    a write changes the mtime, so a new version gets a new tag. It is strong,
    except that when ``now`` is given and the file changed less than a second
    before, it is weak: file system timestamps are coarser than they look
    (Linux stamps writes at the kernel tick), so two writes within one tick can
    leave the same mtime and size, and a strong tag would let a client splice
    ranges from two versions (Apache's rule, RFC 9110 §8.8.1).

    Args:
        mtime_ns: ``st_mtime_ns``.
        size: ``st_size``.
        inode: ``st_ino``, to tell apart files replaced by a rename with the same
            mtime and size; leave it out when several servers (different inode
            numbers) serve the same files behind one name.
        now: the current time in seconds since the epoch, or ``None``.

    Returns:
        The ``ETag``.

    Raises:
        ValueError: ``mtime_ns``, ``size`` or ``inode`` is negative.
    """
    if mtime_ns < 0 or size < 0 or (inode is not None and inode < 0):
        raise ValueError("mtime_ns, size and inode must not be negative")
    opaque = f"{mtime_ns:x}-{size:x}" if inode is None else f"{inode:x}-{mtime_ns:x}-{size:x}"
    weak = now is not None and int(now * 1_000_000_000) - mtime_ns < 1_000_000_000
    return ETag(opaque, weak=weak)


def content_etag(data: bytes | bytearray | memoryview) -> ETag:
    """A strong entity tag from the content itself: 128 bits of BLAKE2b, in hex.

    Args:
        data: the representation data (``bytes``, ``bytearray``, ``memoryview``...).

    Returns:
        The ``ETag``: equal bytes give equal tags, whatever process computes them.
    """
    return ETag(hashlib.blake2b(data, digest_size=16, usedforsecurity=False).hexdigest())


# HTTP-dates

# RFC 9110 §5.6.7:
#   IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT
#   date1        = day SP month SP year            ; e.g., 02 Jun 1982
#   time-of-day  = hour ":" minute ":" second      ; 00:00:00 - 23:59:60 (leap second)
#   rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT
#   date2        = day "-" month "-" 2DIGIT        ; e.g., 02-Jun-82
#   asctime-date = day-name SP date3 SP time-of-day SP year
#   date3        = month SP ( 2DIGIT / ( SP DIGIT ))  ; e.g., Jun  2
# Names are case-sensitive (%s). The day name is checked to be one, not to be the
# right one: §5.6.7 asks recipients to be robust, and a wrong weekday hides no
# ambiguity about the instant.
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY_NAME = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_TIME = "([0-9]{2}):([0-9]{2}):([0-9]{2})"
_IMF_FIXDATE = re.compile(rf"{_DAY_NAME}, ([0-9]{{2}}) {_MONTH} ([0-9]{{4}}) {_TIME} GMT")
_RFC850_DATE = re.compile(
    rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
    rf"([0-9]{{2}})-{_MONTH}-([0-9]{{2}}) {_TIME} GMT"
)
_ASCTIME_DATE = re.compile(rf"{_DAY_NAME} {_MONTH} ([0-9]{{2}}| [0-9]) {_TIME} ([0-9]{{4}})")

# Day 0 of the epoch, 1970-01-01, was a Thursday.
_WEEKDAYS = ("Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed")
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count from 1970-01-01; inverse of ``_days_from_civil``."""
    days += 719468
    era = days // 146097
    day_of_era = days - era * 146097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    return year_of_era + era * 400 + (month <= 2), month, day


def _timestamp(year: int, month: int, day: int, clock: tuple[str, str, str]) -> int | None:
    """Seconds since the epoch of a date and an ``(hour, minute, second)``, or ``None``."""
    h, m, s = int(clock[0]), int(clock[1]), int(clock[2])
    # RFC 9110 §5.6.7: second may be 60 (a leap second); POSIX time has none, so
    # 23:59:60 counts as the next day's 00:00:00.
    if h > 23 or m > 59 or s > 60:
        return None
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= _DAYS_IN_MONTH[month - 1] + leap:
        return None
    return _days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + s


def parse_http_date(value: str, *, now: float | None = None) -> int | None:
    """Parse an HTTP-date in any of its three forms (RFC 9110 §5.6.7).

    ``Sun, 06 Nov 1994 08:49:37 GMT`` (IMF-fixdate), ``Sunday, 06-Nov-94 08:49:37
    GMT`` (rfc850-date) and ``Sun Nov  6 08:49:37 1994`` (asctime-date), exactly as
    the grammar has them (case included); nothing else, so a list of dates, a
    numeric zone or a missing field is invalid.

    Args:
        value: the field value; surrounding spaces and tabs are ignored.
        now: the current time in seconds since the epoch. Only used for the
            two-digit year of an rfc850-date: §5.6.7 takes a year more than 50
            years ahead for the one a century earlier, so it is the year from 49
            years before now to 50 years after. Without it, ``69``-``99``
            are 19xx and ``00``-``68`` 20xx (the POSIX ``%y`` rule).

    Returns:
        Seconds since the epoch (UTC), or ``None`` when ``value`` is not a valid
        HTTP-date (including an impossible one such as 30 February).
    """
    value = value.strip(" \t")
    match = _IMF_FIXDATE.fullmatch(value)
    if match is not None:
        day, month, year, hour, minute, second = match.groups()
        return _timestamp(int(year), _MONTHS[month], int(day), (hour, minute, second))
    match = _RFC850_DATE.fullmatch(value)
    if match is not None:
        day, month, year, hour, minute, second = match.groups()
        short_year = int(year)
        if now is None:
            full_year = short_year + (1900 if short_year >= 69 else 2000)
        else:
            # RFC 9110 §5.6.7: "Recipients of a timestamp value in rfc850-date format,
            # which uses a two-digit year, MUST interpret a timestamp that appears to
            # be more than 50 years in the future as representing the most recent year
            # in the past that had the same last two digits." Judged by the year: the
            # year is the one in this_year - 49 .. this_year + 50 with those digits.
            this_year = _civil_from_days(math.floor(now) // 86400)[0]
            full_year = this_year - this_year % 100 + short_year
            if full_year > this_year + 50:
                full_year -= 100
            elif full_year <= this_year - 50:
                full_year += 100
        return _timestamp(full_year, _MONTHS[month], int(day), (hour, minute, second))
    match = _ASCTIME_DATE.fullmatch(value)
    if match is not None:
        month, day, hour, minute, second, year = match.groups()
        return _timestamp(int(year), _MONTHS[month], int(day), (hour, minute, second))
    return None


def format_http_date(timestamp: float) -> str:
    """Format a time as an IMF-fixdate, the form every sender uses (RFC 9110 §5.6.7).

    Args:
        timestamp: seconds since the epoch; a fraction is dropped (rounded down).

    Returns:
        For example ``"Sun, 06 Nov 1994 08:49:37 GMT"``.

    Raises:
        ValueError: the year falls outside 0000-9999 (``year = 4DIGIT``), or
            ``timestamp`` is not finite.
    """
    if isinstance(timestamp, float) and not math.isfinite(timestamp):
        raise ValueError(f"cannot format {timestamp!r} as an HTTP-date")
    seconds = math.floor(timestamp)
    days, second_of_day = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    if not 0 <= year <= 9999:
        raise ValueError(f"year {year} does not fit an HTTP-date")
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    return (
        f"{_WEEKDAYS[days % 7]}, {day:02d} {_MONTH_NAMES[month - 1]} {year:04d} "
        f"{hour:02d}:{minute:02d}:{second:02d} GMT"
    )


def last_modified_seconds(last_modified: float, now: float | None = None) -> int:
    """The modification time as the whole second a ``Last-Modified`` field would carry.

    RFC 9110 §8.8.2.1: "An origin server with a clock MUST NOT generate a
    Last-Modified date that is later than the server's time of message
    origination (Date)": with ``now``, a time in the future becomes ``now``. Use
    it for the ``Last-Modified`` you send, so that it is the one
    ``evaluate_preconditions`` compares with.

    Args:
        last_modified: seconds since the epoch (``st_mtime``).
        now: the current time in seconds since the epoch, or ``None``.

    Returns:
        Whole seconds since the epoch.

    Raises:
        ValueError, OverflowError: a time is NaN or infinite.
    """
    seconds = math.floor(last_modified)
    if now is not None:
        seconds = min(seconds, math.floor(now))
    return seconds


# Preconditions


class Outcome(enum.Enum):
    """What ``evaluate_preconditions`` decided.

    ``status`` is ``None`` (perform the method) or the status to answer with;
    ``honour_range`` says whether a ``Range`` header may be acted on.
    """

    #: Perform the method. If the request is a GET with exactly one ``Range``
    #: field, it may be honoured (If-Range absent or true).
    PROCEED = "proceed"
    #: Perform the method, but ignore ``Range``: send the whole representation in
    #: a 200 (If-Range false, several Range fields, or a method other than GET).
    PROCEED_WITHOUT_RANGE = "proceed without range"
    #: Answer 304 Not Modified (GET or HEAD), with ``not_modified_headers``.
    NOT_MODIFIED = "not modified"
    #: Answer 412 Precondition Failed; do not perform the method.
    PRECONDITION_FAILED = "precondition failed"

    @property
    def status(self) -> int | None:
        """``None`` to perform the method, else the status code to answer with (304 or 412)."""
        if self is Outcome.NOT_MODIFIED:
            return 304
        if self is Outcome.PRECONDITION_FAILED:
            return 412
        return None

    @property
    def honour_range(self) -> bool:
        """Whether a ``Range`` field in the request may be honoured (a 206 or a 416)."""
        return self is Outcome.PROCEED


# RFC 9110 §13.2.1: "a server MUST ignore the conditional request header fields
# defined by this specification when received with a request method that does not
# involve the selection or modification of a selected representation (e.g.,
# CONNECT, OPTIONS, or TRACE)."
_UNCONDITIONAL_METHODS = frozenset({"CONNECT", "OPTIONS", "TRACE"})
_FIELDS = frozenset(
    {"if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "range"}
)


def _coerce_etag(etag: ETag | str | None) -> ETag | None:
    if etag is None or isinstance(etag, ETag):
        return etag
    parsed = parse_etag(etag)
    if parsed is None:
        raise ValueError(f"etag {etag!r} is not an entity-tag (quotes included)")
    return parsed


def _single_date(values: list[str], now: float | None) -> int | None:
    # RFC 9110 §13.1.3/§13.1.4: ignore the field if "the field value has more than
    # one member" / "appears to be a list of dates": two field lines are a list (§5.3).
    if len(values) != 1:
        return None
    return parse_http_date(values[0], now=now)


def _if_range(value: str, etag: ETag | None, last_modified: int | None, now: float | None) -> bool:
    """RFC 9110 §13.1.5: whether an If-Range condition is true."""
    stripped = value.strip(" \t")
    if stripped.startswith(('"', "W/")):
        tag = parse_etag(stripped)
        # "If the entity-tag validator provided exactly matches the ETag field value
        # for the selected representation using the strong comparison function
        # (Section 8.8.3.2), the condition is true": a weak tag on either side fails.
        return tag is not None and etag is not None and strong_compare(tag, etag)
    date = parse_http_date(stripped, now=now)
    if date is None or last_modified is None or now is None:
        return False
    # §13.1.5: "If the HTTP-date validator provided is not a strong validator in the
    # sense defined by Section 8.8.2.2, the condition is false." §8.8.2.2: a date is
    # strong only if the representation cannot have changed twice within its second,
    # which we know when that second ended at least one second before now (the Date).
    if last_modified > math.floor(now) - 1:
        return False
    # "If the HTTP-date validator provided exactly matches the Last-Modified field
    # value for the selected representation, the condition is true."
    return date == last_modified


def evaluate_preconditions(
    method: str,
    headers: HeadersLike,
    *,
    etag: ETag | str | None = None,
    last_modified: float | None = None,
    exists: bool = True,
    now: float | None = None,
) -> Outcome:
    """Evaluate a request's preconditions in the order of RFC 9110 §13.2.2.

    If-Match, else If-Unmodified-Since; then If-None-Match, else (GET/HEAD)
    If-Modified-Since; then, for a GET with a Range, If-Range. A malformed field
    never makes a tag match: a malformed If-Match is false (412), a malformed
    If-None-Match true (proceed), an invalid date is ignored.

    Args:
        method: the request method, case-sensitive (``"GET"``).
        headers: the request's header fields.
        etag: the selected representation's entity tag (an ``ETag`` or the
            ``ETag`` field value, quotes included), or ``None`` when it has none.
        last_modified: its modification time, seconds since the epoch, or ``None``
            when unknown (date conditions are then ignored, §13.1.3-§13.1.4).
        exists: whether the target resource has a current representation (what
            ``If-Match: *`` and ``If-None-Match: *`` test); ``False`` for a PUT
            that would create it.
        now: the current time (the response's ``Date``), seconds since the epoch.
            Without it, an ``If-Range`` date can never be proven strong, so it
            fails (the whole representation is sent), and ``last_modified`` is
            not clamped to now (§8.8.2.1, see ``last_modified_seconds``).

    Returns:
        The ``Outcome``. ``PRECONDITION_FAILED`` for a state-changing request
        whose change appears already applied may be answered with a 2xx instead
        (§13.1.1, §13.1.4): only the caller can tell.

    Raises:
        ValueError: ``etag`` is a string that is not an entity-tag.
    """
    if not isinstance(headers, Headers):
        headers = Headers.coerce(headers)
    # One pass over the fields: most requests carry none of these, and they pay
    # only for this loop. (_fields holds (lowercased name, name, value).)
    found: dict[str, list[str]] | None = None
    for lower, _, value in headers._fields:
        if lower in _FIELDS:
            if found is None:
                found = {}
            found.setdefault(lower, []).append(value)
    if found is None:
        return Outcome.PROCEED
    if_match = found.get("if-match")
    if_none_match = found.get("if-none-match")
    if_modified_since = found.get("if-modified-since")
    if_unmodified_since = found.get("if-unmodified-since")
    if_range = found.get("if-range")
    ranges = len(found.get("range", ()))
    if method in _UNCONDITIONAL_METHODS:
        return Outcome.PROCEED_WITHOUT_RANGE if ranges else Outcome.PROCEED

    tag = _coerce_etag(etag)
    modified = None if last_modified is None else last_modified_seconds(last_modified, now)

    # RFC 9110 §13.2.2 step 1: If-Match.
    if if_match is not None:
        # §13.1.1: true for "*" if the resource has a current representation, true
        # if a listed tag matches by strong comparison, "Otherwise, the condition
        # is false" (a malformed value included).
        members = _parse_list(", ".join(if_match))
        if isinstance(members, str):  # "*"
            holds = exists
        elif members is None or tag is None or tag.weak:
            holds = False
        else:
            holds = any(not weak and opaque == tag.opaque for weak, opaque in members)
        if not holds:
            return Outcome.PRECONDITION_FAILED
    # Step 2: If-Unmodified-Since, only without If-Match.
    elif if_unmodified_since is not None and modified is not None:
        date = _single_date(if_unmodified_since, now)
        # §13.1.4: "If the selected representation's last modification date is
        # earlier than or equal to the date provided in the field value, the
        # condition is true. Otherwise, the condition is false."
        if date is not None and modified > date:
            return Outcome.PRECONDITION_FAILED

    safe = method in ("GET", "HEAD")
    # Step 3: If-None-Match.
    if if_none_match is not None:
        # §13.1.2: false for "*" if the resource has a current representation, false
        # if a listed tag matches by weak comparison, "Otherwise, the condition is
        # true" (a malformed value included).
        members = _parse_list(", ".join(if_none_match))
        if isinstance(members, str):  # "*"
            holds = not exists
        elif members is None or tag is None:
            holds = True
        else:
            holds = all(opaque != tag.opaque for _, opaque in members)
        if not holds:
            # "if false for GET/HEAD, respond 304 (Not Modified); if false for other
            # methods, respond 412 (Precondition Failed)"
            return Outcome.NOT_MODIFIED if safe else Outcome.PRECONDITION_FAILED
    # Step 4: If-Modified-Since, only for GET/HEAD and only without If-None-Match.
    elif safe and if_modified_since is not None and modified is not None:
        date = _single_date(if_modified_since, now)
        # §13.1.3: "If the selected representation's last modification date is
        # earlier or equal to the date provided in the field value, the condition
        # is false." A date later than now is ignored (RFC 2616 §14.25 called it
        # invalid; Apache still does): a client's clock running ahead must not buy
        # it a 304 for a change made between its date and ours.
        if date is not None and (now is None or date <= now) and modified <= date:
            return Outcome.NOT_MODIFIED

    # Step 5: Range and If-Range.
    if not ranges:
        return Outcome.PROCEED
    # RFC 9110 §14.2: "A server MUST ignore a Range header field received with a
    # request method that is unrecognized or for which range handling is not
    # defined. For this specification, GET is the only method for which range
    # handling is defined." Range is not a list: two field lines make it invalid.
    if method != "GET" or ranges > 1:
        return Outcome.PROCEED_WITHOUT_RANGE
    # §13.1.5: "A server MUST ignore an If-Range header field received in a request
    # that does not contain a Range header field"; here there is one. Several
    # If-Range lines are not an entity-tag nor a date: the condition is false.
    if if_range is not None and (
        len(if_range) != 1 or not _if_range(if_range[0], tag, modified, now)
    ):
        return Outcome.PROCEED_WITHOUT_RANGE
    return Outcome.PROCEED


# RFC 9110 §15.4.5: "The server generating a 304 response MUST generate any of the
# following header fields that would have been sent in a 200 (OK) response to the
# same request: Content-Location, Date, ETag, and Vary; Cache-Control and Expires".
_NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary"}
)


def not_modified_headers(headers: HeadersLike) -> Headers:
    """The header fields of a 304 answering for a 200 with ``headers`` (RFC 9110 §15.4.5).

    Keeps ``Cache-Control``, ``Content-Location``, ``Date``, ``ETag``, ``Expires``
    and ``Vary``, in order; plus ``Last-Modified`` when there is no ``ETag``
    ("Last-Modified might be useful if the response does not have an ETag
    field"). Everything else is representation metadata a 304 "SHOULD NOT"
    carry (``Content-Type``, ``Content-Length``...).

    Args:
        headers: the fields the 200 response would have had.

    Returns:
        A new ``Headers``.
    """
    pairs = list(Headers.coerce(headers))
    has_etag = any(name.lower() == "etag" for name, _ in pairs)
    keep = _NOT_MODIFIED_FIELDS if has_etag else _NOT_MODIFIED_FIELDS | {"last-modified"}
    return Headers((name, value) for name, value in pairs if name.lower() in keep)
