"""application/x-www-form-urlencoded: the WHATWG parser, FormData, limits and errors."""

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longwire.app import HTTPError
from longwire.app._forms import (
    DEFAULT_MAX_FIELDS,
    DEFAULT_MAX_URLENCODED_SIZE,
    FormData,
    FormError,
    FormTooLargeError,
    MalformedFormError,
    UnsupportedFormTypeError,
    UrlencodedParser,
    parse_urlencoded,
    strip_list_suffix,
)

# The WHATWG URL Standard's own test vectors (web-platform-tests,
# url/urlencoded-parser.any.js): input and the expected (name, value) list.
WPT_VECTORS = [
    ("test", [("test", "")]),
    ("\ufefftest=\ufeff", [("\ufefftest", "\ufeff")]),
    ("%EF%BB%BFtest=%EF%BB%BF", [("\ufefftest", "\ufeff")]),
    ("%EF%BF%BF=%EF%BF%BF", [("\uffff", "\uffff")]),
    ("%FE%FF", [("\ufffd\ufffd", "")]),
    ("%FF%FE", [("\ufffd\ufffd", "")]),
    ("†&†=x", [("†", ""), ("†", "x")]),
    ("%C2", [("\ufffd", "")]),
    ("%C2x", [("\ufffdx", "")]),
    ("_charset_=windows-1252&test=%C2x", [("_charset_", "windows-1252"), ("test", "\ufffdx")]),
    ("", []),
    ("a", [("a", "")]),
    ("a=b", [("a", "b")]),
    ("a=", [("a", "")]),
    ("=b", [("", "b")]),
    ("&", []),
    ("&a", [("a", "")]),
    ("a&", [("a", "")]),
    ("a&a", [("a", ""), ("a", "")]),
    ("a&b&c", [("a", ""), ("b", ""), ("c", "")]),
    ("a=b&c=d", [("a", "b"), ("c", "d")]),
    ("a=b&c=d&", [("a", "b"), ("c", "d")]),
    ("&&&a=b&&&&c=d&", [("a", "b"), ("c", "d")]),
    ("a=a&a=b&a=c", [("a", "a"), ("a", "b"), ("a", "c")]),
    ("a==a", [("a", "=a")]),
    ("a=a+b+c+d", [("a", "a b c d")]),
    ("%=a", [("%", "a")]),
    ("%a=a", [("%a", "a")]),
    ("%a_=a", [("%a_", "a")]),
    ("%61=a", [("a", "a")]),
    ("%61+%4d%4D=", [("a MM", "")]),
    ("id=0&value=%", [("id", "0"), ("value", "%")]),
    ("b=%2sf%2a", [("b", "%2sf*")]),
    ("b=%2%2af%2a", [("b", "%2*f*")]),
    ("b=%%2a", [("b", "%*")]),
]


@pytest.mark.parametrize(("body", "expected"), WPT_VECTORS)
def test_whatwg_vectors(body, expected):
    assert parse_urlencoded(body.encode("utf-8"), strip_brackets=False).items() == expected
    assert parse_urlencoded(body, strip_brackets=False).items() == expected


def test_plus_is_space_but_encoded_plus_is_plus():
    form = parse_urlencoded(b"q=1+1%3D2&op=%2B")
    assert form["q"] == "1 1=2"
    assert form["op"] == "+"


def test_raw_utf8_bytes_and_percent_escapes_decode_together():
    # curl --data sends raw bytes; an escape and a raw byte may even share one character.
    assert parse_urlencoded(b"name=caf\xc3\xa9&x=%C3\xa9")["name"] == "café"
    assert parse_urlencoded(b"x=%C3\xa9")["x"] == "é"


def test_invalid_utf8_is_replaced_not_an_error():
    assert parse_urlencoded(b"a=\xff\xfe&b=%ff")["a"] == "\ufffd\ufffd"
    assert parse_urlencoded(b"a=\xff\xfe&b=%ff")["b"] == "\ufffd"


def test_browser_form_submission():
    # What Chromium sends for <input name=user value="Ada L."><input name=note value="50% & more">.
    body = b"user=Ada+L.&note=50%25+%26+more&empty="
    form = parse_urlencoded(body)
    assert form.to_dict() == {"user": "Ada L.", "note": "50% & more", "empty": ""}


def test_semicolon_is_not_a_separator():
    # WHATWG (and Python since 3.10, bpo-42967): only "&" separates.
    assert parse_urlencoded(b"a=1;b=2").items() == [("a", "1;b=2")]


@given(st.text("ab=&+%2C3éF;\x00 ", max_size=40))
def test_matches_parse_qsl_on_text(text):
    # urllib's parse_qsl, with blank values kept, follows the same rules on text.
    expected = parse_qsl(text, keep_blank_values=True)
    assert parse_urlencoded(text, strip_brackets=False).items() == expected


texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=10)


@settings(max_examples=50)
@given(st.lists(st.tuples(texts, texts), max_size=8))
def test_round_trips_urlencode(pairs):
    # urlencode writes "name=value" for every pair, so none is empty and all survive.
    body = urlencode(pairs).encode("ascii")
    assert parse_urlencoded(body, strip_brackets=False).items() == pairs


@given(
    st.binary(max_size=200).map(lambda b: b.replace(b"\x00", b"&")),
    st.lists(st.integers(0, 200), max_size=8),
)
def test_incremental_feeding_matches_whole_parse(body, cuts):
    cuts = sorted(min(cut, len(body)) for cut in cuts)
    parser = UrlencodedParser()
    for start, stop in zip([0, *cuts], [*cuts, len(body)], strict=True):
        parser.feed(body[start:stop])
    assert parser.end() == parse_urlencoded(body)


# The [] convention


def test_bracket_suffix_is_stripped_by_default():
    form = parse_urlencoded(b"sub[]=1&sub[]=2&one=x")
    assert form.getall("sub") == ["1", "2"]
    assert form.getlist("sub") == ["1", "2"]
    assert form["sub"] == "1"
    assert "sub[]" not in form
    assert form.items() == [("sub", "1"), ("sub", "2"), ("one", "x")]


def test_bracketed_and_plain_names_merge():
    assert parse_urlencoded(b"sub=1&sub[]=2").getall("sub") == ["1", "2"]


def test_bracket_suffix_kept_on_request():
    form = parse_urlencoded(b"sub[]=1&sub[]=2", strip_brackets=False)
    assert form.getall("sub[]") == ["1", "2"]
    assert form.getall("sub") == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tags[]", "tags"),
        ("a[b]", "a[b]"),  # PHP's nested arrays are not interpreted
        ("a[b][]", "a[b]"),
        ("[]", "[]"),  # nothing would be left
        ("tags[][]", "tags[]"),  # only one suffix goes
        ("tags", "tags"),
        ("tags%5B%5D", "tags%5B%5D"),
    ],
)
def test_strip_list_suffix(name, expected):
    assert strip_list_suffix(name) == expected


def test_percent_encoded_brackets_are_stripped_after_decoding():
    # jQuery's $.param sends "sub%5B%5D=1".
    assert parse_urlencoded(b"sub%5B%5D=1&sub%5B%5D=2").getall("sub") == ["1", "2"]


# FormData


def test_formdata_mapping_behaviour():
    form = FormData([("a", "1"), ("b", "2"), ("a", "3")])
    assert list(form) == ["a", "b"]
    assert form.keys() == ["a", "b"]
    assert len(form) == 2
    assert form.values() == ["1", "2", "3"]
    assert form.items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert form.get("a") == "1"
    assert form.get("missing") is None
    assert form.get("missing", "default") == "default"
    assert form.getall("missing") == []
    assert "a" in form
    assert "missing" not in form
    assert 1 not in form
    assert form.to_dict() == {"a": "1", "b": "2"}
    assert form == FormData([("a", "1"), ("b", "2"), ("a", "3")])
    assert form != FormData([("a", "3"), ("b", "2"), ("a", "1")])
    assert form != [("a", "1")]
    assert bool(form)
    assert not FormData()
    assert repr(FormData([("a", "1")])) == "FormData([('a', '1')])"
    with pytest.raises(KeyError):
        form["missing"]
    with pytest.raises(TypeError):
        hash(form)


def test_formdata_results_are_copies():
    form = FormData([("a", "1")])
    form.getall("a").append("x")
    form.items().append(("b", "2"))
    assert form.items() == [("a", "1")]


# Limits and errors


def test_default_limits_are_documented_values():
    assert DEFAULT_MAX_FIELDS == 1000
    assert DEFAULT_MAX_URLENCODED_SIZE == 2 * 1024 * 1024
    parse_urlencoded(b"&".join([b"a=1"] * DEFAULT_MAX_FIELDS))
    with pytest.raises(FormTooLargeError):
        parse_urlencoded(b"&".join([b"a=1"] * (DEFAULT_MAX_FIELDS + 1)))


def test_max_fields_at_and_over_the_limit():
    assert len(parse_urlencoded(b"a&b&c", max_fields=3).items()) == 3
    with pytest.raises(FormTooLargeError) as caught:
        parse_urlencoded(b"a&b&c&d", max_fields=3)
    error = caught.value
    assert (error.status, error.limit, error.value) == (413, "max_fields", 3)
    assert error.detail == "more than 3 form fields"


def test_empty_pieces_do_not_count_as_fields():
    assert parse_urlencoded(b"&&&&a=1&&&&", max_fields=1).items() == [("a", "1")]


def test_max_fields_trips_while_feeding():
    parser = UrlencodedParser(max_fields=2)
    parser.feed(b"a=1&b=2&")
    with pytest.raises(FormTooLargeError):
        parser.feed(b"c=3&")


def test_max_size_at_and_over_the_limit():
    assert parse_urlencoded(b"a=12345", max_size=7)["a"] == "12345"
    with pytest.raises(FormTooLargeError) as caught:
        parse_urlencoded(b"a=123456", max_size=7)
    assert (caught.value.status, caught.value.limit, caught.value.value) == (413, "max_size", 7)


def test_max_size_counts_across_feeds():
    parser = UrlencodedParser(max_size=10)
    parser.feed(b"a=12345")
    with pytest.raises(FormTooLargeError):
        parser.feed(b"6789")


def test_zero_size_allows_only_an_empty_body():
    assert not parse_urlencoded(b"", max_size=0)
    with pytest.raises(FormTooLargeError):
        parse_urlencoded(b"a", max_size=0)


def test_none_disables_limits():
    body = b"&".join([b"k=v"] * 5000)
    assert len(parse_urlencoded(body, max_fields=None, max_size=None).items()) == 5000


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_invalid_limits_are_refused(bad):
    with pytest.raises(ValueError, match="max_fields"):
        UrlencodedParser(max_fields=bad)
    with pytest.raises(ValueError, match="max_size"):
        UrlencodedParser(max_size=bad)


def test_parser_misuse():
    parser = UrlencodedParser()
    parser.feed(b"a=1")
    parser.feed(b"")
    assert parser.end().items() == [("a", "1")]
    with pytest.raises(RuntimeError):
        parser.feed(b"b=2")
    with pytest.raises(RuntimeError):
        parser.end()


def test_long_field_fed_byte_by_byte_is_fast():
    parser = UrlencodedParser(max_size=None)
    for _ in range(100_000):
        parser.feed(b"x")
    assert len(parser.end().keys()[0]) == 100_000


def test_errors_are_http_errors_with_the_status_to_answer():
    for error, status in [
        (MalformedFormError("bad"), 400),
        (FormTooLargeError("big", limit="max_size", value=1), 413),
        (UnsupportedFormTypeError("json"), 415),
        (FormError("teapot", 418), 418),
    ]:
        assert isinstance(error, HTTPError)
        assert isinstance(error, FormError)
        assert error.status == status
        response = error.response()
        assert response.status == status
        assert response.body == error.detail.encode() + b"\n"
