"""Proactive negotiation: Accept, Accept-Language, -Charset, -Encoding (RFC 9110 §12)."""

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longwire.app._negotiation import (
    CACHE_MAX_LENGTH,
    MediaRange,
    Preference,
    add_vary,
    best_charset,
    best_encoding,
    best_language,
    best_media_type,
    charset_quality,
    encoding_quality,
    field_value,
    language_quality,
    media_type_quality,
    parse_accept,
    parse_accept_charset,
    parse_accept_encoding,
    parse_accept_language,
)
from longwire.http1 import Headers

# Accept (§12.5.1)

# RFC 9110 §12.5.1, Table 5. The last row reads 0.7 in the RFC; erratum 7138
# (verified) corrects it to 0.3: text/html;level=3 matches text/* only.
RFC_ACCEPT = (
    "text/*;q=0.3, text/plain;q=0.7, text/plain;format=flowed,"
    " text/plain;format=fixed;q=0.4, */*;q=0.5"
)


@pytest.mark.parametrize(
    ("media_type", "q"),
    [
        ("text/plain;format=flowed", 1.0),
        ("text/plain", 0.7),
        ("text/html", 0.3),
        ("image/jpeg", 0.5),
        ("text/plain;format=fixed", 0.4),
        ("text/html;level=3", 0.3),
    ],
)
def test_rfc_accept_quality_table(media_type, q):
    assert media_type_quality(media_type, RFC_ACCEPT) == q


def test_rfc_precedence_example():
    # §12.5.1: "text/*, text/plain, text/plain;format=flowed, */*" have the
    # precedence: text/plain;format=flowed, text/plain, text/*, */*.
    ranges = parse_accept("text/*, text/plain, text/plain;format=flowed, */*")
    assert ranges is not None
    ordered = sorted(ranges, key=lambda r: r.precedence, reverse=True)
    assert [(r.type, r.subtype, r.params) for r in ordered] == [
        ("text", "plain", (("format", "flowed"),)),
        ("text", "plain", ()),
        ("text", "*", ()),
        ("*", "*", ()),
    ]


def test_rfc_audio_example():
    # §12.5.1: "I prefer audio/basic, but send me any audio type if it is the best
    # available after an 80% markdown in quality".
    accept = "audio/*; q=0.2, audio/basic"
    assert media_type_quality("audio/basic", accept) == 1.0
    assert media_type_quality("audio/mpeg", accept) == 0.2
    assert media_type_quality("video/mp4", accept) == 0.0
    assert best_media_type(["audio/mpeg", "audio/basic"], accept) == "audio/basic"
    assert best_media_type(["video/mp4"], accept) is None


def test_rfc_plain_html_example():
    # §12.5.1: "text/html and text/x-c are the equally preferred media types, but
    # if they do not exist, then send the text/x-dvi representation, and if that
    # does not exist, send the text/plain representation".
    accept = "text/plain; q=0.5, text/html,\t text/x-dvi; q=0.8, text/x-c"
    assert best_media_type(["text/plain", "text/x-dvi", "text/x-c"], accept) == "text/x-c"
    assert best_media_type(["text/plain", "text/x-dvi"], accept) == "text/x-dvi"
    assert best_media_type(["text/x-c", "text/html"], accept) == "text/x-c"  # a tie: ours
    assert best_media_type(["text/html", "text/x-c"], accept) == "text/html"


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.mark.parametrize(
    ("offers", "accept", "expected"),
    [
        (["application/json", "text/html"], BROWSER, "text/html"),
        (["application/json", "application/xml"], BROWSER, "application/xml"),
        (["application/json", "image/png"], BROWSER, "application/json"),  # tie at 0.8
        (["application/json", "text/html"], "*/*", "application/json"),
        (["application/json", "text/html"], None, "application/json"),  # absent
        (["application/json", "text/html"], "", "application/json"),  # empty: absent
        (["application/json", "text/html"], "garbage, ;;", "application/json"),  # malformed
        (["application/json"], "text/html", None),  # nothing acceptable
        (["application/json"], "application/json;q=0", None),  # q=0: not acceptable
        (["application/json"], "*/*, application/json;q=0", None),  # specific wins
        (["text/html"], "text/*;q=0, text/html;q=0.1", "text/html"),
        (["text/html", "text/plain"], "text/*;q=0, text/html;q=0.1", "text/html"),
        (["text/plain", "text/html"], "text/*;q=0, text/html;q=0.1", "text/html"),
        ([], "text/html", None),
        ([], None, None),
        (["TEXT/HTML"], "text/html", "TEXT/HTML"),  # case-insensitive, offer as given
        (["text/html"], "Text/HTML", "text/html"),
    ],
)
def test_best_media_type(offers, accept, expected):
    assert best_media_type(offers, accept) == expected


def test_media_type_parameters():
    accept = 'text/html;level=1, text/html;charset="UTF-8";q=0.5'
    # A range with parameters needs them in the offer, with equal values.
    assert media_type_quality("text/html", accept) == 0.0
    assert media_type_quality("text/html;level=1", accept) == 1.0
    assert media_type_quality("text/html; Level=1", accept) == 1.0  # names: any case
    assert media_type_quality("text/html;level=2", accept) == 0.0
    # charset values are case-insensitive; the token and quoted forms are equal.
    assert media_type_quality("text/html; charset=utf-8", accept) == 0.5
    assert media_type_quality('text/html; charset="utf-8"', accept) == 0.5
    # More parameters, more specific (§12.5.1).
    accept = "text/plain;a=1;q=0.2, text/plain;q=0.9"
    assert media_type_quality("text/plain;a=1", accept) == 0.2
    assert media_type_quality("text/plain;a=2", accept) == 0.9
    # Equally specific matches: the higher qvalue.
    accept = "text/plain;a=1;q=0.2, text/plain;b=2;q=0.6"
    assert media_type_quality("text/plain;a=1;b=2", accept) == 0.6


def test_accept_parsing_details():
    assert parse_accept('text/html;a="x,y\\"z";q=0.5, application/json') == (
        MediaRange("text", "html", (("a", 'x,y"z'),), 0.5),
        MediaRange("application", "json"),
    )
    # Empty parameters are allowed (§5.6.6), and OWS around ";".
    assert parse_accept("text/html ; ; q=0.5 ;") == (MediaRange("text", "html", (), 0.5),)
    # Q is a weight too (ABNF strings are case-insensitive); after it, accept-ext
    # (RFC 7231) are ignored.
    assert parse_accept("text/html;Q=0.5;ext=1") == (MediaRange("text", "html", (), 0.5),)
    # An unterminated quote spoils its element, and the rest of the value with it.
    assert parse_accept('text/html;a="x, application/json') is None
    assert parse_accept('application/json, text/html;a="x') == (MediaRange("application", "json"),)


@pytest.mark.parametrize(
    "element",
    [
        "*/html",  # not a media-range
        "text",
        "text/",
        "/html",
        "text/html/x",
        "text/html;a",  # a parameter without "="
        "text/html;a=",
        "text/html;a= b",
        "text/html;a =b",
        "text /html",
        "text/html;q=2",
        "text/html;q=1.5",
        "text/html;q=1.001",
        "text/html;q=0.1234",
        "text/html;q=-1",
        "text/html;q=.5",
        "text/html;q=high",
        'text/html;q="0.5"',
        "text/html;q=",
        "t\xe9xt/html",
    ],
)
def test_malformed_accept_elements_are_skipped(element):
    assert parse_accept(element) is None
    assert parse_accept(f"{element}, application/json") == (MediaRange("application", "json"),)


@pytest.mark.parametrize(
    ("weight", "q"),
    [
        ("q=0", 0.0),
        ("q=0.", 0.0),
        ("q=0.5", 0.5),
        ("q=0.123", 0.123),
        ("q=0.000", 0.0),
        ("q=1", 1.0),
        ("q=1.", 1.0),
        ("q=1.000", 1.0),
        ("Q=0.25", 0.25),
    ],
)
def test_valid_qvalues(weight, q):
    assert parse_accept(f"text/html;{weight}") == (MediaRange("text", "html", (), q),)
    assert parse_accept_encoding(f"gzip; {weight}") == (Preference("gzip", q),)


@pytest.mark.parametrize("offer", ["text/*", "*/*", "text", "", "text/html;q", "a b/c"])
def test_invalid_media_type_offers(offer):
    with pytest.raises(ValueError, match="not a media type"):
        best_media_type([offer], "text/html")
    with pytest.raises(ValueError, match="not a media type"):
        best_media_type([offer], None)
    with pytest.raises(ValueError, match="not a media type"):
        media_type_quality(offer, None)


def test_parsing_is_cached_and_long_values_still_work():
    value = "text/html, application/json;q=0.5"
    assert parse_accept(value) is parse_accept(value)
    long_value = ", ".join(f"text/x-{i};q=0.5" for i in range(200)) + ", text/html"
    assert len(long_value) > CACHE_MAX_LENGTH
    assert best_media_type(["text/x-7", "text/html"], long_value) == "text/html"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('"\\' * 40_000, id="open-quoted-pairs"),
        pytest.param('"' + "a," * 40_000, id="open-quote"),
        pytest.param("text/html;" + "a=b;" * 20_000, id="many-parameters"),
        pytest.param("text/html;" + " " * 80_000, id="spaces"),
        pytest.param(",;" * 40_000, id="separators"),
        pytest.param("q" * 80_000, id="long-token"),
    ],
)
def test_hostile_values_parse_in_linear_time(value):
    start = time.perf_counter()
    parse_accept(value)
    parse_accept_encoding(value)
    parse_accept_language(value)
    assert time.perf_counter() - start < 0.5


# Accept-Language (§12.5.4, RFC 4647 §3.3.1)


@pytest.mark.parametrize(
    ("offers", "header", "expected"),
    [
        (["en-GB", "fr", "de"], "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
        (["en-GB", "de"], "de;q=0.5, en", "en-GB"),  # "en" matches en-GB (prefix)
        (["en"], "en-GB", None),  # but not the other way round
        (["en-GB"], "en-gb", "en-GB"),  # case-insensitive
        (["eng"], "en", None),  # a prefix ends at "-"
        (["de", "en-US"], "*", "de"),
        (["en-GB", "en-US"], "en, en-GB;q=0", "en-US"),  # the longer range wins
        (["en-GB"], "en, en-GB;q=0", None),
        (["fr", "de"], "en", None),
        (["fr", "de"], None, "fr"),
        (["fr", "de"], "", "fr"),
        (["fr", "de"], "en_US, 123", "fr"),  # malformed: absent
        (["fr", "de"], "en_US, de", "de"),
        (["zh-Hant-TW"], "zh-Hant", "zh-Hant-TW"),
        (["x"], "en-abcdefghi", "x"),  # subtag too long: malformed
    ],
)
def test_best_language(offers, header, expected):
    assert best_language(offers, header) == expected


def test_language_quality():
    header = "da, en-gb;q=0.8, en;q=0.7"  # RFC 9110 §12.5.4's example
    assert language_quality("da", header) == 1.0
    assert language_quality("en-GB", header) == 0.8
    assert language_quality("en-US", header) == 0.7
    assert language_quality("fr", header) == 0.0
    assert language_quality("fr", None) == 1.0
    assert parse_accept_language(header) == (
        Preference("da"),
        Preference("en-gb", 0.8),
        Preference("en", 0.7),
    )
    with pytest.raises(ValueError, match="not a language tag"):
        language_quality("en_GB", header)
    with pytest.raises(ValueError, match="not a language tag"):
        best_language(["*"], header)


# Accept-Charset (§12.5.2)


def test_charsets():
    header = "iso-8859-5, unicode-1-1;q=0.8"  # RFC 9110 §12.5.2's example
    assert best_charset(["utf-8", "unicode-1-1"], header) == "unicode-1-1"
    assert best_charset(["utf-8"], header) is None
    assert best_charset(["ISO-8859-5", "unicode-1-1"], header) == "ISO-8859-5"
    assert best_charset(["utf-8", "iso-8859-1"], "*;q=0.5, utf-8;q=0") == "iso-8859-1"
    assert best_charset(["utf-8"], None) == "utf-8"
    assert best_charset([], None) is None
    assert charset_quality("utf-8", "*") == 1.0
    assert charset_quality("utf-8", "latin1;q=0.2") == 0.0
    assert parse_accept_charset("UTF-8;q=0.5, bad value") == (Preference("utf-8", 0.5),)
    with pytest.raises(ValueError, match="not a charset"):
        best_charset(["utf 8"], header)


# Accept-Encoding (§12.5.3)


OFFERS = ["br", "gzip", "deflate"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # The five examples of §12.5.3.
        ("compress, gzip", "gzip"),
        ("", "identity"),  # "does not want any content coding"
        ("*", "br"),
        ("compress;q=0.5, gzip;q=1.0", "gzip"),
        ("gzip;q=1.0, identity; q=0.5, *;q=0", "gzip"),
        # Absent, or no valid element: identity (see best_encoding's docstring).
        (None, "identity"),
        ("@@@, g zip", "identity"),
        (" , ,", "identity"),  # empty elements only: an empty list
        # Ties: the server's order.
        ("gzip, deflate, br", "br"),
        ("deflate, gzip", "gzip"),
        ("gzip;q=0.8, deflate;q=0.9", "deflate"),
        ("x-gzip", "gzip"),  # §8.4.1.3
        ("GZip", "gzip"),
        ("gzip;q=0", "identity"),
        ("gzip;q=0.5", "gzip"),  # identity by default ranks below listed codings
        ("gzip;q=0.5, identity", "identity"),  # unless the client says otherwise
        ("gzip, identity", "gzip"),  # equal: a coding wins
        ("br;q=0.1, *;q=0.5", "gzip"),  # * covers what is not listed
        # identity refused, nothing else acceptable: None.
        ("identity;q=0", None),
        ("*;q=0", None),
        ("compress, identity;q=0", None),
        ("*;q=0, identity", "identity"),  # "a more specific entry for identity"
        ("*;q=0, gzip", "gzip"),
        ("gzip;q=0.2, gzip;q=0.8, br;q=0.5", "gzip"),  # duplicates: the higher q
        ("gzip;q=2, deflate", "deflate"),  # invalid qvalue: element skipped
        ("gzip;level=1, deflate", "deflate"),  # no parameters but q
    ],
)
def test_best_encoding(header, expected):
    assert best_encoding(OFFERS, header) == expected


def test_encoding_quality():
    header = "gzip;q=1.0, identity; q=0.5, *;q=0"
    assert encoding_quality("gzip", header) == 1.0
    assert encoding_quality("x-gzip", header) == 1.0
    assert encoding_quality("identity", header) == 0.5
    assert encoding_quality("br", header) == 0.0
    assert encoding_quality("br", None) == 1.0
    assert encoding_quality("br", "") == 0.0
    assert encoding_quality("identity", "") > 0.0
    assert 0.0 < encoding_quality("identity", "gzip") < 0.001
    assert encoding_quality("identity", "*;q=0") == 0.0
    assert parse_accept_encoding("") == ()
    assert parse_accept_encoding("x-gzip;q=0.5, X-Compress") == (
        Preference("gzip", 0.5),
        Preference("compress"),
    )
    for bad in ("*", "a b", ""):
        with pytest.raises(ValueError, match="not a content coding"):
            encoding_quality(bad, None)
        with pytest.raises(ValueError, match="not a content coding"):
            best_encoding([bad], None)


# field_value and Vary


def test_field_value():
    headers = Headers([("Accept", "text/html"), ("Host", "x"), ("accept", "*/*;q=0.1")])
    assert field_value(headers, "ACCEPT") == "text/html, */*;q=0.1"
    assert field_value(headers, "Host") == "x"
    assert field_value(headers, "Accept-Encoding") is None
    assert field_value([("Accept-Encoding", "")], "accept-encoding") == ""


@pytest.mark.parametrize(
    ("existing", "names", "expected"),
    [
        ([], ("Accept-Encoding",), ["Accept-Encoding"]),
        (["Origin"], ("Accept-Encoding",), ["Origin, Accept-Encoding"]),
        (["Origin", "Cookie"], ("Accept-Encoding",), ["Origin, Cookie, Accept-Encoding"]),
        (["accept-encoding"], ("Accept-Encoding",), ["accept-encoding"]),
        (["Origin, accept-encoding"], ("Accept-Encoding",), ["Origin, accept-encoding"]),
        (["*"], ("Accept-Encoding",), ["*"]),
        (["Origin", "*"], ("Accept-Encoding",), ["*"]),
        (["Origin"], ("*",), ["*"]),
        ([" , "], ("Accept",), ["Accept"]),
        ([], ("Accept", "Accept-Language", "accept"), ["Accept, Accept-Language"]),
    ],
)
def test_add_vary(existing, names, expected):
    headers = Headers([("Content-Type", "text/html"), *(("Vary", value) for value in existing)])
    add_vary(headers, *names)
    assert headers.get_all("vary") == expected
    assert headers.get("content-type") == "text/html"


def test_add_vary_checks_names():
    with pytest.raises(ValueError, match="not a field name"):
        add_vary(Headers(), "Accept Encoding")


# Properties

field_text = st.text(st.characters(max_codepoint=0xFF), max_size=80) | st.lists(
    st.sampled_from(
        [
            "gzip",
            "br",
            "*",
            "identity",
            ";q=0",
            ";q=0.5",
            ";q=1",
            ",",
            " ",
            '"',
            "\\",
            "text/html",
            "*/*",
            "text/*",
            ";a=1",
            "en",
            "en-GB",
            "=",
            ";",
        ]
    ),
    max_size=12,
).map("".join)


@given(field_text)
def test_parsers_never_raise(value):
    for parse in (parse_accept, parse_accept_language, parse_accept_charset, parse_accept_encoding):
        result = parse(value)
        assert result is None or isinstance(result, tuple)
        for element in result or ():
            assert 0.0 <= element.q <= 1.0


@given(field_text, st.permutations(["text/html", "application/json", "text/plain", "image/png"]))
def test_best_media_type_has_the_highest_quality(accept, offers):
    chosen = best_media_type(offers, accept)
    qualities = [media_type_quality(offer, accept) for offer in offers]
    if chosen is None:
        assert max(qualities) == 0.0
    else:
        assert media_type_quality(chosen, accept) == max(qualities) > 0.0
        # The earliest of the best.
        assert offers.index(chosen) == qualities.index(max(qualities))


@given(field_text, st.permutations(["br", "gzip", "deflate"]))
def test_best_encoding_is_acceptable(accept_encoding, offers):
    chosen = best_encoding(offers, accept_encoding)
    if chosen is None:
        assert encoding_quality("identity", accept_encoding) == 0.0
        assert all(encoding_quality(offer, accept_encoding) == 0.0 for offer in offers)
    else:
        q = encoding_quality(chosen, accept_encoding)
        assert q > 0.0
        assert all(encoding_quality(offer, accept_encoding) <= q for offer in offers)
