"""Entity tags, HTTP-dates and the evaluation of preconditions (RFC 9110 §5.6.7, §8.8, §13)."""

import datetime
import email.utils

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from longwire.app._conditional import (
    ETag,
    Outcome,
    content_etag,
    evaluate_preconditions,
    file_etag,
    format_http_date,
    last_modified_seconds,
    not_modified_headers,
    parse_etag,
    parse_etag_list,
    parse_http_date,
    strong_compare,
    weak_compare,
)
from longwire.http1 import Headers

PROCEED = Outcome.PROCEED
WITHOUT_RANGE = Outcome.PROCEED_WITHOUT_RANGE
NOT_MODIFIED = Outcome.NOT_MODIFIED
FAILED = Outcome.PRECONDITION_FAILED

# RFC 9110 §5.6.7's example instant, in its three forms.
IMF = "Sun, 06 Nov 1994 08:49:37 GMT"
RFC850 = "Sunday, 06-Nov-94 08:49:37 GMT"
ASCTIME = "Sun Nov  6 08:49:37 1994"
T = 784111777  # that instant, in seconds since the epoch
NOW = T + 3600  # an hour later: the time of the requests below

ETAGC = "".join(map(chr, [0x21, *range(0x23, 0x7F), *range(0x80, 0x100)]))


def evaluate(method="GET", headers=(), **kwargs):
    kwargs.setdefault("etag", '"xyzzy"')
    kwargs.setdefault("last_modified", T)
    kwargs.setdefault("now", NOW)
    return evaluate_preconditions(method, Headers(headers), **kwargs)


# Entity tags (§8.8.3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"xyzzy"', ETag("xyzzy")),
        ('W/"xyzzy"', ETag("xyzzy", weak=True)),
        ('""', ETag("")),
        ('W/""', ETag("", weak=True)),
        ('"a,b"', ETag("a,b")),  # a comma is an etagc
        ('"\xe9t\xe9"', ETag("\xe9t\xe9")),  # obs-text
        ('  "spaced"\t', ETag("spaced")),
    ],
)
def test_parse_etag(value, expected):
    assert parse_etag(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "xyzzy",  # unquoted
        '"xyzzy',
        'xyzzy"',
        'w/"xyzzy"',  # weak = %s"W/": case-sensitive
        'W/ "xyzzy"',
        'W"xyzzy"',
        '"xy"zzy"',
        '"xy zzy"',
        '"xy\tzzy"',
        '"xy\x00zzy"',
        '"xy\x7fzzy"',
        '"\u20ac"',  # above \xff: cannot come off the wire
        '"a", "b"',
        '"a" "b"',
        "*",
    ],
)
def test_parse_etag_refuses_malformed(value):
    assert parse_etag(value) is None


def test_etag_str_and_validation():
    assert str(ETag("abc")) == '"abc"'
    assert str(ETag("abc", weak=True)) == 'W/"abc"'
    for bad in ('a"b', "a b", "a\r\nb", "\u20ac"):
        with pytest.raises(ValueError, match="entity-tag"):
            ETag(bad)


# RFC 9110 §8.8.3.2, the table of weak and strong comparison.
@pytest.mark.parametrize(
    ("a", "b", "strong", "weak"),
    [
        ('W/"1"', 'W/"1"', False, True),
        ('W/"1"', 'W/"2"', False, False),
        ('W/"1"', '"1"', False, True),
        ('"1"', '"1"', True, True),
    ],
)
def test_comparison_table(a, b, strong, weak):
    tag_a, tag_b = parse_etag(a), parse_etag(b)
    assert strong_compare(tag_a, tag_b) is strong
    assert strong_compare(tag_b, tag_a) is strong
    assert weak_compare(tag_a, tag_b) is weak
    assert weak_compare(tag_b, tag_a) is weak


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("*", "*"),
        (" * ", "*"),
        ('"a"', (ETag("a"),)),
        ('"a", W/"b"', (ETag("a"), ETag("b", weak=True))),
        ('"a",W/"b",""', (ETag("a"), ETag("b", weak=True), ETag(""))),
        (' \t"a" \t, \t"b"\t ', (ETag("a"), ETag("b"))),
        # RFC 9110 §5.6.1.2: empty list elements are accepted.
        (', ,"a",,, "b" ,', (ETag("a"), ETag("b"))),
        ('"a,b", "c"', (ETag("a,b"), ETag("c"))),
    ],
)
def test_parse_etag_list(value, expected):
    assert parse_etag_list(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        ",",
        " , ,",
        "**",
        '*, "a"',
        '"a", *',
        "* *",
        '"a" "b"',  # no comma between members
        '"a""b"',
        '"a", b',
        'a, "b"',
        '"a", "b',
        '"a"x',
        'W/ "a"',
        'w/"a"',
        '"a";q=1',
        '"a", W/',
        '"a\x00"',
    ],
)
def test_parse_etag_list_refuses_malformed(value):
    assert parse_etag_list(value) is None


opaques = st.text(ETAGC, max_size=12)
etags = st.builds(ETag, opaques, st.booleans())
separators = st.sampled_from([",", ", ", " ,", " , ", ",,", "\t,\t", ", ,"])
edges = st.sampled_from(["", " ", "\t", ", ", " ,"])


@settings(max_examples=60)
@given(st.lists(etags, min_size=1, max_size=6), st.data())
def test_etag_lists_round_trip(tags, data):
    value = data.draw(edges) + str(tags[0])
    for tag in tags[1:]:
        value += data.draw(separators) + str(tag)
    value += data.draw(edges)
    assert parse_etag_list(value) == tuple(tags)


@settings(max_examples=60)
@given(st.text(ETAGC[:94] + ' \t,*"/W', max_size=30))
@example('"a" "a"')
@example('"a", "a')
@example('*, "a"')
def test_a_malformed_list_never_matches(value):
    """Whatever the value, only a well-formed list containing the tag can match it."""
    members = parse_etag_list(value)
    tag = '"a"'
    for lm in (None, T):
        if_match = evaluate("PUT", [("If-Match", value)], etag=tag, last_modified=lm)
        if_none_match = evaluate("GET", [("If-None-Match", value)], etag=tag, last_modified=lm)
        if members is None:
            assert if_match is FAILED
            assert if_none_match is PROCEED
        elif members == "*":
            assert if_match is PROCEED
            assert if_none_match is NOT_MODIFIED
        else:
            matches = any(member.opaque == "a" for member in members)
            strong_matches = ETag("a") in members
            assert (if_match is PROCEED) is strong_matches
            assert (if_none_match is NOT_MODIFIED) is matches


def test_file_etag():
    tag = file_etag(1_700_000_000_123_456_789, 4096)
    assert tag == ETag("17979cfe3d85cd15-1000")
    assert not tag.weak
    assert file_etag(1_700_000_000_123_456_789, 4096, inode=255) == ETag("ff-17979cfe3d85cd15-1000")
    # A change of mtime or size changes the tag.
    assert file_etag(1_700_000_000_123_456_790, 4096) != tag
    assert file_etag(1_700_000_000_123_456_789, 4097) != tag
    assert parse_etag(str(tag)) == tag


def test_file_etag_is_weak_within_a_second_of_a_change():
    mtime_ns = 1_700_000_000_500_000_000
    assert file_etag(mtime_ns, 10, now=1_700_000_000.9).weak
    assert file_etag(mtime_ns, 10, now=1_700_000_001.4).weak
    assert not file_etag(mtime_ns, 10, now=1_700_000_001.6).weak
    assert file_etag(mtime_ns, 10, now=1_600_000_000).weak  # mtime in the future
    assert file_etag(mtime_ns, 10, now=1_700_000_001.6).opaque == file_etag(mtime_ns, 10).opaque


@pytest.mark.parametrize("args", [(-1, 0), (0, -1)])
def test_file_etag_refuses_negative_values(args):
    with pytest.raises(ValueError, match="negative"):
        file_etag(*args)
    with pytest.raises(ValueError, match="negative"):
        file_etag(0, 0, inode=-1)


def test_content_etag():
    tag = content_etag(b"hello")
    assert not tag.weak
    assert len(tag.opaque) == 32
    assert content_etag(bytearray(b"hello")) == tag == content_etag(memoryview(b"hello"))
    assert content_etag(b"hellp") != tag
    assert content_etag(b"") != tag


# HTTP-dates (§5.6.7)


def test_the_three_forms():
    assert parse_http_date(IMF) == T
    assert parse_http_date(RFC850) == T
    assert parse_http_date(ASCTIME) == T
    assert parse_http_date("Sun Nov 06 08:49:37 1994") == T  # date3 allows 2DIGIT
    assert parse_http_date(f" \t{IMF}\t ") == T
    # The standard library agrees on the canonical forms.
    for value in (IMF, RFC850, ASCTIME):
        assert email.utils.parsedate_to_datetime(value).timestamp() == T


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Wed, 31 Dec 1969 23:59:59 GMT", -1),
        ("Tue, 29 Feb 2000 12:00:00 GMT", 951825600),  # 2000 is a leap year
        ("Thu, 29 Feb 2024 00:00:00 GMT", 1709164800),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799),
        ("Sat, 01 Jan 0000 00:00:00 GMT", -62167219200),
        # A leap second: POSIX time has none, so it is the next second.
        ("Sat, 31 Dec 2016 23:59:60 GMT", 1483228800),
        # The day name is not checked against the date (robustness, §5.6.7).
        ("Mon, 06 Nov 1994 08:49:37 GMT", T),
        ("Mon Nov  6 08:49:37 1994", T),
        ("Thu Feb 29 00:00:00 2024", 1709164800),
    ],
)
def test_dates(value, expected):
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "784111777",
        "sun, 06 Nov 1994 08:49:37 GMT",  # names are case-sensitive
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun,  06 Nov 1994 08:49:37 GMT",
        "Sun 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:49:37.5 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        f"{IMF}, {IMF}",  # a list of dates
        f"{IMF}x",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 32 Jan 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",  # 1900 is not a leap year
        "Sun, 29 Feb 2023 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, \uff10\uff16 Nov 1994 08:49:37 GMT",  # fullwidth digits
        "Sun, 0\xb2 Nov 1994 08:49:37 GMT",  # superscript two
        "Sun, 06 Nov 1994 08:49:37 GMT\x00",
    ],
)
def test_invalid_dates(value):
    assert parse_http_date(value) is None


@pytest.mark.parametrize(
    ("now_year", "two_digits", "year"),
    [
        (2025, 94, 1994),
        (2025, 75, 2075),  # 50 years ahead: still in the future
        (2025, 76, 1976),  # 51 years ahead: "the most recent year in the past"
        (2025, 25, 2025),
        (2025, 0, 2000),
        (2070, 30, 2030),  # no longer 1930 once the century turned far enough
        (2070, 20, 2120),  # 50 years ahead
        (2070, 19, 2119),  # 49 years ahead; 2019 would be 51 years back
        (1999, 49, 2049),  # 50 years ahead rather than 50 back
        (1999, 50, 1950),
    ],
)
def test_rfc850_two_digit_years(now_year, two_digits, year):
    now = datetime.datetime(now_year, 6, 1, tzinfo=datetime.UTC).timestamp()
    value = f"Friday, 01-Jan-{two_digits:02d} 00:00:00 GMT"
    expected = datetime.datetime(year, 1, 1, tzinfo=datetime.UTC).timestamp()
    assert parse_http_date(value, now=now) == expected


def test_rfc850_two_digit_years_without_now_use_the_posix_pivot():
    assert parse_http_date("Friday, 01-Jan-69 00:00:00 GMT") == -31536000  # 1969
    assert parse_http_date("Friday, 01-Jan-68 00:00:00 GMT") == 3092601600  # 2068


def test_format_http_date():
    assert format_http_date(T) == IMF
    assert format_http_date(T + 0.999) == IMF  # a fraction is dropped
    assert format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert format_http_date(-0.5) == "Wed, 31 Dec 1969 23:59:59 GMT"
    assert format_http_date(253402300799) == "Fri, 31 Dec 9999 23:59:59 GMT"


@pytest.mark.parametrize(
    "timestamp",
    [float("nan"), float("inf"), float("-inf"), 253402300800, -62167219201, 10**400],
)
def test_format_http_date_refuses(timestamp):
    with pytest.raises(ValueError, match=r"HTTP-date|year"):
        format_http_date(timestamp)


DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MIN_TS = int(datetime.datetime(1, 1, 1, tzinfo=datetime.UTC).timestamp())
MAX_TS = int(datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC).timestamp())


@settings(max_examples=60)
@given(st.integers(MIN_TS, MAX_TS))
@example(0)
@example(951782400)  # 2000-02-29
@example(4107542400)  # 2100-03-01 (2100 is not a leap year)
def test_dates_round_trip_and_agree_with_datetime(timestamp):
    value = format_http_date(timestamp)
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    # strftime("%Y") gives "999", not "0999", on glibc, and names follow the locale:
    # spelled out instead.
    day, month = DAYS[moment.weekday()], MONTHS[moment.month - 1]
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    assert value == f"{day}, {moment.day:02d} {month} {moment.year:04d} {clock} GMT"
    assert parse_http_date(value) == timestamp
    assert parse_http_date(f"{day} {month} {moment.day:2d} {clock} {moment.year:04d}") == timestamp
    if 1976 <= moment.year <= 2075:  # the two-digit years as seen from 2025
        long_day = LONG_DAYS[moment.weekday()]
        rfc850 = f"{long_day}, {moment.day:02d}-{month}-{moment.year % 100:02d} {clock} GMT"
        assert parse_http_date(rfc850, now=1_750_000_000) == timestamp


@settings(max_examples=60)
@given(st.integers(0, 2**33))
def test_format_agrees_with_email_utils(timestamp):
    assert format_http_date(timestamp) == email.utils.formatdate(timestamp, usegmt=True)


@settings(max_examples=60)
@given(st.text(max_size=40))
def test_parse_http_date_never_raises(value):
    result = parse_http_date(value)
    assert result is None or isinstance(result, int)


def test_last_modified_seconds():
    assert last_modified_seconds(T + 0.7) == T
    assert last_modified_seconds(T + 0.7, now=T + 10) == T
    # RFC 9110 §8.8.2.1: never later than the Date.
    assert last_modified_seconds(T + 100.5, now=T + 10.2) == T + 10
    assert last_modified_seconds(-0.5) == -1


# Preconditions (§13.1, §13.2)


def test_no_preconditions_proceed():
    assert evaluate() is PROCEED
    assert evaluate("POST", [("Host", "example.com")]) is PROCEED
    assert evaluate(etag=None, last_modified=None, now=None) is PROCEED


def test_outcome_properties():
    assert (PROCEED.status, PROCEED.honour_range) == (None, True)
    assert (WITHOUT_RANGE.status, WITHOUT_RANGE.honour_range) == (None, False)
    assert (NOT_MODIFIED.status, NOT_MODIFIED.honour_range) == (304, False)
    assert (FAILED.status, FAILED.honour_range) == (412, False)


@pytest.mark.parametrize(
    ("value", "etag", "exists", "expected"),
    [
        ('"xyzzy"', '"xyzzy"', True, PROCEED),
        ('"other", "xyzzy"', '"xyzzy"', True, PROCEED),
        ('"other"', '"xyzzy"', True, FAILED),
        ('W/"xyzzy"', '"xyzzy"', True, FAILED),  # strong comparison
        ('"xyzzy"', 'W/"xyzzy"', True, FAILED),
        ('"xyzzy"', None, True, FAILED),
        ("*", '"xyzzy"', True, PROCEED),
        ("*", None, True, PROCEED),
        ("*", None, False, FAILED),
        ('"xyzzy"', None, False, FAILED),
        ("xyzzy", '"xyzzy"', True, FAILED),  # malformed: "Otherwise, the condition is false"
        ('"xyzzy" garbage', '"xyzzy"', True, FAILED),
    ],
)
def test_if_match(value, etag, exists, expected):
    for method in ("PUT", "GET", "DELETE"):
        outcome = evaluate(method, [("If-Match", value)], etag=etag, exists=exists)
        assert outcome is expected


def test_if_match_lines_form_one_list():
    headers = [("If-Match", '"a"'), ("If-Match", '"xyzzy"')]
    assert evaluate("PUT", headers) is PROCEED
    assert evaluate("PUT", [("If-Match", "*"), ("If-Match", '"xyzzy"')]) is FAILED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (IMF, PROCEED),  # modified at exactly that second: unmodified since
        (format_http_date(T + 1), PROCEED),
        (format_http_date(T - 1), FAILED),
        (RFC850, PROCEED),
        ("not a date", PROCEED),  # ignored
        (f"{IMF}, {format_http_date(T - 1)}", PROCEED),  # a list: ignored
    ],
)
def test_if_unmodified_since(value, expected):
    assert evaluate("PUT", [("If-Unmodified-Since", value)]) is expected
    assert evaluate("GET", [("If-Unmodified-Since", value)]) is expected


def test_if_unmodified_since_is_ignored_in_some_cases():
    earlier = format_http_date(T - 1)
    # §13.1.4: without a modification date.
    assert evaluate("PUT", [("If-Unmodified-Since", earlier)], last_modified=None) is PROCEED
    # §13.1.4: "field value appears to be a list of dates", here as two field lines.
    headers = [("If-Unmodified-Since", earlier), ("If-Unmodified-Since", earlier)]
    assert evaluate("PUT", headers) is PROCEED
    # §13.2.2 step 2: only without If-Match.
    headers = [("If-Match", '"xyzzy"'), ("If-Unmodified-Since", earlier)]
    assert evaluate("PUT", headers) is PROCEED


def test_if_unmodified_since_compares_whole_seconds():
    assert evaluate("PUT", [("If-Unmodified-Since", IMF)], last_modified=T + 0.9) is PROCEED


@pytest.mark.parametrize(
    ("value", "etag", "exists", "matches"),
    [
        ('"xyzzy"', '"xyzzy"', True, True),
        ('W/"xyzzy"', '"xyzzy"', True, True),  # weak comparison
        ('"xyzzy"', 'W/"xyzzy"', True, True),
        ('"a", W/"xyzzy", "b"', '"xyzzy"', True, True),
        ('"other"', '"xyzzy"', True, False),
        ('"xyzzy"', None, True, False),
        ("*", '"xyzzy"', True, True),
        ("*", None, True, True),
        ("*", None, False, False),
        ("xyzzy", '"xyzzy"', True, False),  # malformed: "Otherwise, the condition is true"
        ('"xyzzy"x', '"xyzzy"', True, False),
    ],
)
def test_if_none_match(value, etag, exists, matches):
    headers = [("If-None-Match", value)]
    for method in ("GET", "HEAD"):
        outcome = evaluate(method, headers, etag=etag, exists=exists)
        assert outcome is (NOT_MODIFIED if matches else PROCEED)
    for method in ("PUT", "POST", "DELETE"):
        outcome = evaluate(method, headers, etag=etag, exists=exists)
        assert outcome is (FAILED if matches else PROCEED)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (IMF, NOT_MODIFIED),
        (RFC850, NOT_MODIFIED),
        (ASCTIME, NOT_MODIFIED),
        (format_http_date(T + 60), NOT_MODIFIED),
        (format_http_date(T - 1), PROCEED),
        ("Sun, 06 Nov 1994 08:49:37 UTC", PROCEED),  # invalid: ignored
        ("", PROCEED),
        (f"{IMF}, {IMF}", PROCEED),  # more than one member: ignored
        (format_http_date(NOW + 1), PROCEED),  # later than now: ignored
        (format_http_date(NOW), NOT_MODIFIED),
    ],
)
def test_if_modified_since(value, expected):
    assert evaluate("GET", [("If-Modified-Since", value)]) is expected
    assert evaluate("HEAD", [("If-Modified-Since", value)]) is expected


def test_if_modified_since_is_ignored_in_some_cases():
    headers = [("If-Modified-Since", IMF)]
    # §13.1.3: "if the request method is neither GET nor HEAD".
    for method in ("POST", "PUT", "DELETE", "PATCH", "get"):
        assert evaluate(method, headers) is PROCEED
    # §13.1.3: without a modification date.
    assert evaluate("GET", headers, last_modified=None) is PROCEED
    # Two field lines: more than one member.
    assert evaluate("GET", headers * 2) is PROCEED
    # §13.2.2 step 4: only without If-None-Match, even one that does not match.
    assert evaluate("GET", [*headers, ("If-None-Match", '"other"')]) is PROCEED
    assert evaluate("GET", [*headers, ("If-None-Match", "garbage")]) is PROCEED


def test_if_modified_since_compares_whole_seconds():
    headers = [("If-Modified-Since", IMF)]
    assert evaluate("GET", headers, last_modified=T + 0.999) is NOT_MODIFIED
    assert evaluate("GET", headers, last_modified=T + 1) is PROCEED


def test_if_modified_since_without_now():
    headers = [("If-Modified-Since", format_http_date(NOW + 10**6))]
    assert evaluate("GET", headers, now=None) is NOT_MODIFIED


def test_a_last_modified_in_the_future_counts_as_now():
    # §8.8.2.1: the Last-Modified sent was the Date, so the client echoes that.
    headers = [("If-Modified-Since", format_http_date(NOW))]
    assert evaluate("GET", headers, last_modified=NOW + 3600) is NOT_MODIFIED
    assert evaluate("GET", headers, last_modified=NOW + 3600, now=None) is PROCEED


# §13.2.2: the order of evaluation.


def test_if_match_is_evaluated_before_if_none_match():
    headers = [("If-Match", '"other"'), ("If-None-Match", '"xyzzy"')]
    assert evaluate("GET", headers) is FAILED
    headers = [("If-Match", '"xyzzy"'), ("If-None-Match", '"xyzzy"')]
    assert evaluate("GET", headers) is NOT_MODIFIED
    assert evaluate("PUT", headers) is FAILED


def test_if_unmodified_since_is_evaluated_before_if_none_match():
    headers = [("If-Unmodified-Since", format_http_date(T - 1)), ("If-None-Match", '"xyzzy"')]
    assert evaluate("GET", headers) is FAILED


def test_if_unmodified_since_is_evaluated_before_if_modified_since():
    headers = [("If-Unmodified-Since", format_http_date(T - 1)), ("If-Modified-Since", IMF)]
    assert evaluate("GET", headers) is FAILED
    headers = [("If-Unmodified-Since", IMF), ("If-Modified-Since", IMF)]
    assert evaluate("GET", headers) is NOT_MODIFIED


def test_if_none_match_wins_over_if_modified_since():
    # An old date would say "modified", but If-None-Match alone decides.
    headers = [("If-None-Match", '"xyzzy"'), ("If-Modified-Since", format_http_date(T - 1))]
    assert evaluate("GET", headers) is NOT_MODIFIED


def test_not_modified_comes_before_if_range():
    headers = [("If-None-Match", '"xyzzy"'), ("Range", "bytes=0-1"), ("If-Range", '"xyzzy"')]
    assert evaluate("GET", headers) is NOT_MODIFIED


def test_methods_that_select_no_representation_ignore_preconditions():
    headers = [("If-Match", '"other"'), ("If-None-Match", '"xyzzy"')]
    for method in ("OPTIONS", "CONNECT", "TRACE"):
        assert evaluate(method, headers) is PROCEED
        assert evaluate(method, [*headers, ("Range", "bytes=0-1")]) is WITHOUT_RANGE


# Range and If-Range (§13.1.5, §13.2.2 step 5, §14.2)


def test_range_alone():
    assert evaluate("GET", [("Range", "bytes=0-1")]) is PROCEED
    # §14.2: GET is the only method with range handling.
    for method in ("HEAD", "POST", "PUT", "OPTIONS"):
        assert evaluate(method, [("Range", "bytes=0-1")]) is WITHOUT_RANGE
    # Range is not a list: two field lines are invalid.
    assert evaluate("GET", [("Range", "bytes=0-1"), ("Range", "bytes=2-3")]) is WITHOUT_RANGE


def test_if_range_without_range_is_ignored():
    assert evaluate("GET", [("If-Range", '"other"')]) is PROCEED


@pytest.mark.parametrize(
    ("if_range", "etag", "expected"),
    [
        ('"xyzzy"', '"xyzzy"', PROCEED),
        (' "xyzzy" ', '"xyzzy"', PROCEED),
        ('"other"', '"xyzzy"', WITHOUT_RANGE),
        ('W/"xyzzy"', '"xyzzy"', WITHOUT_RANGE),  # a weak validator never holds
        ('"xyzzy"', 'W/"xyzzy"', WITHOUT_RANGE),
        ('W/"xyzzy"', 'W/"xyzzy"', WITHOUT_RANGE),
        ('"xyzzy"', None, WITHOUT_RANGE),
        ('"xyzzy", "other"', '"xyzzy"', WITHOUT_RANGE),
        ("xyzzy", '"xyzzy"', WITHOUT_RANGE),
        ("*", '"xyzzy"', WITHOUT_RANGE),
        ("", '"xyzzy"', WITHOUT_RANGE),
    ],
)
def test_if_range_with_an_entity_tag(if_range, etag, expected):
    headers = [("Range", "bytes=0-1"), ("If-Range", if_range)]
    assert evaluate("GET", headers, etag=etag) is expected


@pytest.mark.parametrize(
    ("if_range", "last_modified", "now", "expected"),
    [
        (IMF, T, NOW, PROCEED),
        (RFC850, T, NOW, PROCEED),
        (ASCTIME, T + 0.5, NOW, PROCEED),
        (IMF, T, T + 1, PROCEED),  # a second old: strong (§8.8.2.2)
        (IMF, T, T + 1.9, PROCEED),
        (IMF, T, T + 0.9, WITHOUT_RANGE),  # the same second: weak
        (IMF, T, T, WITHOUT_RANGE),
        (IMF, T + 1, NOW, WITHOUT_RANGE),  # not exactly equal
        (IMF, T - 1, NOW, WITHOUT_RANGE),
        (IMF, T, None, WITHOUT_RANGE),  # cannot tell it is strong
        (IMF, None, NOW, WITHOUT_RANGE),
        ("Sun, 06 Nov 1994 08:49:37 UTC", T, NOW, WITHOUT_RANGE),
        (f"{IMF}, {IMF}", T, NOW, WITHOUT_RANGE),
    ],
)
def test_if_range_with_a_date(if_range, last_modified, now, expected):
    headers = [("Range", "bytes=0-1"), ("If-Range", if_range)]
    assert evaluate("GET", headers, last_modified=last_modified, now=now) is expected


def test_if_range_lines():
    headers = [("Range", "bytes=0-1"), ("If-Range", '"xyzzy"'), ("If-Range", '"xyzzy"')]
    assert evaluate("GET", headers) is WITHOUT_RANGE


def test_preconditions_and_range_together():
    headers = [("If-Match", '"xyzzy"'), ("Range", "bytes=0-1"), ("If-Range", '"xyzzy"')]
    assert evaluate("GET", headers) is PROCEED
    headers = [("If-Modified-Since", format_http_date(T - 1)), ("Range", "bytes=0-1")]
    assert evaluate("GET", headers) is PROCEED


def test_etag_argument():
    headers = [("If-None-Match", '"xyzzy"')]
    assert evaluate("GET", headers, etag=ETag("xyzzy")) is NOT_MODIFIED
    assert evaluate("GET", headers, etag=' W/"xyzzy" ') is NOT_MODIFIED
    with pytest.raises(ValueError, match="entity-tag"):
        evaluate("GET", headers, etag="xyzzy")


def test_headers_as_pairs():
    outcome = evaluate_preconditions("GET", [("if-none-match", '"a"')], etag='"a"')
    assert outcome is NOT_MODIFIED


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "If-Match",
                    "If-None-Match",
                    "If-Modified-Since",
                    "If-Unmodified-Since",
                    "If-Range",
                    "Range",
                    "X-Other",
                ]
            ),
            st.one_of(
                st.sampled_from([IMF, RFC850, ASCTIME, "*", '"xyzzy"', 'W/"xyzzy"', "bytes=0-1"]),
                st.text("".join(map(chr, range(0x20, 0x100))), max_size=20),
            ),
        ),
        max_size=6,
    ),
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "OPTIONS"]),
    st.one_of(st.none(), st.integers(0, 2 * NOW)),
    st.booleans(),
)
def test_evaluation_never_raises_and_respects_the_rules(fields, method, last_modified, exists):
    outcome = evaluate(method, fields, last_modified=last_modified, exists=exists)
    assert isinstance(outcome, Outcome)
    if outcome is NOT_MODIFIED:
        assert method in ("GET", "HEAD")
    if outcome is PROCEED and any(name == "Range" for name, _ in fields):
        assert method == "GET"
    if method == "OPTIONS":
        assert outcome in (PROCEED, WITHOUT_RANGE)


# 304 (§15.4.5)


def test_not_modified_headers():
    headers = Headers(
        [
            ("Content-Type", "text/html"),
            ("ETag", '"xyzzy"'),
            ("Content-Length", "1234"),
            ("cache-control", "max-age=60"),
            ("Vary", "Accept-Encoding"),
            ("Vary", "Accept-Language"),
            ("Last-Modified", IMF),
            ("Date", format_http_date(NOW)),
            ("Content-Location", "/index.html"),
            ("Expires", format_http_date(NOW + 60)),
            ("Set-Cookie", "a=b"),
            ("Content-Encoding", "gzip"),
        ]
    )
    assert not_modified_headers(headers).items() == [
        ("ETag", '"xyzzy"'),
        ("cache-control", "max-age=60"),
        ("Vary", "Accept-Encoding"),
        ("Vary", "Accept-Language"),
        ("Date", format_http_date(NOW)),
        ("Content-Location", "/index.html"),
        ("Expires", format_http_date(NOW + 60)),
    ]
    assert len(headers) == 12  # not modified


def test_not_modified_headers_keep_last_modified_without_an_etag():
    headers = [("Content-Type", "text/plain"), ("Last-Modified", IMF), ("Date", IMF)]
    assert not_modified_headers(headers).items() == [("Last-Modified", IMF), ("Date", IMF)]
    assert not_modified_headers([]).items() == []
